// ServerMetrics' Prometheus text: cumulative buckets consistent with _count and _sum, label escaping, and a real
// server fed client-chosen (hostile) X-Amz-Target values, whose exposition must stay well-formed and bounded.

import { mkdtempSync, rmSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ServerMetrics } from "./metrics.js";
import { createKmsServer } from "./server.js";
import { openTestKms } from "./test-kms.js";
import { ALICE, call, send, signRequest } from "./test-support.js";

// One sample line of the text format: name, optional {label="value",...} with \\, \" and \n escapes, a number.
const SAMPLE =
  /^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"(,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*")*\})? -?(?:[0-9.e+-]+|\+Inf|NaN)$/;

function wellFormed(text: string): void {
  expect(text.endsWith("\n")).toBe(true);
  for (const line of text.slice(0, -1).split("\n")) {
    if (line.startsWith("# HELP ") || line.startsWith("# TYPE ")) continue;
    expect(line, line).toMatch(SAMPLE);
  }
}

/** The histogram of one operation: bucket counts by le, _sum and _count. */
function histogram(
  text: string,
  operation: string,
): { buckets: [string, number][]; sum: number; count: number } {
  const buckets: [string, number][] = [];
  let sum = Number.NaN;
  let count = Number.NaN;
  for (const line of text.split("\n")) {
    const b = /^sealkit_kms_request_duration_seconds_bucket\{operation="([^"]*)",le="([^"]+)"\} (\S+)$/.exec(
      line,
    );
    if (b && b[1] === operation) buckets.push([b[2] as string, Number(b[3])]);
    const s = /^sealkit_kms_request_duration_seconds_(sum|count)\{operation="([^"]*)"\} (\S+)$/.exec(line);
    if (s && s[2] === operation) {
      if (s[1] === "sum") sum = Number(s[3]);
      else count = Number(s[3]);
    }
  }
  return { buckets, sum, count };
}

describe("ServerMetrics", () => {
  it("buckets are cumulative, inclusive of their bound, and end in +Inf equal to _count; _sum is the total", () => {
    const m = new ServerMetrics();
    const durations = [0.0001, 0.0005, 0.0006, 0.003, 0.005, 0.2, 1, 4.9, 5, 5.01, 60];
    for (const d of durations) m.record("Encrypt", "", d);
    const text = m.render();
    wellFormed(text);
    const h = histogram(text, "Encrypt");
    expect(h.count).toBe(durations.length);
    expect(h.sum).toBeCloseTo(
      durations.reduce((a, b) => a + b, 0),
      9,
    );
    const le = Object.fromEntries(h.buckets);
    expect(le["0.0005"]).toBe(2); // 0.0001 and exactly 0.0005
    expect(le["0.005"]).toBe(5);
    expect(le["5"]).toBe(9);
    expect(le["+Inf"]).toBe(durations.length);
    for (let i = 1; i < h.buckets.length; i++)
      expect(h.buckets[i]?.[1]).toBeGreaterThanOrEqual(h.buckets[i - 1]?.[1] as number);
    expect(text).toMatch(/^sealkit_kms_requests_total\{operation="Encrypt",error=""\} 11$/m);
  });

  it("escapes backslash, double quote and newline in label values", () => {
    const m = new ServerMetrics();
    m.record('a"b\\c\nd', 'e"\\\n', 0.001);
    const text = m.render();
    wellFormed(text);
    expect(text).toContain('sealkit_kms_requests_total{operation="a\\"b\\\\c\\nd",error="e\\"\\\\\\n"} 1');
  });
});

describe("metrics of a real server fed hostile targets", { timeout: 30_000 }, () => {
  it("counts unknown or hostile X-Amz-Target values under '-', keeps the text well-formed, and counts by error", async () => {
    const dir = mkdtempSync(join(tmpdir(), "sealkit-kms-metrics-"));
    const kms = await openTestKms(join(dir, "kms"));
    const server = createKmsServer({ kms: kms.kms, credentials: [ALICE], region: "us-east-1" });
    await server.listen(0, "127.0.0.1");
    try {
      const hostile = [
        'Encrypt"} 1\\',
        "Encrypt\\",
        'x",error="',
        "__proto__",
        "constructor",
        "toString",
        "hasOwnProperty",
        "\u00e9\u00ff",
        "a".repeat(500),
      ];
      for (let i = 0; i < hostile.length; i++) {
        const req = await signRequest(server.url, "GenerateRandom", "{}");
        // A signed request with the target replaced: answered InvalidSignature (the target is signed) or, signed
        // as such, UnsupportedOperation; either way under "-".
        const target = `TrentService.${hostile[i]}`;
        const resigned = await signRequest(server.url, hostile[i] as string, "{}");
        const res = await send(
          server.url,
          i % 2 ? resigned : { ...req, headers: { ...req.headers, "x-amz-target": target } },
        );
        expect(res.status).toBe(400);
      }
      expect((await call(server.url, "GenerateRandom", { NumberOfBytes: 4 })).status).toBe(200);
      const text = await (await fetch(`${server.url}/metrics`)).text();
      wellFormed(text);
      for (const h of hostile.slice(0, 3)) expect(text).not.toContain(h);
      const operations = new Set([...text.matchAll(/operation="([^"]*)"/g)].map((m) => m[1]));
      expect([...operations].sort()).toEqual(["-", "GenerateRandom"]);
      const errors = [
        ...text.matchAll(/^sealkit_kms_requests_total\{operation="-",error="(\w+)"\} (\d+)$/gm),
      ];
      expect(errors.reduce((n, m) => n + Number(m[2]), 0)).toBe(hostile.length);
      // The histogram of "-" counts the same requests as its counters.
      expect(histogram(text, "-").count).toBe(hostile.length);
      expect(text).toMatch(/^sealkit_kms_audit_lag_ms \d+(\.\d+)?(e-?\d+)?$/m);
      expect(text).toMatch(/^sealkit_kms_audit_pending \d+$/m);
    } finally {
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("metrics of errors the HTTP layer answers itself", { timeout: 30_000 }, () => {
  /** Writes `text` on a new connection and resolves with everything received until the server closes it. */
  function exchange(port: number, text: string): Promise<string> {
    return new Promise((resolve) => {
      const s = connect(port, "127.0.0.1");
      let data = "";
      s.setEncoding("latin1");
      s.on("data", (d: string) => (data += d));
      s.on("error", () => {});
      s.on("close", () => resolve(data));
      s.write(text);
    });
  }

  it("counts malformed framing, 431, 505 and header timeouts under '-' with their error names", async () => {
    const dir = mkdtempSync(join(tmpdir(), "sealkit-kms-metrics-framing-"));
    const kms = await openTestKms(join(dir, "kms"));
    const server = createKmsServer({
      kms: kms.kms,
      credentials: [ALICE],
      region: "us-east-1",
      limits: { headersTimeoutMs: 300, maxHeaderBytes: 1024 },
    });
    await server.listen(0, "127.0.0.1");
    const port = Number(new URL(server.url).port);
    try {
      const answers = await Promise.all([
        exchange(port, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1, 1\r\n\r\n{"),
        exchange(port, "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"),
        exchange(port, `GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ${"b".repeat(2000)}\r\n\r\n`),
        exchange(port, "GET /health HTTP/2.0\r\nHost: x\r\n\r\n"),
        exchange(port, "POST / HTTP/1.1\r\nHost: x\r\nX-Slow: "),
      ]);
      expect(answers.map((a) => Number(a.slice(9, 12)))).toEqual([400, 400, 431, 505, 408]);
      const text = await (await fetch(`${server.url}/metrics`)).text();
      wellFormed(text);
      expect(text).toMatch(/^sealkit_kms_requests_total\{operation="-",error="SerializationException"\} 3$/m);
      expect(text).toMatch(
        /^sealkit_kms_requests_total\{operation="-",error="RequestHeaderFieldsTooLargeException"\} 1$/m,
      );
      expect(text).toMatch(
        /^sealkit_kms_requests_total\{operation="-",error="RequestTimeoutException"\} 1$/m,
      );
      expect(histogram(text, "-").count).toBe(5);
    } finally {
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("metrics of refusals the audit log could not record", { timeout: 30_000 }, () => {
  it("a 413 whose refusal cannot be audited is answered and counted as KMSInternalException", async () => {
    const dir = mkdtempSync(join(tmpdir(), "sealkit-kms-metrics-audit-"));
    const kms = await openTestKms(join(dir, "kms"));
    const server = createKmsServer({
      kms: kms.kms,
      credentials: [ALICE],
      region: "us-east-1",
      limits: { maxBodyBytes: 64 },
      auditRejected: () => {
        throw new Error("audit store unwritable");
      },
      onError: () => {},
    });
    await server.listen(0, "127.0.0.1");
    try {
      const req = await signRequest(
        server.url,
        "GenerateRandom",
        JSON.stringify({ NumberOfBytes: 8, Pad: "x".repeat(100) }),
      );
      const res = await send(server.url, req);
      expect(res.status).toBe(500);
      expect(res.json().__type).toBe("KMSInternalException");
      const text = await (await fetch(`${server.url}/metrics`)).text();
      expect(text).toMatch(/^sealkit_kms_requests_total\{operation="-",error="KMSInternalException"\} 1$/m);
      expect(text).not.toMatch(/RequestEntityTooLargeException/);
    } finally {
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
