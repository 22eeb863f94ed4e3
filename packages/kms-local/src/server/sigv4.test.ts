// SigV4 verification, cross-checked against @smithy/signature-v4 (the signer the AWS SDK uses).

import { describe, expect, it } from "vitest";
import { SigV4Verifier } from "./sigv4.js";
import { ALICE, type RawRequest, signRequest } from "./test-support.js";
import { AuthError } from "./wire-errors.js";

const URL_BASE = "http://127.0.0.1:4600";
const NOW = Date.parse("2026-11-29T08:00:00Z");

function verifier(now = NOW) {
  return new SigV4Verifier({
    region: "us-east-1",
    secretFor: (id) => (id === ALICE.accessKeyId ? ALICE.secretAccessKey : undefined),
    now: () => now,
  });
}

function parts(req: RawRequest) {
  const rawHeaders: string[] = [];
  for (const [k, v] of Object.entries(req.headers)) rawHeaders.push(k, v);
  return { method: req.method, url: req.path, rawHeaders, body: Buffer.from(req.body) };
}

function refusal(fn: () => unknown): { name: string; message: string } {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(AuthError);
    return { name: (e as AuthError).awsName, message: (e as AuthError).message };
  }
  throw new Error("expected a refusal");
}

describe("SigV4Verifier", () => {
  const body = JSON.stringify({ KeyId: "alias/app", NumberOfBytes: 32 });

  it("accepts a request signed by the SDK's signer and names its access key", async () => {
    const req = await signRequest(URL_BASE, "GenerateDataKey", body, { date: new Date(NOW) });
    expect(verifier().verify(parts(req))).toEqual({
      accessKeyId: ALICE.accessKeyId,
      date: "20261129",
      signedHeaders: ["content-type", "host", "x-amz-content-sha256", "x-amz-date", "x-amz-target"],
    });
  });

  it("accepts header names in any case and repeated spaces in values", async () => {
    const req = await signRequest(URL_BASE, "GenerateDataKey", body, { date: new Date(NOW) });
    const p = parts(req);
    const raw = p.rawHeaders.map((h, i) => (i % 2 === 0 ? h.toUpperCase() : h));
    expect(verifier().verify({ ...p, rawHeaders: raw }).accessKeyId).toBe(ALICE.accessKeyId);
  });

  it("refuses a modified body, a modified signed header and a wrong secret", async () => {
    const req = await signRequest(URL_BASE, "GenerateDataKey", body, { date: new Date(NOW) });
    const p = parts(req);
    expect(refusal(() => verifier().verify({ ...p, body: Buffer.from(body.replace("32", "64")) })).name).toBe(
      "InvalidSignatureException",
    );
    const raw = [...p.rawHeaders];
    raw[raw.indexOf("x-amz-target") + 1] = "TrentService.Decrypt";
    expect(refusal(() => verifier().verify({ ...p, rawHeaders: raw })).message).toMatch(/does not match/);
    const other = await signRequest(URL_BASE, "GenerateDataKey", body, {
      date: new Date(NOW),
      secretAccessKey: "wrong",
    });
    expect(refusal(() => verifier().verify(parts(other))).name).toBe("InvalidSignatureException");
  });

  it("refuses a flipped signature digit and a short signature", async () => {
    const req = await signRequest(URL_BASE, "GenerateDataKey", body, { date: new Date(NOW) });
    const auth = req.headers.authorization as string;
    const last = auth.at(-1) === "0" ? "1" : "0";
    const flipped = { ...req, headers: { ...req.headers, authorization: auth.slice(0, -1) + last } };
    expect(refusal(() => verifier().verify(parts(flipped))).name).toBe("InvalidSignatureException");
    const short = { ...req, headers: { ...req.headers, authorization: auth.slice(0, -2) } };
    expect(refusal(() => verifier().verify(parts(short))).name).toBe("InvalidSignatureException");
  });

  it("checks the scope: region, service, terminator and date", async () => {
    const wrongRegion = await signRequest(URL_BASE, "Encrypt", body, {
      date: new Date(NOW),
      region: "eu-west-1",
    });
    expect(refusal(() => verifier().verify(parts(wrongRegion)))).toEqual({
      name: "InvalidSignatureException",
      message: "Credential should be scoped to a valid region, not 'eu-west-1'.",
    });
    const wrongService = await signRequest(URL_BASE, "Encrypt", body, { date: new Date(NOW), service: "s3" });
    expect(refusal(() => verifier().verify(parts(wrongService))).message).toBe(
      "Credential should be scoped to correct service: 'kms'.",
    );
    const req = await signRequest(URL_BASE, "Encrypt", body, { date: new Date(NOW) });
    const auth = req.headers.authorization as string;
    const otherDate = {
      ...req,
      headers: { ...req.headers, authorization: auth.replace("/20261129/", "/20261128/") },
    };
    expect(refusal(() => verifier().verify(parts(otherDate))).message).toMatch(
      /^Date in Credential scope does not match/,
    );
  });

  it("allows 5 minutes of clock skew each way, not 5 minutes and 1 second", async () => {
    for (const delta of [-300_000, 300_000]) {
      const ok = await signRequest(URL_BASE, "Encrypt", body, { date: new Date(NOW + delta) });
      expect(verifier().verify(parts(ok)).accessKeyId).toBe(ALICE.accessKeyId);
    }
    const old = await signRequest(URL_BASE, "Encrypt", body, { date: new Date(NOW - 301_000) });
    expect(refusal(() => verifier().verify(parts(old)))).toEqual({
      name: "InvalidSignatureException",
      message:
        "Signature expired: 20261129T075459Z is now earlier than 20261129T075500Z (20261129T080000Z - 5 min.)",
    });
    const future = await signRequest(URL_BASE, "Encrypt", body, { date: new Date(NOW + 301_000) });
    expect(refusal(() => verifier().verify(parts(future))).message).toBe(
      "Signature not yet current: 20261129T080501Z is still later than 20261129T080500Z (20261129T080000Z + 5 min.)",
    );
  });

  it("refuses an unknown access key with UnrecognizedClientException", async () => {
    const req = await signRequest(URL_BASE, "Encrypt", body, {
      date: new Date(NOW),
      accessKeyId: "AKIAUNKNOWN000000000",
    });
    expect(refusal(() => verifier().verify(parts(req)))).toEqual({
      name: "UnrecognizedClientException",
      message: "The security token included in the request is invalid.",
    });
  });

  it("requires the Authorization header, its three parts, and host and x-amz-date among the signed headers", async () => {
    const req = await signRequest(URL_BASE, "Encrypt", body, { date: new Date(NOW) });
    const { authorization, ...rest } = req.headers;
    expect(refusal(() => verifier().verify(parts({ ...req, headers: rest }))).name).toBe(
      "MissingAuthenticationTokenException",
    );
    const noSig = {
      ...req,
      headers: { ...req.headers, authorization: (authorization as string).replace(/, Signature=.*/, "") },
    };
    expect(refusal(() => verifier().verify(parts(noSig))).name).toBe("IncompleteSignatureException");
    const noHost = {
      ...req,
      headers: { ...req.headers, authorization: (authorization as string).replace("host;", "") },
    };
    expect(refusal(() => verifier().verify(parts(noHost))).message).toMatch(
      /'Host' or ':authority' must be a 'SignedHeader'/,
    );
    const { "x-amz-date": _, ...noDate } = req.headers;
    expect(refusal(() => verifier().verify(parts({ ...req, headers: noDate }))).name).toBe(
      "IncompleteSignatureException",
    );
    const other = { ...req, headers: { ...req.headers, authorization: "Basic YWxpY2U6c2VjcmV0" } };
    expect(refusal(() => verifier().verify(parts(other))).name).toBe("IncompleteSignatureException");
  });

  it("refuses a body whose x-amz-content-sha256 does not match it", async () => {
    const req = await signRequest(URL_BASE, "Encrypt", body, { date: new Date(NOW) });
    const p = parts({ ...req, headers: { ...req.headers, "x-amz-content-sha256": "0".repeat(64) } });
    expect(refusal(() => verifier().verify(p)).message).toMatch(/x-amz-content-sha256/);
  });
});
