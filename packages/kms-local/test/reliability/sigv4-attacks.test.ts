// SigV4 attacks over real HTTP, each refused with AWS's error name and status and each found in the audit log by its
// request id; the accepted edges (4 min 59 s of skew each way, an exact replay) and proof that the SDK signs
// X-Amz-Target, which is what makes a replay under another target fail.

import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GenerateDataKeyCommand, KMSClient } from "@aws-sdk/client-kms";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createKmsServer, type KmsServer } from "../../src/server/server.js";
import { openTestKms, type TestKms } from "../../src/server/test-kms.js";
import { ALICE, BOB, call, type RawResponse, send, signRequest } from "../../src/server/test-support.js";

const BODY = '{"NumberOfBytes":8}';

describe("SigV4 attacks against the KMS server", () => {
  let dir: string;
  let kms: TestKms;
  let server: KmsServer;
  let url: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "sealkit-rel-sigv4-"));
    kms = await openTestKms(join(dir, "data"));
    server = createKmsServer({ kms: kms.kms, credentials: [ALICE, BOB], region: "us-east-1" });
    await server.listen(0, "127.0.0.1");
    url = server.url;
  });
  afterAll(async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  function audited(res: RawResponse) {
    const id = res.headers["x-amzn-requestid"] as string;
    return kms.auditLog.query({ limit: 100_000 }).filter((e) => e.requestID === id);
  }

  const attacks: [string, () => Promise<RawResponse>, string, RegExp][] = [
    [
      "a bad signature (one hex digit changed)",
      async () => {
        const req = await signRequest(url, "GenerateRandom", BODY);
        const auth = req.headers.authorization as string;
        const last = auth.endsWith("a") ? "b" : "a";
        return send(url, { ...req, headers: { ...req.headers, authorization: auth.slice(0, -1) + last } });
      },
      "InvalidSignatureException",
      /does not match/,
    ],
    [
      "a modified body (same length)",
      async () =>
        send(url, { ...(await signRequest(url, "GenerateRandom", BODY)), body: BODY.replace("8", "9") }),
      "InvalidSignatureException",
      /does not match/,
    ],
    [
      "a modified signed header (content-type)",
      async () => {
        const req = await signRequest(url, "GenerateRandom", BODY);
        return send(url, {
          ...req,
          headers: { ...req.headers, "content-type": "application/x-amz-json-1.0" },
        });
      },
      "InvalidSignatureException",
      /does not match/,
    ],
    [
      "an unsigned host",
      async () => {
        const req = await signRequest(url, "GenerateRandom", BODY);
        const auth = (req.headers.authorization as string).replace("host;", "");
        return send(url, { ...req, headers: { ...req.headers, authorization: auth } });
      },
      "IncompleteSignatureException",
      /'Host' or ':authority' must be a 'SignedHeader'/,
    ],
    [
      "a wrong region in the scope",
      () => call(url, "GenerateRandom", { NumberOfBytes: 8 }, { region: "us-west-2" }),
      "InvalidSignatureException",
      /valid region, not 'us-west-2'/,
    ],
    [
      "a wrong service in the scope",
      () => call(url, "GenerateRandom", { NumberOfBytes: 8 }, { service: "sts" }),
      "InvalidSignatureException",
      /correct service: 'kms'/,
    ],
    [
      "a timestamp 5 min 1 s in the past",
      () => call(url, "GenerateRandom", { NumberOfBytes: 8 }, { date: new Date(Date.now() - 301_000) }),
      "InvalidSignatureException",
      /^Signature expired/,
    ],
    [
      "a timestamp 5 min 1 s in the future",
      // Rounded up: X-Amz-Date drops the milliseconds, which could bring it within 5 min of the server's now.
      () =>
        call(
          url,
          "GenerateRandom",
          { NumberOfBytes: 8 },
          { date: new Date(Math.ceil((Date.now() + 301_000) / 1000) * 1000) },
        ),
      "InvalidSignatureException",
      /^Signature not yet current/,
    ],
    [
      "a replay of a valid signed request under another X-Amz-Target",
      async () => {
        const req = await signRequest(url, "GenerateRandom", BODY);
        const first = await send(url, req);
        expect(first.status).toBe(200);
        return send(url, {
          ...req,
          headers: { ...req.headers, "x-amz-target": "TrentService.GenerateDataKey" },
        });
      },
      "InvalidSignatureException",
      /does not match/,
    ],
    [
      "a replay whose target header is not signed",
      async () => {
        const req = await signRequest(url, "GenerateRandom", BODY, {
          unsignableHeaders: new Set(["x-amz-target"]),
        });
        return send(url, {
          ...req,
          headers: { ...req.headers, "x-amz-target": "TrentService.ScheduleKeyDeletion" },
        });
      },
      "IncompleteSignatureException",
      /X-Amz-Target/,
    ],
    [
      "an unknown access key",
      () => call(url, "GenerateRandom", { NumberOfBytes: 8 }, { accessKeyId: "AKIAUNKNOWNUNKNOWN00" }),
      "UnrecognizedClientException",
      /security token included in the request is invalid/,
    ],
    [
      "a known access key signed with another user's secret",
      () =>
        call(
          url,
          "GenerateRandom",
          { NumberOfBytes: 8 },
          { accessKeyId: BOB.accessKeyId, secretAccessKey: ALICE.secretAccessKey },
        ),
      "InvalidSignatureException",
      /does not match/,
    ],
  ];

  for (const [what, attack, name, message] of attacks) {
    it(`refuses ${what}: 400 ${name}, audited`, async () => {
      const res = await attack();
      expect(res.status).toBe(400);
      expect(res.json()).toMatchObject({ __type: name });
      expect(res.json().message).toMatch(message);
      expect(res.text).not.toMatch(/Plaintext/);
      const events = audited(res);
      expect(events).toHaveLength(1);
      expect(events[0]).toMatchObject({ errorCode: name, eventName: expect.any(String) });
      // Not proven: the caller of a refused signature is never recorded as the claimed user.
      if (name !== "IncompleteSignatureException") expect(events[0]?.userIdentity.arn).toBe("anonymous");
    });
  }

  it("accepts 4 min 59 s of clock skew in both directions, and an exact replay within the window", async () => {
    for (const skew of [-299_000, 299_000]) {
      // X-Amz-Date has whole seconds: round toward now, so the signed time is at most 4 min 59 s away and the
      // request keeps a second of margin (truncating could leave a millisecond, and the check failed under load).
      const signed =
        skew < 0 ? Math.ceil((Date.now() + skew) / 1000) : Math.floor((Date.now() + skew) / 1000);
      const res = await call(url, "GenerateRandom", { NumberOfBytes: 8 }, { date: new Date(signed * 1000) });
      expect(res.status, res.text).toBe(200);
      expect(audited(res)[0]).toMatchObject({
        eventName: "GenerateRandom",
        userIdentity: { arn: ALICE.principal },
      });
      expect(audited(res)[0]?.errorCode).toBeUndefined();
    }
    const req = await signRequest(url, "GenerateRandom", BODY);
    expect((await send(url, req)).status).toBe(200);
    expect((await send(url, req)).status).toBe(200);
  });

  it("the AWS SDK signs X-Amz-Target, host and x-amz-date", async () => {
    let authorization = "";
    const spy = createServer((req, res) => {
      authorization = req.headers.authorization ?? "";
      req.resume();
      res.writeHead(400, { "content-type": "application/x-amz-json-1.1" });
      res.end('{"__type":"ValidationException","message":"spy"}');
    });
    await new Promise<void>((r) => spy.listen(0, "127.0.0.1", r));
    const client = new KMSClient({
      endpoint: `http://127.0.0.1:${(spy.address() as AddressInfo).port}`,
      region: "us-east-1",
      credentials: ALICE,
      maxAttempts: 1,
    });
    try {
      await expect(
        client.send(new GenerateDataKeyCommand({ KeyId: "alias/x", NumberOfBytes: 32 })),
      ).rejects.toThrow(/spy/);
    } finally {
      client.destroy();
      spy.close();
    }
    const signed = /SignedHeaders=([^,]+)/.exec(authorization)?.[1]?.split(";") ?? [];
    expect(signed).toEqual(expect.arrayContaining(["host", "x-amz-date", "x-amz-target"]));
  });
});
