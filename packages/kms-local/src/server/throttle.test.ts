// Token buckets (refill, burst, which operations share a quota) with a fake clock, quota validation, and the real
// @aws-sdk/client-kms retrying a ThrottlingException until it gets through.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as K from "@aws-sdk/client-kms";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OPERATION_MODELS } from "./model.generated.js";
import { createKmsServer } from "./server.js";
import { openTestKms, type TestKms } from "./test-kms.js";
import { ALICE, BOB, MALLORY } from "./test-support.js";
import { DEFAULT_QUOTAS, quotaClass, Throttle } from "./throttle.js";

/** A Throttle on a clock the test moves (ms). */
function clocked(options: ConstructorParameters<typeof Throttle>[0]): {
  throttle: Throttle;
  advance(ms: number): void;
} {
  let now = 1_000;
  return { throttle: new Throttle(options, () => now), advance: (ms) => (now += ms) };
}

function takeAll(throttle: Throttle, operation: string, max = 100_000): number {
  let n = 0;
  while (n < max && throttle.take(operation)) n++;
  return n;
}

describe("Throttle", () => {
  it("holds one second of quota, refills at the quota's rate, and never past the burst", () => {
    const { throttle, advance } = clocked({ quotas: { CreateKey: 10 } });
    expect(takeAll(throttle, "CreateKey")).toBe(10);
    expect(throttle.take("CreateKey")).toBe(false);
    advance(100); // a tenth of a second: one token
    expect(takeAll(throttle, "CreateKey")).toBe(1);
    advance(60_000); // a minute idle: still only the burst
    expect(takeAll(throttle, "CreateKey")).toBe(10);
  });

  it("burstSeconds scales the bucket, not the rate", () => {
    const { throttle, advance } = clocked({ quotas: { CreateKey: 10 }, burstSeconds: 3 });
    expect(takeAll(throttle, "CreateKey")).toBe(30);
    advance(500);
    expect(takeAll(throttle, "CreateKey")).toBe(5);
  });

  it("the symmetric cryptographic operations share one quota, as in AWS KMS; the others have their own", () => {
    const { throttle } = clocked({ quotas: { cryptographic: 6, DescribeKey: 2 } });
    const crypto = [
      "Encrypt",
      "Decrypt",
      "ReEncrypt",
      "GenerateDataKey",
      "GenerateDataKeyWithoutPlaintext",
      "GenerateRandom",
    ];
    for (const op of crypto) expect(throttle.take(op), op).toBe(true);
    for (const op of crypto) expect(throttle.take(op), op).toBe(false);
    expect(takeAll(throttle, "DescribeKey")).toBe(2);
    expect(throttle.take("ListKeys")).toBe(true);
  });

  it("keeps separate buckets per account", () => {
    const { throttle, advance } = clocked({ quotas: { CreateKey: 2 } });
    expect(throttle.take("CreateKey", "111122223333")).toBe(true);
    expect(throttle.take("CreateKey", "111122223333")).toBe(true);
    expect(throttle.take("CreateKey", "111122223333")).toBe(false);
    expect(throttle.take("CreateKey", "444455556666")).toBe(true);
    advance(500);
    expect(throttle.take("CreateKey", "111122223333")).toBe(true);
    expect(throttle.take("CreateKey", "111122223333")).toBe(false);
  });

  it("has a default quota for every operation the server serves", () => {
    for (const op of Object.keys(OPERATION_MODELS))
      expect(DEFAULT_QUOTAS[quotaClass(op)], op).toBeGreaterThan(0);
  });

  it("refuses a quota it would silently ignore: an unknown name, or an operation of the shared quota", () => {
    expect(() => new Throttle({ quotas: { Encrypt: 10 } })).toThrow(/Encrypt.*"cryptographic"/);
    expect(() => new Throttle({ quotas: { GenerateDataKey: 10 } })).toThrow(RangeError);
    expect(() => new Throttle({ quotas: { Cryptographic: 10 } })).toThrow(/unknown quota "Cryptographic"/);
    expect(() => new Throttle({ quotas: { DescribeKeys: 10 } })).toThrow(RangeError);
    expect(() => new Throttle({ quotas: { cryptographic: 0 } })).toThrow(RangeError);
    expect(() => new Throttle({ burstSeconds: Number.NaN })).toThrow(RangeError);
    expect(() => new Throttle({ quotas: { cryptographic: 1, DescribeKey: 1 } })).not.toThrow();
  });
});

describe("throttling through the real SDK", { timeout: 30_000 }, () => {
  let dir: string;
  let kms: TestKms;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "sealkit-kms-throttle-"));
    kms = await openTestKms(join(dir, "kms"));
  });
  afterAll(async () => {
    await kms.kms.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("answers 400 ThrottlingException with AWS KMS's message", async () => {
    const server = createKmsServer({
      kms: { ...bound(kms), close() {} },
      credentials: [ALICE],
      region: "us-east-1",
      throttle: { quotas: { cryptographic: 1 } },
    });
    await server.listen(0, "127.0.0.1");
    const client = new K.KMSClient({
      endpoint: server.url,
      region: "us-east-1",
      credentials: { accessKeyId: ALICE.accessKeyId, secretAccessKey: ALICE.secretAccessKey },
      maxAttempts: 1,
    });
    try {
      await client.send(new K.GenerateRandomCommand({ NumberOfBytes: 8 }));
      const error = await client.send(new K.GenerateRandomCommand({ NumberOfBytes: 8 })).then(
        () => undefined,
        (e: K.KMSServiceException) => e,
      );
      expect(error?.name).toBe("ThrottlingException");
      expect(error?.$metadata.httpStatusCode).toBe(400);
      expect(error?.message).toBe(
        "You have exceeded the rate at which you may call KMS. Reduce the frequency of your calls.",
      );
    } finally {
      client.destroy();
      await server.close();
    }
  });

  it("quotas are per caller account: another account's callers do not use up this one's", async () => {
    // AWS KMS: "Each quota is calculated independently for each Region of each AWS account", and for cross-account
    // requests it "throttles the account that makes the requests, not the account that owns the AWS KMS key"
    // (developer guide, Quotas; AWS Architecture Blog, cross-account KMS call usage). One set of buckets for every
    // caller let MALLORY (account 444455556666) throttle ALICE and BOB (111122223333).
    const server = createKmsServer({
      kms: { ...bound(kms), close() {} },
      credentials: [ALICE, BOB, MALLORY],
      region: "us-east-1",
      throttle: { quotas: { cryptographic: 2 } },
    });
    await server.listen(0, "127.0.0.1");
    const client = (who: typeof ALICE) =>
      new K.KMSClient({
        endpoint: server.url,
        region: "us-east-1",
        credentials: { accessKeyId: who.accessKeyId, secretAccessKey: who.secretAccessKey },
        maxAttempts: 1,
      });
    const [alice, bob, mallory] = [client(ALICE), client(BOB), client(MALLORY)];
    const outcome = (c: K.KMSClient) =>
      c.send(new K.GenerateRandomCommand({ NumberOfBytes: 8 })).then(
        () => "ok",
        (e: K.KMSServiceException) => e.name,
      );
    try {
      // The local KMS serves one account (MALLORY's GenerateRandom is AccessDeniedException), but each request is
      // counted against her account's quota first.
      expect([await outcome(mallory), await outcome(mallory), await outcome(mallory)]).toEqual([
        "AccessDeniedException",
        "AccessDeniedException",
        "ThrottlingException",
      ]);
      // Another account: its own two.
      expect(await outcome(alice)).toBe("ok");
      // The same account as ALICE: one quota for the account, not per user.
      expect([await outcome(bob), await outcome(bob)]).toEqual(["ok", "ThrottlingException"]);
    } finally {
      for (const c of [alice, bob, mallory]) c.destroy();
      await server.close();
    }
  });

  it("@aws-sdk/client-kms reads ThrottlingException as throttling and retries it until it succeeds", async () => {
    const server = createKmsServer({
      kms: { ...bound(kms), close() {} },
      credentials: [ALICE],
      region: "us-east-1",
      throttle: { quotas: { cryptographic: 4 } },
    });
    await server.listen(0, "127.0.0.1");
    const client = new K.KMSClient({
      endpoint: server.url,
      region: "us-east-1",
      credentials: { accessKeyId: ALICE.accessKeyId, secretAccessKey: ALICE.secretAccessKey },
      maxAttempts: 10,
    });
    try {
      // Twice the bucket at once: the second half is throttled, retried after the SDK's back-off, and succeeds.
      const results = await Promise.all(
        Array.from({ length: 8 }, () => client.send(new K.GenerateRandomCommand({ NumberOfBytes: 8 }))),
      );
      for (const r of results) expect(r.Plaintext).toHaveLength(8);
      const attempts = results.map((r) => r.$metadata.attempts ?? 1);
      expect(Math.max(...attempts)).toBeGreaterThan(1);
      // The SDK counted the throttled attempts as retries with back-off (totalRetryDelay > 0).
      expect(Math.max(...results.map((r) => r.$metadata.totalRetryDelay ?? 0))).toBeGreaterThan(0);
      const text = server.metrics.render();
      expect(text).toMatch(
        /sealkit_kms_requests_total\{operation="GenerateRandom",error="ThrottlingException"\} [1-9]/,
      );
      expect(text).toMatch(/sealkit_kms_requests_total\{operation="GenerateRandom",error=""\} 8\n/);
    } finally {
      client.destroy();
      await server.close();
    }
  });
});

/** The test KMS's methods bound to it, for a second server in front of it that must not close it. */
function bound(kms: TestKms): Record<string, unknown> {
  return {
    auditLog: kms.auditLog,
    generateRandom: (c: unknown, r: unknown) => kms.local.generateRandom(c as never, r as never),
  };
}
