import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { openStore } from "./store.js";
import { tempDir } from "./test-helpers.js";
import { AWS_KMS_PRICES, buildUsageReport } from "./usage-report.js";

let cleanup: (() => void) | undefined;
afterEach(() => cleanup?.());

const DAY = 86_400_000;

describe("usage report", () => {
  it("prorates key-months, bills the first two rotations, and charges requests past the free tier", () => {
    const t = tempDir();
    cleanup = t.cleanup;
    const db = openStore(join(t.dir, "kms.db"));
    const april = Date.UTC(2026, 3, 1);
    const history = db.prepare(
      "INSERT INTO key_history (key_id, version, kind, created_at, destroyed_at) VALUES (?, ?, ?, ?, ?)",
    );
    // A customer key all month with three rotations (only two billed), one created half way, one destroyed
    // after 10 days, one destroyed before the month, an AWS managed key, and a service owned key (never counted).
    history.run("a", 1, "customer", april - 40 * DAY, null);
    history.run("a", 2, "customer", april - 20 * DAY, null);
    history.run("a", 3, "customer", april - 10 * DAY, null);
    history.run("a", 4, "customer", april - 5 * DAY, null);
    history.run("b", 1, "customer", april + 15 * DAY, null);
    history.run("c", 1, "customer", april - 5 * DAY, april + 10 * DAY);
    history.run("d", 1, "customer", april - 50 * DAY, april - 1);
    history.run("s", 1, "aws", april - 50 * DAY, null);
    history.run("o", 1, "owned", april - 50 * DAY, null);
    const usage = db.prepare(
      "INSERT INTO usage (key_id, operation, month, count, last_used) VALUES (?, ?, ?, ?, ?)",
    );
    usage.run("a", "Encrypt", "2026-04", 40_000, april + DAY);
    usage.run("a", "Decrypt", "2026-04", 10_000, april + DAY);
    usage.run("", "CreateKey", "2026-04", 7, april + DAY);
    usage.run("a", "Encrypt", "2026-03", 99_999, april - DAY);
    const report = buildUsageReport(db, "2026-04", Date.UTC(2026, 5, 1), "us-east-1");
    db.close();
    expect(report.Partial).toBe(false);
    expect(report.Keys.CustomerManaged.Count).toBe(3);
    expect(report.Keys.CustomerManaged.KeyMonths).toBeCloseTo(1 + 15 / 30 + 10 / 30, 5);
    expect(report.Keys.CustomerManaged.RotationKeyMonths).toBeCloseTo(2, 5);
    expect(report.Keys.AwsManaged).toEqual({ Count: 1, KeyMonths: 1 });
    expect(report.Requests).toMatchObject({ Symmetric: 50_000, Free: 7, Total: 50_007 });
    expect(report.EstimatedCostUsd.Requests).toBeCloseTo(
      (30_000 / 10_000) * AWS_KMS_PRICES.symmetricRequestsPer10kUsd,
      6,
    );
    expect(report.EstimatedCostUsd.Keys).toBeCloseTo(1 + 0.5 + 1 / 3, 5);
    expect(report.EstimatedCostUsd.Rotations).toBeCloseTo(2, 5);
    expect(report.EstimatedCostUsd.Total).toBeCloseTo(1 + 0.5 + 1 / 3 + 2 + 0.09, 5);
  });

  it("counts a month in progress up to now and refuses malformed months", () => {
    const t = tempDir();
    cleanup = t.cleanup;
    const db = openStore(join(t.dir, "kms.db"));
    db.prepare(
      "INSERT INTO key_history (key_id, version, kind, created_at) VALUES ('a', 1, 'customer', ?)",
    ).run(Date.UTC(2026, 0, 1));
    const report = buildUsageReport(db, "2026-04", Date.UTC(2026, 3, 16), "us-east-1");
    expect(report.Partial).toBe(true);
    expect(report.Keys.CustomerManaged.KeyMonths).toBeCloseTo(0.5, 5);
    for (const bad of ["2026-4", "2026-00", "26-04", 202604]) {
      expect(() => buildUsageReport(db, bad, Date.now(), "us-east-1")).toThrow(RangeError);
    }
    db.close();
  });
});
