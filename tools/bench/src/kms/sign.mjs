// A small SigV4 signer (node:crypto) for pre-signing the KMS requests the load generator replays.

import { createHash, createHmac } from "node:crypto";

const sha256 = (data) => createHash("sha256").update(data).digest("hex");
const hmac = (key, data) => createHmac("sha256", key).update(data).digest();

/** `YYYYMMDDTHHMMSSZ` of a Date. */
export function amzDate(date) {
  return date
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d{3}/, "");
}

/**
 * Signs `POST /` with X-Amz-Target `TrentService.<operation>` and returns the headers to send (host included).
 * @param {{ url: string, operation: string, body: string, accessKeyId: string, secretAccessKey: string, region?: string, date?: Date }} r
 */
export function signKmsRequest(r) {
  const region = r.region ?? "us-east-1";
  const host = new URL(r.url).host;
  const date = amzDate(r.date ?? new Date());
  const day = date.slice(0, 8);
  const headers = {
    "content-type": "application/x-amz-json-1.1",
    host,
    "x-amz-date": date,
    "x-amz-target": `TrentService.${r.operation}`,
  };
  const names = Object.keys(headers).sort();
  const canonical = [
    "POST",
    "/",
    "",
    ...names.map((n) => `${n}:${headers[n]}`),
    "",
    names.join(";"),
    sha256(r.body),
  ].join("\n");
  const scope = `${day}/${region}/kms/aws4_request`;
  const toSign = `AWS4-HMAC-SHA256\n${date}\n${scope}\n${sha256(canonical)}`;
  const key = hmac(hmac(hmac(hmac(`AWS4${r.secretAccessKey}`, day), region), "kms"), "aws4_request");
  const signature = createHmac("sha256", key).update(toSign).digest("hex");
  return {
    ...headers,
    authorization: `AWS4-HMAC-SHA256 Credential=${r.accessKeyId}/${scope}, SignedHeaders=${names.join(";")}, Signature=${signature}`,
  };
}

/**
 * The server's SigV4 verifier for one credential and the bench's GenerateDataKey request signed with it, as the
 * parts `verify` takes: for measuring verification without HTTP.
 * @param {new (options: object) => { verify(parts: object): unknown }} Verifier the server's SigV4Verifier
 * @param {{ accessKeyId: string, secretAccessKey: string }} credential
 */
export function signedVerifyCase(Verifier, credential) {
  const verifier = new Verifier({
    region: "us-east-1",
    secretFor: (id) => (id === credential.accessKeyId ? credential.secretAccessKey : undefined),
  });
  const body = JSON.stringify({
    KeyId: "alias/bench",
    KeySpec: "AES_256",
    EncryptionContext: { tenant: "bench" },
  });
  const headers = signKmsRequest({
    url: "http://127.0.0.1:4600",
    operation: "GenerateDataKey",
    body,
    ...credential,
  });
  const parts = {
    method: "POST",
    url: "/",
    rawHeaders: Object.entries(headers).flat(),
    body: Buffer.from(body),
  };
  return { verifier, parts };
}
