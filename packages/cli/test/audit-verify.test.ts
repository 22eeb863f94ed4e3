// sealkit audit verify is read-only (it never signs the tail it finds, and runs beside the server), takes a public key
// and digests kept outside the data dir, and `audit digests` prints what to keep.

import { readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, describe, expect, it } from "vitest";
import { auditDigestCount, ok, run, startServe, tempDir } from "./helpers.js";

const t = tempDir();
afterAll(() => t.cleanup());
const cwd = t.dir;
const dataDir = join(cwd, "kms");
const dd = ["--data-dir", dataDir];
const auditDb = join(dataDir, "audit.db");

const digestCount = () => auditDigestCount(auditDb);

describe("sealkit audit verify and digests", () => {
  it("verifies beside a running server, and writes nothing: a tail of unsigned events stays unsigned", async () => {
    await ok(["keys", "create", "--alias", "alias/a", ...dd], { cwd });
    const serve = await startServe([...dd, "--allow-unsigned-as", "arn:aws:iam::111122223333:root"], { cwd });
    const answer = await fetch(`${serve.url}/`, {
      method: "POST",
      headers: { "content-type": "application/x-amz-json-1.1", "x-amz-target": "TrentService.ListKeys" },
      body: "{}",
    });
    expect(answer.status).toBe(200);
    // The server holds the data dir; verify reads audit.db on its own.
    const beside = await run(["audit", "verify", "--json", ...dd], { cwd });
    expect(beside.code, beside.stderr).toBe(0);
    // Killed: no closing digest, so the ListKeys event is after the last digest.
    serve.child.kill("SIGKILL");
    await serve.closed;
    const digests = digestCount();
    const size = statSync(auditDb).size;
    for (let i = 0; i < 2; i++) {
      const report = JSON.parse((await ok(["audit", "verify", "--json", ...dd], { cwd })).out);
      expect(report.ok).toBe(true);
      expect(report.eventsAfterLastDigest).toBeGreaterThan(0);
    }
    // Before, verify opened the local KMS, whose close signed a digest over whatever tail it found.
    expect(digestCount()).toBe(digests);
    expect(statSync(auditDb).size).toBe(size);
  });

  it("with digests kept outside, catches the newest digest deleted with its events; with a kept key, a replaced one", async () => {
    await ok(["keys", "create", "--alias", "alias/b", ...dd], { cwd });
    const printed = await ok(["audit", "digests", ...dd], { cwd });
    const kept = JSON.parse(printed.out) as { lastSequence: number; digestNumber: number }[];
    expect(kept.length).toBe(digestCount());
    writeFileSync(join(cwd, "kept-digests.json"), printed.out);
    writeFileSync(join(cwd, "kept.pub"), readFileSync(join(dataDir, "audit-signing.key.pub")));
    // Someone with write access removes the newest digest and the events it covered.
    const last = kept.at(-1)!;
    const previous = kept.at(-2)!;
    const db = new Database(auditDb);
    db.prepare("DELETE FROM audit_digests WHERE digest_number = ?").run(last.digestNumber);
    db.prepare("DELETE FROM audit_events WHERE sequence > ?").run(previous.lastSequence);
    db.close();
    // The log alone still looks whole.
    expect((await run(["audit", "verify", ...dd], { cwd })).code).toBe(0);
    const caught = await run(["audit", "verify", "--known-digests", "kept-digests.json", ...dd], { cwd });
    expect(caught.code).toBe(3);
    expect(caught.out).toMatch(/FAILED/);
    expect(caught.out).toMatch(/known digests:\s+\d+/);
    // A public key kept elsewhere: the data dir's own cannot vouch for itself.
    const own = await ok(["audit", "verify", ...dd], { cwd });
    expect(own.out).toMatch(/the data dir's own: keep a copy elsewhere/);
    const other = await run(["audit", "verify", "--public-key", join(cwd, "nope.pub"), ...dd], { cwd });
    expect(other.code).toBe(5);
  });

  it("refuses --endpoint, a digests file that is not the printed array, and a data dir without a log", async () => {
    const endpoint = await run(["audit", "digests", "--endpoint", "http://127.0.0.1:1"], { cwd });
    expect(endpoint.code).toBe(2);
    writeFileSync(join(cwd, "bad.json"), '{"digests": 1}');
    const bad = await run(["audit", "verify", "--known-digests", "bad.json", ...dd], { cwd });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/expected the JSON array of digests/);
    const empty = await run(["audit", "verify", "--data-dir", join(cwd, "nothing")], { cwd });
    expect(empty.code).toBe(5);
  });
});
