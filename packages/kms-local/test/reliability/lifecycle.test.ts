// Opening and closing under load and in a loop, and a clock that jumps: callers racing close() get a result that holds
// or a typed error, open/close leaks no file descriptors or threads, and a clock going backwards or jumping forward
// neither loses nor repeats rotations and deletions, and leaves an audit log that verifies.

import { readdirSync, readlinkSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { KmsError } from "../../src/errors.js";
import { LocalKms } from "../../src/local-kms.js";
import { ROOT, tempDir } from "../../src/test-helpers.js";

const cleanups: (() => void)[] = [];
afterAll(() => {
  for (const cleanup of cleanups) cleanup();
});
function dir(): string {
  const { dir, cleanup } = tempDir();
  cleanups.push(cleanup);
  return join(dir, "data");
}

const DAY = 86_400_000;

/** Open file descriptors of this process, by what they point at. */
function openFiles(): string[] {
  return readdirSync("/proc/self/fd").map((fd) => {
    try {
      return readlinkSync(`/proc/self/fd/${fd}`);
    } catch {
      return "(closed meanwhile)";
    }
  });
}
const threads = () => readdirSync("/proc/self/task").length;

describe("close() with callers in flight", { timeout: 60_000 }, () => {
  it("answers every call with a result that holds after a restart, or KMSInternalException: never another error", async () => {
    const dataDir = dir();
    const kms = await LocalKms.open({ dataDir });
    const keys: string[] = [];
    for (let i = 0; i < 4; i++) keys.push((await kms.createKey(ROOT, {})).KeyMetadata.KeyId);
    const blob = (await kms.encrypt(ROOT, { KeyId: keys[0]!, Plaintext: new Uint8Array([5]) }))
      .CiphertextBlob;
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on("unhandledRejection", onUnhandled);
    type Outcome = { kind: string; value?: unknown; error?: unknown };
    const calls: Promise<Outcome>[] = [];
    const settle = (kind: string, p: Promise<unknown>) =>
      calls.push(
        p.then(
          (value) => ({ kind, value }),
          (error: unknown) => ({ kind, error }),
        ),
      );
    let closing: Promise<void> | undefined;
    for (let i = 0; i < 600; i++) {
      const keyId = keys[i % keys.length]!;
      switch (i % 6) {
        case 0:
          settle("CreateKey", kms.createKey(ROOT, {}));
          break;
        case 1:
          settle("Encrypt", kms.encrypt(ROOT, { KeyId: keyId, Plaintext: new Uint8Array([i & 0xff]) }));
          break;
        case 2:
          settle("GenerateDataKey", kms.generateDataKey(ROOT, { KeyId: keyId, KeySpec: "AES_256" }));
          break;
        case 3:
          settle("Decrypt", kms.decrypt(ROOT, { CiphertextBlob: blob }));
          break;
        case 4:
          settle("RotateKeyOnDemand", kms.rotateKeyOnDemand(ROOT, { KeyId: keyId }));
          break;
        default:
          settle("DescribeKey", kms.describeKey(ROOT, { KeyId: keyId }));
      }
      if (i === 300) closing = kms.close();
      // Let some calls get going between the ones issued, so close() meets calls at every stage.
      if (i % 50 === 0) await new Promise((resolve) => setImmediate(resolve));
    }
    const outcomes = await Promise.all(calls);
    await closing;
    await kms.close(); // a second close is a no-op
    process.off("unhandledRejection", onUnhandled);
    expect(unhandled).toEqual([]);

    const refused = outcomes.filter((o) => o.error !== undefined);
    for (const o of refused) {
      const rotationQuota =
        KmsError.isInstance(o.error, "LimitExceededException") && o.kind === "RotateKeyOnDemand";
      expect(
        KmsError.isInstance(o.error, "KMSInternalException") || rotationQuota,
        `${o.kind}: ${String(o.error)}`,
      ).toBe(true);
      if (!rotationQuota) expect(String((o.error as Error).message)).toContain("closed");
    }
    const answered = outcomes.filter((o) => o.error === undefined);
    expect(answered.length).toBeGreaterThan(0);
    expect(refused.length).toBeGreaterThan(0);

    // Everything answered holds after a restart: keys exist, ciphertexts and data keys open to what was returned.
    const reopened = await LocalKms.open({ dataDir });
    try {
      const listed = new Set((await reopened.listKeys(ROOT, { Limit: 1000 })).Keys.map((k) => k.KeyId));
      for (const o of answered) {
        if (o.kind === "CreateKey") {
          expect(listed.has((o.value as { KeyMetadata: { KeyId: string } }).KeyMetadata.KeyId)).toBe(true);
        } else if (o.kind === "GenerateDataKey") {
          const { Plaintext, CiphertextBlob } = o.value as {
            Plaintext: Uint8Array;
            CiphertextBlob: Uint8Array;
          };
          expect([...(await reopened.decrypt(ROOT, { CiphertextBlob })).Plaintext]).toEqual([...Plaintext]);
        } else if (o.kind === "Encrypt") {
          const { CiphertextBlob } = o.value as { CiphertextBlob: Uint8Array };
          expect((await reopened.decrypt(ROOT, { CiphertextBlob })).Plaintext).toHaveLength(1);
        }
      }
      const report = await reopened.auditLog!.verify();
      expect(report.ok, JSON.stringify(report.problems)).toBe(true);
      // Every answered call was audited before its answer; refused ones after close were not performed.
      const audited = reopened.auditLog!.query({ limit: 100_000 });
      expect(audited.length).toBeGreaterThanOrEqual(answered.length);
    } finally {
      await reopened.close();
    }
  });
});

describe("open and close in a loop", { timeout: 120_000 }, () => {
  it("leaks no file descriptors or threads over 40 rounds", async () => {
    const dataDir = dir();
    const round = async (i: number) => {
      const kms = await LocalKms.open({ dataDir });
      const keyId = (await kms.createKey(ROOT, {})).KeyMetadata.KeyId;
      const { CiphertextBlob } = await kms.encrypt(ROOT, { KeyId: keyId, Plaintext: new Uint8Array([i]) });
      await kms.decrypt(ROOT, { CiphertextBlob });
      await kms.close();
    };
    // Warm up: the first rounds load modules, the audit worker's code, WebAssembly.
    for (let i = 0; i < 3; i++) await round(i);
    await new Promise((resolve) => setTimeout(resolve, 200));
    const filesBefore = openFiles();
    const threadsBefore = threads();
    for (let i = 3; i < 43; i++) await round(i);
    await new Promise((resolve) => setTimeout(resolve, 200));
    const filesAfter = openFiles();
    const inDataDir = filesAfter.filter((f) => f.startsWith(dataDir));
    expect(inDataDir, "files of the data dir still open after close").toEqual([]);
    expect(filesAfter.length - filesBefore.length, filesAfter.join("\n")).toBeLessThanOrEqual(2);
    expect(threads() - threadsBefore).toBeLessThanOrEqual(1);
    console.log(
      `[reliability] 40 open/close rounds: descriptors ${filesBefore.length} -> ${filesAfter.length}, threads ${threadsBefore} -> ${threads()}`,
    );
  });
});

describe("a clock that jumps", { timeout: 60_000 }, () => {
  it("going backwards delays nothing already due and repeats nothing; jumping forward rotates once and deletes once", async () => {
    const dataDir = dir();
    let now = Date.UTC(2026, 5, 1);
    const clock = () => new Date(now);
    let kms = await LocalKms.open({ dataDir, clock });
    const rotating = (await kms.createKey(ROOT, {})).KeyMetadata.KeyId;
    await kms.enableKeyRotation(ROOT, { KeyId: rotating, RotationPeriodInDays: 90 });
    const doomed = (await kms.createKey(ROOT, {})).KeyMetadata.KeyId;
    const { DeletionDate } = await kms.scheduleKeyDeletion(ROOT, { KeyId: doomed, PendingWindowInDays: 7 });
    const blob = (await kms.encrypt(ROOT, { KeyId: rotating, Plaintext: new Uint8Array([1]) }))
      .CiphertextBlob;

    // Backwards by a year: the schedules keep their absolute dates; nothing is rotated or deleted early.
    now -= 365 * DAY;
    const early = await kms.createKey(ROOT, { Description: "made while the clock was a year behind" });
    expect((await kms.describeKey(ROOT, { KeyId: doomed })).KeyMetadata.DeletionDate).toEqual(DeletionDate);
    expect((await kms.listKeyRotations(ROOT, { KeyId: rotating })).Rotations).toHaveLength(0);
    expect(early.KeyMetadata.CreationDate.getTime()).toBe(now);

    // Forward, past the deletion date and three rotation periods at once: one rotation and one deletion, not three.
    now += 365 * DAY + 300 * DAY;
    await kms.listKeys(ROOT, {});
    expect((await kms.listKeyRotations(ROOT, { KeyId: rotating })).Rotations).toHaveLength(1);
    const missing = await kms.describeKey(ROOT, { KeyId: doomed }).catch((e: unknown) => e);
    expect(KmsError.isInstance(missing, "NotFoundException")).toBe(true);
    // The next rotation is a period after the one made, not after the date that was missed.
    now += 89 * DAY;
    await kms.close();
    kms = await LocalKms.open({ dataDir, clock });
    expect((await kms.listKeyRotations(ROOT, { KeyId: rotating })).Rotations).toHaveLength(1);
    now += 2 * DAY;
    await kms.listKeys(ROOT, {});
    expect((await kms.listKeyRotations(ROOT, { KeyId: rotating })).Rotations).toHaveLength(2);
    expect([...(await kms.decrypt(ROOT, { CiphertextBlob: blob })).Plaintext]).toEqual([1]);

    // Back again, below every event written: the audit log takes the times as given and still verifies.
    now -= 1000 * DAY;
    await kms.encrypt(ROOT, { KeyId: rotating, Plaintext: new Uint8Array([2]) });
    const report = await kms.auditLog!.verify();
    expect(report.ok, JSON.stringify(report.problems)).toBe(true);
    const events = kms.auditLog!.query({ limit: 10_000 });
    expect(events.filter((e) => e.eventName === "RotateKey")).toHaveLength(2);
    expect(events.filter((e) => e.eventName === "DeleteKey")).toHaveLength(1);
    await kms.close();
  });
});
