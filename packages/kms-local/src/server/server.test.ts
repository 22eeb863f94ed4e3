// The KMS server over real HTTP: SigV4 refusals (each audited), error framing, limits, throttling, health, metrics, shutdown.

import { mkdtempSync, rmSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createKmsServer, type KmsServer, type KmsServerOptions } from "./server.js";
import { openTestKms, type TestKms } from "./test-kms.js";
import { ALICE, BOB, call, send, signRequest } from "./test-support.js";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

async function start(kms: TestKms, options: Partial<KmsServerOptions> = {}): Promise<KmsServer> {
  const server = createKmsServer({
    kms: kms.kms,
    credentials: [ALICE, BOB],
    region: "us-east-1",
    ...options,
  });
  await server.listen(0, "127.0.0.1");
  return server;
}

describe("KMS server protocol", { timeout: 30_000 }, () => {
  let dir: string;
  let kms: TestKms;
  let server: KmsServer;
  let url: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "sealkit-kms-server-"));
    kms = await openTestKms(join(dir, "main"));
    server = await start(kms);
    url = server.url;
  });
  afterAll(async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("answers a signed request with JSON, x-amzn-RequestId and Date", async () => {
    const res = await call(url, "GenerateRandom", { NumberOfBytes: 16 });
    expect(res.status).toBe(200);
    expect(res.headers["content-type"]).toBe("application/x-amz-json-1.1");
    expect(res.headers["x-amzn-requestid"]).toMatch(UUID);
    expect(Date.parse(res.headers.date as string)).toBeGreaterThan(Date.now() - 5000);
    expect(Buffer.from(res.json().Plaintext as string, "base64")).toHaveLength(16);
    // The response's request id is the audit event's requestID, with the verified principal.
    const [event] = kms.auditLog.query().filter((e) => e.requestID === res.headers["x-amzn-requestid"]);
    expect(event).toMatchObject({
      eventName: "GenerateRandom",
      userIdentity: { arn: ALICE.principal, accessKeyId: ALICE.accessKeyId },
    });
    expect(event?.errorCode).toBeUndefined();
  });

  it("records User-Agent, or X-Amz-User-Agent where only it names the SDK (a browser's request)", async () => {
    const cases: [Record<string, string>, string | undefined][] = [
      // Node SDKs: the full string in User-Agent, its prefix in X-Amz-User-Agent.
      [
        { "user-agent": "aws-sdk-js/3.1 ua/2.1 lang/js", "x-amz-user-agent": "aws-sdk-js/3.1" },
        "aws-sdk-js/3.1 ua/2.1 lang/js",
      ],
      // Browsers cannot set User-Agent: the SDK is only in X-Amz-User-Agent.
      [
        { "user-agent": "Mozilla/5.0 (X11)", "x-amz-user-agent": "aws-sdk-js/3.1 md/browser AwsCrypto/4" },
        "aws-sdk-js/3.1 md/browser AwsCrypto/4 Mozilla/5.0 (X11)",
      ],
      [{ "x-amz-user-agent": "aws-sdk-js/3.1" }, "aws-sdk-js/3.1"],
      [{ "user-agent": "curl/8" }, "curl/8"],
    ];
    for (const [agents, recorded] of cases) {
      const req = await signRequest(url, "GenerateRandom", '{"NumberOfBytes":8}');
      const res = await send(url, { ...req, headers: { ...req.headers, ...agents } });
      expect(res.status).toBe(200);
      const [event] = kms.auditLog.query().filter((e) => e.requestID === res.headers["x-amzn-requestid"]);
      expect(event?.userAgent).toBe(recorded);
    }
  });

  const refusals: [
    string,
    () => Promise<{ status: number; json(): Record<string, unknown> }>,
    string,
    RegExp,
  ][] = [
    [
      "a bad signature",
      async () => {
        const req = await signRequest(url, "GenerateRandom", '{"NumberOfBytes":8}');
        const auth = req.headers.authorization as string;
        return send(url, {
          ...req,
          headers: {
            ...req.headers,
            authorization: auth.slice(0, -4) + (auth.endsWith("0000") ? "1111" : "0000"),
          },
        });
      },
      "InvalidSignatureException",
      /does not match/,
    ],
    [
      "a modified body",
      async () => {
        const req = await signRequest(url, "GenerateRandom", '{"NumberOfBytes":8}');
        return send(url, { ...req, body: '{"NumberOfBytes":9}' });
      },
      "InvalidSignatureException",
      /does not match/,
    ],
    [
      "a modified signed header (another target: replay)",
      async () => {
        const req = await signRequest(url, "GenerateRandom", '{"NumberOfBytes":8}');
        return send(url, { ...req, headers: { ...req.headers, "x-amz-target": "TrentService.ListKeys" } });
      },
      "InvalidSignatureException",
      /does not match/,
    ],
    [
      "an unsigned host",
      async () => {
        const req = await signRequest(url, "GenerateRandom", '{"NumberOfBytes":8}');
        const auth = (req.headers.authorization as string).replace("host;", "");
        return send(url, { ...req, headers: { ...req.headers, authorization: auth } });
      },
      "IncompleteSignatureException",
      /'Host' or ':authority' must be a 'SignedHeader'/,
    ],
    [
      "an unsigned x-amz-target",
      async () => {
        const req = await signRequest(url, "GenerateRandom", '{"NumberOfBytes":8}', {
          unsignableHeaders: new Set(["x-amz-target"]),
        });
        return send(url, req);
      },
      "IncompleteSignatureException",
      /X-Amz-Target/,
    ],
    [
      "a wrong region",
      () => call(url, "GenerateRandom", { NumberOfBytes: 8 }, { region: "eu-west-1" }),
      "InvalidSignatureException",
      /region/,
    ],
    [
      "a wrong service",
      () => call(url, "GenerateRandom", { NumberOfBytes: 8 }, { service: "s3" }),
      "InvalidSignatureException",
      /service/,
    ],
    [
      "a timestamp 5 minutes and 1 second old",
      () => call(url, "GenerateRandom", { NumberOfBytes: 8 }, { date: new Date(Date.now() - 301_000) }),
      "InvalidSignatureException",
      /^Signature expired/,
    ],
    [
      "a timestamp 5 minutes and 1 second ahead",
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
      "an unknown access key",
      () => call(url, "GenerateRandom", { NumberOfBytes: 8 }, { accessKeyId: "AKIAUNKNOWN000000009" }),
      "UnrecognizedClientException",
      /security token/,
    ],
    [
      "no Authorization header",
      async () => {
        const req = await signRequest(url, "GenerateRandom", '{"NumberOfBytes":8}');
        const { authorization: _, ...headers } = req.headers;
        return send(url, { ...req, headers });
      },
      "MissingAuthenticationTokenException",
      /Missing Authentication Token/,
    ],
    [
      "an unsupported operation",
      () => call(url, "CreateCustomKeyStore", {}),
      "UnsupportedOperationException",
      /not an operation/,
    ],
    [
      "malformed JSON",
      async () => send(url, await signRequest(url, "GenerateRandom", "{oops")),
      "SerializationException",
      /not valid JSON/,
    ],
    [
      "invalid base64",
      () => call(url, "Decrypt", { CiphertextBlob: "***" }),
      "SerializationException",
      /base64/,
    ],
    [
      "a wrong member type",
      () => call(url, "GenerateRandom", { NumberOfBytes: "8" }),
      "SerializationException",
      /must be a number/,
    ],
  ];

  for (const [what, request, name, message] of refusals) {
    it(`refuses ${what} with ${name}, and audits it`, async () => {
      const res = (await request()) as Awaited<ReturnType<typeof send>>;
      expect(res.status).toBe(400);
      expect(res.headers["x-amzn-requestid"]).toMatch(UUID);
      expect(res.headers.date).toBeDefined();
      const body = res.json();
      expect(body.__type).toBe(name);
      expect(body.message).toMatch(message);
      const events = kms.auditLog
        .query({ errorsOnly: true })
        .filter((e) => e.requestID === res.headers["x-amzn-requestid"]);
      expect(events).toHaveLength(1);
      expect(events[0]?.errorCode).toBe(name);
    });
  }

  it("records the verified principal for a malformed but signed request, and 'anonymous' for a bad signature", async () => {
    const malformed = await call(
      url,
      "GenerateRandom",
      { NumberOfBytes: "x" },
      { accessKeyId: BOB.accessKeyId, secretAccessKey: BOB.secretAccessKey },
    );
    const [event] = kms.auditLog.query().filter((e) => e.requestID === malformed.headers["x-amzn-requestid"]);
    expect(event?.userIdentity.arn).toBe(BOB.principal);
    const forged = await call(
      url,
      "GenerateRandom",
      { NumberOfBytes: 8 },
      { accessKeyId: BOB.accessKeyId, secretAccessKey: "guess" },
    );
    const [event2] = kms.auditLog.query().filter((e) => e.requestID === forged.headers["x-amzn-requestid"]);
    expect(event2?.userIdentity.arn).toBe("anonymous");
    expect(event2?.userIdentity.accessKeyId).toBe(BOB.accessKeyId);
  });

  it("serves /health and Prometheus /metrics with counts by operation and error, latency buckets and audit stats", async () => {
    const health = await fetch(`${url}/health`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ status: "ok", region: "us-east-1" });
    const metrics = await (await fetch(`${url}/metrics`)).text();
    expect(metrics).toMatch(/sealkit_kms_requests_total\{operation="GenerateRandom",error=""\} [1-9]/);
    expect(metrics).toMatch(
      /sealkit_kms_requests_total\{operation="GenerateRandom",error="InvalidSignatureException"\} [1-9]/,
    );
    expect(metrics).toMatch(
      /sealkit_kms_request_duration_seconds_bucket\{operation="GenerateRandom",le="\+Inf"\} [1-9]/,
    );
    expect(metrics).toMatch(/sealkit_kms_in_flight_requests 0/);
    expect(metrics).toMatch(/sealkit_kms_audit_lag_ms \d/);
    // Unknown targets are counted under "-", never under the name the client chose.
    expect(metrics).not.toMatch(/CreateCustomKeyStore/);
    expect(metrics).toMatch(
      /sealkit_kms_requests_total\{operation="-",error="UnsupportedOperationException"\} [1-9]/,
    );
  });

  it("refuses a body over the limit with 413 and a JSON error, before reading it", async () => {
    const big = JSON.stringify({ NumberOfBytes: 8, Pad: "x".repeat(1024 * 1024) });
    const res = await send(url, await signRequest(url, "GenerateRandom", big));
    expect(res.status).toBe(413);
    expect(res.json().__type).toBe("RequestEntityTooLargeException");
    expect(res.headers["x-amzn-requestid"]).toMatch(UUID);
    const [event] = kms.auditLog.query().filter((e) => e.requestID === res.headers["x-amzn-requestid"]);
    expect(event?.errorCode).toBe("RequestEntityTooLargeException");
    expect(event?.eventName).toBe("GenerateRandom");
    expect(event?.userIdentity.accessKeyId).toBe(ALICE.accessKeyId);
  });

  it("answers KMS errors with the status of AWS's KMS service model (404 NotFound, 409 AlreadyExists, Disabled, KMSInvalidState)", async () => {
    const key = (await call(url, "CreateKey", {})).json().KeyMetadata as { KeyId: string };
    const cases: [string, Record<string, unknown>, string, number][] = [
      ["DescribeKey", { KeyId: "alias/none-such" }, "NotFoundException", 404],
      ["CreateAlias", { AliasName: "alias/wire-status", TargetKeyId: key.KeyId }, "", 200],
      [
        "CreateAlias",
        { AliasName: "alias/wire-status", TargetKeyId: key.KeyId },
        "AlreadyExistsException",
        409,
      ],
      ["DisableKey", { KeyId: key.KeyId }, "", 200],
      ["Encrypt", { KeyId: key.KeyId, Plaintext: "aGk=" }, "DisabledException", 409],
      ["Decrypt", { CiphertextBlob: "AAAA" }, "InvalidCiphertextException", 400],
      ["ScheduleKeyDeletion", { KeyId: key.KeyId, PendingWindowInDays: 7 }, "", 200],
      ["EnableKey", { KeyId: key.KeyId }, "KMSInvalidStateException", 409],
    ];
    for (const [operation, payload, expected, status] of cases) {
      const res = await call(url, operation, payload);
      expect([operation, res.status, expected === "" ? "" : res.json().__type]).toEqual([
        operation,
        status,
        expected,
      ]);
    }
  });

  it("refuses a non-POST request with a JSON error", async () => {
    const res = await fetch(`${url}/`, { method: "PUT", body: "{}" });
    expect(res.status).toBe(405);
    expect(((await res.json()) as { __type: string }).__type).toBe("UnknownOperationException");
  });
});

describe("KMS server limits and lifecycle", { timeout: 30_000 }, () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "sealkit-kms-limits-"));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("throttles the shared cryptographic quota with ThrottlingException when enabled", async () => {
    const kms = await openTestKms(join(dir, "throttle"));
    const server = await start(kms, { throttle: { quotas: { cryptographic: 5 } } });
    try {
      const statuses: string[] = [];
      for (let i = 0; i < 8; i++) {
        const res = await call(server.url, "GenerateRandom", { NumberOfBytes: 8 });
        statuses.push(res.status === 200 ? "ok" : String(res.json().__type));
      }
      expect(statuses.slice(0, 5)).toEqual(["ok", "ok", "ok", "ok", "ok"]);
      expect(statuses.slice(5)).toContain("ThrottlingException");
      // Other classes have their own buckets.
      expect((await call(server.url, "ListKeys", {})).status).toBe(200);
    } finally {
      await server.close();
    }
  });

  it("answers a connection over the limit with 503 ServiceUnavailableException when no connection is idle", async () => {
    const kms = await openTestKms(join(dir, "conn"));
    const server = await start(kms, { limits: { maxConnections: 1 } });
    const port = Number(new URL(server.url).port);
    const first = connect(port, "127.0.0.1");
    await new Promise((r) => first.once("connect", r));
    // A head still arriving: the connection is busy, not idle, so it cannot make room for the next one.
    first.write("POST / HTTP/1.1\r\n");
    await new Promise((r) => setTimeout(r, 50));
    const second = connect(port, "127.0.0.1");
    const text = await new Promise<string>((resolve) => {
      let data = "";
      second.on("data", (d) => (data += d));
      second.on("close", () => resolve(data));
    });
    expect(text).toMatch(/^HTTP\/1.1 503/);
    expect(text).toMatch(/"__type":"ServiceUnavailableException"/);
    first.destroy();
    await server.close();
  });

  it("answers headers that never finish with 408 RequestTimeoutException", async () => {
    const kms = await openTestKms(join(dir, "timeout"));
    const server = await start(kms, { limits: { headersTimeoutMs: 300, requestTimeoutMs: 300 } });
    const port = Number(new URL(server.url).port);
    const socket = connect(port, "127.0.0.1");
    socket.write("POST / HTTP/1.1\r\nHost: x\r\n");
    const text = await new Promise<string>((resolve) => {
      let data = "";
      socket.on("data", (d) => (data += d));
      socket.on("close", () => resolve(data));
    });
    expect(text).toMatch(/^HTTP\/1.1 408/);
    expect(text).toMatch(/"__type":"RequestTimeoutException"/);
    await server.close();
  });

  it("answers a body that never finishes with 408, and a client leaving mid-body is no longer in flight", async () => {
    const kms = await openTestKms(join(dir, "slow-body"));
    const server = await start(kms, { limits: { headersTimeoutMs: 1000, requestTimeoutMs: 400 } });
    const port = Number(new URL(server.url).port);
    const slow = connect(port, "127.0.0.1");
    slow.write('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"KeyId":');
    const text = await new Promise<string>((resolve) => {
      let data = "";
      slow.on("data", (d) => (data += d));
      slow.on("close", () => resolve(data));
    });
    expect(text).toMatch(/^HTTP\/1.1 408/);
    expect(text).toMatch(/"__type":"RequestTimeoutException"/);
    expect(kms.auditLog.query({ errorsOnly: true }).map((e) => e.errorCode)).toContain(
      "RequestTimeoutException",
    );
    const leaving = connect(port, "127.0.0.1");
    leaving.write('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"KeyId":');
    await new Promise((r) => setTimeout(r, 100));
    expect(server.metrics.inFlight).toBe(1);
    leaving.destroy();
    await new Promise((r) => setTimeout(r, 100));
    expect(server.metrics.inFlight).toBe(0);
    // Other clients are served meanwhile and afterwards.
    expect((await call(server.url, "GenerateRandom", { NumberOfBytes: 4 })).status).toBe(200);
    await server.close();
  });

  it("answers an unexpected failure with 500 KMSInternalException, revealing nothing of it", async () => {
    const kms = await openTestKms(join(dir, "fault"), { failGenerateRandom: "secret detail /var/lib/x" });
    const errors: unknown[] = [];
    const server = await start(kms, { onError: (e) => errors.push(e) });
    try {
      const res = await call(server.url, "GenerateRandom", { NumberOfBytes: 8 });
      expect(res.status).toBe(500);
      expect(res.json().__type).toBe("KMSInternalException");
      expect(res.text).not.toMatch(/secret detail/);
      expect(errors).toHaveLength(1);
    } finally {
      await server.close();
    }
  });

  it("fails closed when a refusal cannot be audited: 500, not the refusal", async () => {
    const kms = await openTestKms(join(dir, "audit-down"));
    const server = await start(kms, {
      auditRejected: () => {
        throw new Error("disk full");
      },
      onError: () => {},
    });
    try {
      const res = await call(
        server.url,
        "GenerateRandom",
        { NumberOfBytes: 8 },
        { secretAccessKey: "wrong" },
      );
      expect(res.status).toBe(500);
      expect(res.json().__type).toBe("KMSInternalException");
    } finally {
      await server.close();
    }
  });

  it("closes an idle keep-alive connection after keepAliveTimeoutMs, and answers oversized headers with 431", async () => {
    const kms = await openTestKms(join(dir, "idle"));
    const server = await start(kms, { limits: { keepAliveTimeoutMs: 200 } });
    const port = Number(new URL(server.url).port);
    const socket = connect(port, "127.0.0.1");
    const t0 = Date.now();
    socket.write("GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
    const text = await new Promise<string>((resolve) => {
      let data = "";
      socket.on("data", (d) => (data += d));
      socket.on("close", () => resolve(data));
    });
    expect(text).toMatch(/^HTTP\/1.1 200/);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(150);
    const big = connect(port, "127.0.0.1");
    big.write(`POST / HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(20_000)}\r\n\r\n`);
    const answer = await new Promise<string>((resolve) => {
      let data = "";
      big.on("data", (d) => (data += d));
      big.on("close", () => resolve(data));
      big.on("error", () => resolve(data));
    });
    expect(answer).toMatch(/^HTTP\/1.1 431/);
    expect(answer).toMatch(/"__type":"RequestHeaderFieldsTooLargeException"/);
    await server.close();
  });

  it("accepts unsigned requests as the configured principal only when allowUnsignedAs is set", async () => {
    const kms = await openTestKms(join(dir, "unsigned"));
    const warnings: string[] = [];
    const server = await start(kms, { allowUnsignedAs: ALICE.principal, onWarning: (m) => warnings.push(m) });
    expect(warnings.join("")).toMatch(
      /WARNING: --allow-unsigned-as is ON[\s\S]*arn:aws:iam::111122223333:user\/alice/,
    );
    try {
      const res = await fetch(server.url, {
        method: "POST",
        headers: {
          "content-type": "application/x-amz-json-1.1",
          "x-amz-target": "TrentService.GenerateRandom",
        },
        body: '{"NumberOfBytes":4}',
      });
      expect(res.status).toBe(200);
      // Not from a web page: browsers send Origin with every POST, and a DNS-rebinding page is of this server's own
      // origin (cors-browser.test.ts shows it in Chromium). Refused as unsigned, audited, the local KMS not called.
      const fromPage = await send(server.url, {
        method: "POST",
        path: "/",
        headers: {
          host: "rebind.example:4600",
          origin: "http://rebind.example:4600",
          "sec-fetch-site": "same-origin",
          "content-type": "application/x-amz-json-1.1",
          "x-amz-target": "TrentService.CreateKey",
        },
        body: "{}",
      });
      expect(fromPage.status).toBe(400);
      expect(fromPage.json()).toEqual({
        __type: "MissingAuthenticationTokenException",
        message:
          "Missing Authentication Token: unsigned requests are not accepted from web pages (Origin http://rebind.example:4600) unless their origin is listed with --cors-origin.",
      });
      const [refused] = kms.auditLog
        .query()
        .filter((e) => e.requestID === fromPage.headers["x-amzn-requestid"]);
      expect(refused).toMatchObject({
        eventName: "CreateKey",
        errorCode: "MissingAuthenticationTokenException",
      });
      expect(kms.auditLog.query({ eventName: "CreateKey" }).map((e) => e.errorCode)).toEqual([
        "MissingAuthenticationTokenException",
      ]);
      // Signed requests are still verified.
      const bad = await call(
        server.url,
        "GenerateRandom",
        { NumberOfBytes: 4 },
        { secretAccessKey: "wrong" },
      );
      expect(bad.json().__type).toBe("InvalidSignatureException");
    } finally {
      await server.close();
    }
  });

  it("finishes a request in flight on close, then refuses connections and closes the local KMS", async () => {
    const kms = await openTestKms(join(dir, "graceful"), { slowMs: 300 });
    const server = await start(kms);
    const url = server.url;
    const inFlight = call(url, "GenerateRandom", { NumberOfBytes: 8 });
    await new Promise((r) => setTimeout(r, 100));
    const closing = server.close();
    const res = await inFlight;
    expect(res.status).toBe(200);
    await closing;
    expect(kms.closed()).toBe(true);
    await expect(fetch(`${url}/health`)).rejects.toThrow();
  });
});
