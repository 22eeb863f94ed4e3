// SigV4 verification against what AWS's own signers produce: @smithy/signature-v4 (the JS SDK's) and botocore's
// SigV4Auth (the AWS CLI's and boto3's), for the canonicalisation edge cases each of them handles.

import { execFile, execFileSync } from "node:child_process";
import { createHash, createHmac } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Sha256 } from "@aws-crypto/sha256-js";
import { KMSClient, type KMSServiceException, ListKeysCommand } from "@aws-sdk/client-kms";
import { SignatureV4 } from "@smithy/signature-v4";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createKmsServer, type KmsServer } from "./server.js";
import {
  deriveSigningKey,
  SIGNATURE_MISMATCH_MESSAGE,
  type SignedRequestParts,
  SigV4Verifier,
  sigv4CacheSizes,
} from "./sigv4.js";
import { openTestKms, type TestKms } from "./test-kms.js";
import { ALICE, send } from "./test-support.js";
import { AuthError } from "./wire-errors.js";

const NOW = Date.parse("2026-11-29T08:00:00Z");
const HOST = "127.0.0.1:4600";
const BODY = '{"KeyId":"alias/app","NumberOfBytes":32}';

function verifier(options: { sessionTokenFor?: (id: string) => string | undefined } = {}) {
  return new SigV4Verifier({
    region: "us-east-1",
    secretFor: (id) => (id === ALICE.accessKeyId ? ALICE.secretAccessKey : undefined),
    now: () => NOW,
    ...options,
  });
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

interface Unsigned {
  /** Path and query as on the request line. */
  readonly url: string;
  /** Headers to sign, in order (names repeated for repeated headers). */
  readonly headers: readonly (readonly [string, string])[];
  readonly body?: string;
  readonly sessionToken?: string;
  /** The Host header (default 127.0.0.1:4600). */
  readonly host?: string;
  /** The signing time (default NOW). */
  readonly time?: number;
}

/** Signs with @smithy/signature-v4 and returns what the server would receive. */
async function smithySigned(req: Unsigned): Promise<SignedRequestParts> {
  const signer = new SignatureV4({
    credentials: {
      accessKeyId: ALICE.accessKeyId,
      secretAccessKey: ALICE.secretAccessKey,
      ...(req.sessionToken ? { sessionToken: req.sessionToken } : {}),
    },
    region: "us-east-1",
    service: "kms",
    sha256: Sha256,
  });
  const q = req.url.indexOf("?");
  const query: Record<string, string[]> = {};
  if (q >= 0) {
    for (const [k, v] of new URLSearchParams(req.url.slice(q + 1))) query[k] = [...(query[k] ?? []), v];
  }
  const headers: Record<string, string> = { host: req.host ?? HOST };
  for (const [k, v] of req.headers) headers[k] = v;
  const signed = await signer.sign(
    {
      method: "POST",
      protocol: "http:",
      hostname: "127.0.0.1",
      port: 4600,
      path: q < 0 ? req.url : req.url.slice(0, q),
      query,
      headers,
      body: req.body ?? BODY,
    },
    { signingDate: new Date(req.time ?? NOW) },
  );
  const rawHeaders: string[] = [];
  for (const [k, v] of Object.entries(signed.headers as Record<string, string>)) rawHeaders.push(k, v);
  return { method: "POST", url: req.url, rawHeaders, body: Buffer.from(req.body ?? BODY) };
}

// botocore's SigV4Auth, the signer of the AWS CLI and boto3, with the clock fixed at NOW.
const BOTOCORE_SIGN = `
import json, sys, datetime
import botocore.auth
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
req = json.load(sys.stdin)
fixed = datetime.datetime.fromtimestamp(req["time"] / 1000, datetime.timezone.utc).replace(tzinfo=None)
botocore.auth.get_current_datetime = lambda: fixed
r = AWSRequest(method="POST", url="http://" + req["host"] + req["url"], data=req["body"].encode())
for k, v in req["headers"]:
    r.headers[k] = v
SigV4Auth(Credentials(req["accessKeyId"], req["secret"], req.get("token")), "kms", "us-east-1").add_auth(r)
print(json.dumps(list(r.headers.items())))
`;

function hasBotocore(): boolean {
  try {
    execFileSync("python3", ["-c", "import botocore.auth"], { stdio: "ignore", timeout: 30_000 });
    return true;
  } catch {
    return false;
  }
}
const BOTOCORE = hasBotocore();

/** Signs with botocore and returns what the server would receive (botocore signs Host from the URL). */
function botocoreSigned(req: Unsigned): SignedRequestParts {
  const out = execFileSync("python3", ["-c", BOTOCORE_SIGN], {
    input: JSON.stringify({
      time: NOW,
      host: HOST,
      url: req.url,
      body: req.body ?? BODY,
      headers: req.headers,
      accessKeyId: ALICE.accessKeyId,
      secret: ALICE.secretAccessKey,
      ...(req.sessionToken ? { token: req.sessionToken } : {}),
    }),
    encoding: "utf8",
    timeout: 30_000,
  });
  const rawHeaders = ["Host", HOST, ...(JSON.parse(out) as [string, string][]).flat()];
  return { method: "POST", url: req.url, rawHeaders, body: Buffer.from(req.body ?? BODY) };
}

const KMS_HEADERS = [
  ["Content-Type", "application/x-amz-json-1.1"],
  ["X-Amz-Target", "TrentService.GenerateDataKey"],
] as const;

const signers = [
  ["@smithy/signature-v4", smithySigned],
  ["botocore", async (req: Unsigned) => botocoreSigned(req)],
] as const;

describe.each(signers)("SigV4Verifier against %s", (signer, sign) => {
  it.skipIf(signer === "botocore" && !BOTOCORE)("accepts a plain KMS request", async () => {
    const req = await sign({ url: "/", headers: KMS_HEADERS });
    expect(verifier().verify(req).accessKeyId).toBe(ALICE.accessKeyId);
  });

  const accepted: [string, Unsigned][] = [
    [
      "a signed header whose value has runs of spaces",
      { url: "/", headers: [...KMS_HEADERS, ["X-Note", " a   b  c "]] },
    ],
    [
      "a signed header whose value has a tab inside",
      { url: "/", headers: [...KMS_HEADERS, ["X-Note", "a\tb"]] },
    ],
    [
      "a signed header whose value mixes tabs and spaces",
      { url: "/", headers: [...KMS_HEADERS, ["X-Note", "a \t  b\t\tc"]] },
    ],
    [
      "upper-case header names",
      {
        url: "/",
        headers: [
          ["CONTENT-TYPE", "application/x-amz-json-1.1"],
          ["X-AMZ-TARGET", "TrentService.GenerateDataKey"],
        ],
      },
    ],
    ["an endpoint with a path", { url: "/kms/", headers: KMS_HEADERS }],
    ["a path with dot segments and double slashes", { url: "/a/./b/../c//d", headers: KMS_HEADERS }],
    ["a path with a plus sign", { url: "/a+b/", headers: KMS_HEADERS }],
    ["a path with an encoded space and slash", { url: "/a%20b/c%2Fd", headers: KMS_HEADERS }],
    ["a query string", { url: "/?b=2&a=1&a=0", headers: KMS_HEADERS }],
    ["an empty body", { url: "/", headers: KMS_HEADERS, body: "" }],
  ];
  for (const [what, request] of accepted) {
    it.skipIf(signer === "botocore" && !BOTOCORE)(`accepts ${what}`, async () => {
      const req = await sign(request);
      expect(verifier().verify(req).accessKeyId).toBe(ALICE.accessKeyId);
    });
  }
});

describe("SigV4Verifier: headers the signers leave out or list", () => {
  it("accepts an unsigned content-type and no x-amz-content-sha256 (botocore sends none)", async () => {
    const signer = new SignatureV4({
      credentials: { accessKeyId: ALICE.accessKeyId, secretAccessKey: ALICE.secretAccessKey },
      region: "us-east-1",
      service: "kms",
      sha256: Sha256,
      applyChecksum: false,
    });
    const signed = await signer.sign(
      {
        method: "POST",
        protocol: "http:",
        hostname: "127.0.0.1",
        port: 4600,
        path: "/",
        headers: {
          host: HOST,
          "content-type": "application/x-amz-json-1.1",
          "x-amz-target": "TrentService.ListKeys",
        },
        body: BODY,
      },
      { signingDate: new Date(NOW), unsignableHeaders: new Set(["content-type"]) },
    );
    const rawHeaders = Object.entries(signed.headers as Record<string, string>).flat();
    const verified = verifier().verify({ method: "POST", url: "/", rawHeaders, body: Buffer.from(BODY) });
    expect(verified.signedHeaders).toEqual(["host", "x-amz-date", "x-amz-target"]);
  });

  it("refuses a signed header the request does not carry, and a signed-header list out of order", () => {
    const req = handSigned("20261129T080000Z", [["x-extra", "1"]]);
    const without = req.rawHeaders.slice();
    without.splice(without.indexOf("x-extra"), 2);
    expect(refusal(() => verifier().verify({ ...req, rawHeaders: without }))).toEqual({
      name: "InvalidSignatureException",
      message: SIGNATURE_MISMATCH_MESSAGE,
    });
    const authorization = req.rawHeaders.at(-1) as string;
    const unsorted = authorization.replace("host;x-amz-date", "x-amz-date;host");
    expect(
      refusal(() => verifier().verify({ ...req, rawHeaders: [...req.rawHeaders.slice(0, -1), unsorted] }))
        .name,
    ).toBe("InvalidSignatureException");
  });
});

describe.skipIf(!BOTOCORE)("SigV4Verifier against botocore only", () => {
  it("accepts a repeated header, its values joined with commas", () => {
    const req = botocoreSigned({ url: "/", headers: [...KMS_HEADERS, ["X-Dup", " 1 "], ["X-Dup", "2  3"]] });
    expect(verifier().verify(req).signedHeaders).toContain("x-dup");
  });

  it("accepts a request dated by a signed Date header instead of X-Amz-Date, as botocore sends it", () => {
    // botocore's SigV4Auth._set_necessary_date_headers: given a Date header, it replaces it with the signing time in
    // RFC 2822 form ("Sun, 29 Nov 2026 08:00:00 -0000"), drops X-Amz-Date and signs Date; the string to sign keeps the
    // ISO 8601 basic time. AWS looks for X-Amz-Date, then Date (General Reference, "Handling dates in Signature
    // Version 4"). The verifier answered IncompleteSignatureException.
    const req = botocoreSigned({ url: "/", headers: [...KMS_HEADERS, ["Date", "whatever the caller set"]] });
    const names = req.rawHeaders.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase());
    expect(names).toContain("date");
    expect(names).not.toContain("x-amz-date");
    const verified = verifier().verify(req);
    expect(verified).toMatchObject({ accessKeyId: ALICE.accessKeyId, date: "20261129" });
    expect(verified.signedHeaders).toContain("date");
  });
});

/**
 * A request signed by hand (SigV4's four steps), for what no SDK signer produces: any X-Amz-Date text. With
 * `dateHeader`, the request carries that Date header instead of X-Amz-Date (signed unless `unsignedDate`); `amzDate`
 * is still the time in the string to sign.
 */
function handSigned(
  amzDate: string,
  extra: readonly (readonly [string, string])[] = [],
  options: { dateHeader?: string; unsignedDate?: boolean } = {},
): SignedRequestParts {
  const headers = new Map<string, string>([
    ["host", HOST],
    options.dateHeader === undefined ? ["x-amz-date", amzDate] : ["date", options.dateHeader],
    ["x-amz-target", "TrentService.GenerateDataKey"],
  ]);
  for (const [k, v] of extra) headers.set(k, v);
  const names = [...headers.keys()].sort().filter((n) => !(options.unsignedDate && n === "date"));
  const hash = (s: string) => createHash("sha256").update(s).digest("hex");
  const canonical = `POST\n/\n\n${names.map((n) => `${n}:${headers.get(n)}\n`).join("")}\n${names.join(";")}\n${hash(BODY)}`;
  const date = amzDate.slice(0, 8);
  const scope = `${date}/us-east-1/kms/aws4_request`;
  const key = deriveSigningKey(ALICE.secretAccessKey, date, "us-east-1", "kms");
  const signature = createHmac("sha256", key)
    .update(`AWS4-HMAC-SHA256\n${amzDate}\n${scope}\n${hash(canonical)}`)
    .digest("hex");
  const authorization = `AWS4-HMAC-SHA256 Credential=${ALICE.accessKeyId}/${scope}, SignedHeaders=${names.join(";")}, Signature=${signature}`;
  const rawHeaders = [...[...headers].flat(), "Authorization", authorization];
  return { method: "POST", url: "/", rawHeaders, body: Buffer.from(BODY) };
}

describe("SigV4Verifier: X-Amz-Date", () => {
  it("accepts a well-formed date signed by hand (the helper agrees with the verifier)", () => {
    expect(verifier().verify(handSigned("20261129T080000Z")).date).toBe("20261129");
  });

  it("takes the time from a signed Date header when there is no X-Amz-Date: ISO 8601 basic, or an HTTP date in UTC", () => {
    for (const date of [
      "20261129T080000Z",
      "Sun, 29 Nov 2026 08:00:00 GMT",
      "Sun, 29 Nov 2026 08:00:00 -0000",
      "Sun, 29 Nov 2026 08:00:00 +0000",
    ]) {
      expect(verifier().verify(handSigned("20261129T080000Z", [], { dateHeader: date })).date, date).toBe(
        "20261129",
      );
    }
    // Checked like X-Amz-Date: skew, a date that is not one, the scope's date, and it must be signed.
    expect(
      refusal(() =>
        verifier().verify(
          handSigned("20261129T081000Z", [], { dateHeader: "Sun, 29 Nov 2026 08:10:00 GMT" }),
        ),
      ),
    ).toMatchObject({
      name: "InvalidSignatureException",
      message: expect.stringMatching(/^Signature not yet current/),
    });
    for (const bad of ["Sun, 29 Nov 2026 08:00:00 +0100", "Sun, 31 Nov 2026 08:00:00 GMT", "yesterday"]) {
      expect(
        refusal(() => verifier().verify(handSigned("20261129T080000Z", [], { dateHeader: bad }))),
        bad,
      ).toEqual({
        name: "IncompleteSignatureException",
        message: `Date must be in ISO-8601 'basic format'. Got '${bad}'.`,
      });
    }
    const unsigned = handSigned("20261129T080000Z", [], {
      dateHeader: "20261129T080000Z",
      unsignedDate: true,
    });
    expect(refusal(() => verifier().verify(unsigned))).toEqual({
      name: "IncompleteSignatureException",
      message: "Authorization header requires existence of a signed 'Date' header.",
    });
    // X-Amz-Date first: a Date header next to it is not the request's time.
    const both = handSigned("20261129T080000Z", [["date", "Mon, 01 Jan 2024 00:00:00 GMT"]]);
    expect(verifier().verify(both).date).toBe("20261129");
  });

  it("refuses a request with neither X-Amz-Date nor Date in AWS's words", () => {
    const req = handSigned("20261129T080000Z");
    const at = req.rawHeaders.indexOf("x-amz-date");
    const rawHeaders = [...req.rawHeaders.slice(0, at), ...req.rawHeaders.slice(at + 2)];
    expect(refusal(() => verifier().verify({ ...req, rawHeaders }))).toEqual({
      name: "IncompleteSignatureException",
      message: "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.",
    });
  });

  it("names the configured skew in its messages, not always 5 minutes", () => {
    const v = new SigV4Verifier({
      region: "us-east-1",
      secretFor: () => ALICE.secretAccessKey,
      maxSkewMs: 15 * 60_000,
      now: () => NOW,
    });
    expect(v.verify(handSigned("20261129T074500Z")).date).toBe("20261129");
    expect(refusal(() => v.verify(handSigned("20261129T074459Z"))).message).toBe(
      "Signature expired: 20261129T074459Z is now earlier than 20261129T074500Z (20261129T080000Z - 15 min.)",
    );
    expect(refusal(() => v.verify(handSigned("20261129T081501Z"))).message).toBe(
      "Signature not yet current: 20261129T081501Z is still later than 20261129T081500Z (20261129T080000Z + 15 min.)",
    );
  });

  it("refuses a date that is not a calendar date, even one that rolls over to the server's time", () => {
    // 2026-11-28 32:00:00 is 2026-11-29 08:00:00 once Date.UTC rolls the hours over.
    for (const bad of [
      "20261128T320000Z",
      "20261130T-10000Z",
      "20261329T080000Z",
      "20261100T080000Z",
      "20261131T080000Z",
      "20261129T086000Z",
    ]) {
      expect(refusal(() => verifier().verify(handSigned(bad)))).toEqual({
        name: "IncompleteSignatureException",
        message: `Date must be in ISO-8601 'basic format'. Got '${bad}'.`,
      });
    }
  });
});

const TOKEN = "IQoJb3JpZ2luX2VjEXAMPLEsessiontoken//////////wEaCXVzLWVhc3QtMSJHMEUCIQ";
const tokenFor = (id: string) => (id === ALICE.accessKeyId ? TOKEN : undefined);
/** Temporary credentials of an assumed-role session, as a credentials file entry with its session token. */
const SESSION = {
  accessKeyId: "ASIAEXAMPLESESSION01",
  secretAccessKey: "session-secret-0000000000000000000000000",
  principal: "arn:aws:sts::111122223333:assumed-role/Developer/alice-session",
  sessionToken: "FwoGZXIvYXdzEXAMPLESESSIONTOKEN0000000000",
};

const INVALID_TOKEN = {
  name: "UnrecognizedClientException",
  message: "The security token included in the request is invalid.",
};

describe.each(signers)(
  "SigV4Verifier: session tokens (X-Amz-Security-Token) signed by %s",
  (signer, sign) => {
    const skip = signer === "botocore" && !BOTOCORE;

    it.skipIf(skip)("accepts temporary credentials whose token is the key's, signed", async () => {
      const req = await sign({ url: "/", headers: KMS_HEADERS, sessionToken: TOKEN });
      const verified = verifier({ sessionTokenFor: tokenFor }).verify(req);
      expect(verified.signedHeaders).toContain("x-amz-security-token");
    });

    it.skipIf(skip)(
      "refuses a token for a long-term key (it was ignored: the request ran as the key)",
      async () => {
        const req = await sign({ url: "/", headers: KMS_HEADERS, sessionToken: TOKEN });
        expect(refusal(() => verifier().verify(req))).toEqual(INVALID_TOKEN);
        expect(refusal(() => verifier({ sessionTokenFor: () => undefined }).verify(req))).toEqual(
          INVALID_TOKEN,
        );
      },
    );

    it.skipIf(skip)("refuses a wrong token and a missing one for a key that has a token", async () => {
      const wrong = await sign({ url: "/", headers: KMS_HEADERS, sessionToken: `${TOKEN.slice(0, -1)}R` });
      expect(refusal(() => verifier({ sessionTokenFor: tokenFor }).verify(wrong))).toEqual(INVALID_TOKEN);
      const none = await sign({ url: "/", headers: KMS_HEADERS });
      expect(refusal(() => verifier({ sessionTokenFor: tokenFor }).verify(none))).toEqual(INVALID_TOKEN);
    });
  },
);

describe("SigV4Verifier: session tokens, by hand", () => {
  it("refuses the right token when it is not signed", () => {
    const req = handSigned("20261129T080000Z");
    const unsigned = { ...req, rawHeaders: [...req.rawHeaders, "X-Amz-Security-Token", TOKEN] };
    expect(refusal(() => verifier({ sessionTokenFor: tokenFor }).verify(unsigned))).toEqual({
      name: "IncompleteSignatureException",
      message: "'X-Amz-Security-Token' must be a 'SignedHeader' in the AWS Authorization.",
    });
  });

  it("accepts the right token signed by hand", () => {
    const req = handSigned("20261129T080000Z", [["x-amz-security-token", TOKEN]]);
    expect(verifier({ sessionTokenFor: tokenFor }).verify(req).accessKeyId).toBe(ALICE.accessKeyId);
  });
});

describe("SigV4Verifier: what a refused request can make it keep or say", () => {
  it("refused requests add nothing to the parse caches; a verified one adds its scope and header list once", () => {
    const v = verifier();
    const before = sigv4CacheSizes();
    const good = handSigned("20261129T080000Z", [["x-cache-probe", String(Math.random())]]);
    const authorization = good.rawHeaders.at(-1) as string;
    for (let i = 0; i < 300; i++) {
      // A distinct credential and signed-header list each time: unknown keys, bad scopes, bad signatures.
      const forged = authorization
        .replace(
          ALICE.accessKeyId,
          i % 3 === 0 ? `AKIAFORGED${String(i).padStart(10, "0")}` : ALICE.accessKeyId,
        )
        .replace("/kms/", i % 3 === 1 ? `/kms${i}/` : "/kms/")
        .replace("SignedHeaders=", `SignedHeaders=a${String(i).padStart(4, "0")};`);
      const req = { ...good, rawHeaders: [...good.rawHeaders.slice(0, -1), forged] };
      expect(() => v.verify(req)).toThrow(AuthError);
    }
    expect(sigv4CacheSizes()).toEqual(before);
    v.verify(good);
    v.verify(good);
    const after = sigv4CacheSizes();
    expect(after.scopes - before.scopes).toBeLessThanOrEqual(1);
    expect(after.signedLists - before.signedLists).toBe(1);
  });

  it("refuses a repeated Authorization parameter and a repeated Authorization header", () => {
    const req = handSigned("20261129T080000Z");
    const authorization = req.rawHeaders.at(-1) as string;
    const signature = /Signature=(\w+)/.exec(authorization)?.[1] as string;
    const other = `AKIAFORGED0000000000/20261129/us-east-1/kms/aws4_request`;
    for (const [forged, parameter] of [
      [`${authorization}, Credential=${other}`, "Credential"],
      [`${authorization.replace("Signature=", `Signature=${"0".repeat(64)}, Signature=`)}`, "Signature"],
      [`${authorization}, SignedHeaders=host`, "SignedHeaders"],
    ] as const) {
      expect(
        refusal(() => verifier().verify({ ...req, rawHeaders: [...req.rawHeaders.slice(0, -1), forged] })),
      ).toEqual({
        name: "IncompleteSignatureException",
        message: `Authorization header has more than one '${parameter}' parameter.`,
      });
    }
    const twice = [...req.rawHeaders, "Authorization", authorization.replace(signature, "0".repeat(64))];
    expect(refusal(() => verifier().verify({ ...req, rawHeaders: twice })).name).toBe(
      "IncompleteSignatureException",
    );
  });

  it("echoes at most the start of a long scope part in its message", () => {
    const req = handSigned("20261129T080000Z");
    const authorization = req.rawHeaders.at(-1) as string;
    const long = "r".repeat(10_000);
    for (const forged of [
      authorization.replace("/us-east-1/", `/${long}/`),
      authorization.replace("/aws4_request", `/${long}`),
      authorization.replace("/20261129/", `/${long}/`),
      authorization.replace("/kms/", `/kms/${long}/`),
    ]) {
      const message = refusal(() =>
        verifier().verify({ ...req, rawHeaders: [...req.rawHeaders.slice(0, -1), forged] }),
      ).message;
      expect(message.length).toBeLessThan(300);
    }
  });
});

function hasCommand(file: string, args: string[]): boolean {
  try {
    execFileSync(file, args, { stdio: "ignore", timeout: 30_000 });
    return true;
  } catch {
    return false;
  }
}
const AWS_CLI = hasCommand("aws", ["--version"]);

describe("the real clients against the server: authentication", { timeout: 120_000 }, () => {
  let dir: string;
  let kms: TestKms;
  let server: KmsServer;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "sealkit-kms-sigv4-"));
    kms = await openTestKms(join(dir, "kms"));
    server = createKmsServer({ kms: kms.kms, credentials: [ALICE, SESSION], region: "us-east-1" });
    await server.listen(0, "127.0.0.1");
  });
  afterAll(async () => {
    await server?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  function client(options: {
    path?: string;
    region?: string;
    secretAccessKey?: string;
    accessKeyId?: string;
    sessionToken?: string;
    systemClockOffset?: number;
  }): KMSClient {
    return new KMSClient({
      endpoint: `${server.url}${options.path ?? ""}`,
      region: options.region ?? "us-east-1",
      credentials: {
        accessKeyId: options.accessKeyId ?? ALICE.accessKeyId,
        secretAccessKey: options.secretAccessKey ?? ALICE.secretAccessKey,
        ...(options.sessionToken ? { sessionToken: options.sessionToken } : {}),
      },
      maxAttempts: 1,
      ...(options.systemClockOffset ? { systemClockOffset: options.systemClockOffset } : {}),
    });
  }

  async function failure(
    c: KMSClient,
  ): Promise<{ name: string; status: number | undefined; message: string }> {
    try {
      await c.send(new ListKeysCommand({}));
    } catch (e) {
      const err = e as KMSServiceException;
      return { name: err.name, status: err.$metadata?.httpStatusCode, message: err.message };
    } finally {
      c.destroy();
    }
    throw new Error("expected the call to fail");
  }

  it("@aws-sdk/client-kms: an endpoint whose path has a + and an escape in it", async () => {
    const c = client({ path: "/kms+local/a%20b/" });
    try {
      expect((await c.send(new ListKeysCommand({}))).Keys).toBeDefined();
    } finally {
      c.destroy();
    }
  });

  it("@aws-sdk/client-kms: each refusal with AWS's name, status 400 and message", async () => {
    expect(await failure(client({ sessionToken: "FwoGZXIvYXdzEXAMPLE" }))).toEqual({
      status: 400,
      ...INVALID_TOKEN,
    });
    expect(await failure(client({ accessKeyId: "AKIAUNKNOWN000000000" }))).toEqual({
      status: 400,
      ...INVALID_TOKEN,
    });
    // Access key ids are compared as given: AWS's are upper case, and a lower-cased one is another, unknown, key.
    expect(await failure(client({ accessKeyId: ALICE.accessKeyId.toLowerCase() }))).toEqual({
      status: 400,
      ...INVALID_TOKEN,
    });
    expect(await failure(client({ secretAccessKey: "wrong" }))).toEqual({
      name: "InvalidSignatureException",
      status: 400,
      message: SIGNATURE_MISMATCH_MESSAGE,
    });
    expect(await failure(client({ region: "eu-west-1" }))).toEqual({
      name: "InvalidSignatureException",
      status: 400,
      message: "Credential should be scoped to a valid region, not 'eu-west-1'.",
    });
    const expired = await failure(client({ systemClockOffset: -600_000 }));
    expect(expired.name).toBe("InvalidSignatureException");
    expect(expired.message).toMatch(
      /^Signature expired: \d{8}T\d{6}Z is now earlier than \d{8}T\d{6}Z \(\d{8}T\d{6}Z - 5 min\.\)$/,
    );
    const future = await failure(client({ systemClockOffset: 600_000 }));
    expect(future.message).toMatch(/^Signature not yet current: \d{8}T\d{6}Z is still later than/);
  });

  it("a signed header with a tab in its value, over HTTP through the server's own parser", async () => {
    const signed = await smithySigned({
      url: "/",
      headers: [
        ["Content-Type", "application/x-amz-json-1.1"],
        ["X-Amz-Target", "TrentService.ListKeys"],
        ["X-Note", "a\t \tb"],
      ],
      body: "{}",
      host: server.url.slice("http://".length),
      time: Date.now(),
    });
    const headers: Record<string, string> = {};
    for (let i = 0; i < signed.rawHeaders.length; i += 2) {
      headers[signed.rawHeaders[i] as string] = signed.rawHeaders[i + 1] as string;
    }
    const res = await send(server.url, { method: "POST", path: "/", headers, body: "{}" });
    expect(res.status).toBe(200);
    expect(res.json().Keys).toBeDefined();
  });

  it("temporary credentials from the credentials file: the SDK must present the key's session token", async () => {
    const withToken = client({ ...SESSION });
    try {
      expect((await withToken.send(new ListKeysCommand({}))).Keys).toBeDefined();
    } finally {
      withToken.destroy();
    }
    const { sessionToken: _, ...longTerm } = SESSION;
    expect(await failure(client(longTerm))).toEqual({ status: 400, ...INVALID_TOKEN });
    expect(await failure(client({ ...SESSION, sessionToken: `${SESSION.sessionToken}x` }))).toEqual({
      status: 400,
      ...INVALID_TOKEN,
    });
  });

  /** `aws kms list-keys` against the server with these credentials in the environment only. */
  function awsListKeys(credentials: {
    accessKeyId: string;
    secretAccessKey: string;
    sessionToken: string;
  }): Promise<{ code: number; stderr: string }> {
    return new Promise((resolve) => {
      execFile(
        "aws",
        ["kms", "list-keys", "--endpoint-url", server.url],
        {
          env: {
            PATH: process.env.PATH,
            HOME: dir,
            AWS_CONFIG_FILE: join(dir, "none"),
            AWS_SHARED_CREDENTIALS_FILE: join(dir, "none"),
            AWS_EC2_METADATA_DISABLED: "true",
            AWS_ACCESS_KEY_ID: credentials.accessKeyId,
            AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
            AWS_SESSION_TOKEN: credentials.sessionToken,
            AWS_DEFAULT_REGION: "us-east-1",
          },
          timeout: 60_000,
        },
        (error, _stdout, stderr) => resolve({ code: error ? Number(error.code) : 0, stderr }),
      );
    });
  }

  it.skipIf(!BOTOCORE)(
    "boto3 with a Date header set by the caller: signed with Date instead of X-Amz-Date, answered",
    async () => {
      // A before-sign hook stands for any code that sets Date (a proxy library, a caller's own headers): botocore then
      // sends "Date: <RFC 2822 time>" and no X-Amz-Date. The server answered IncompleteSignatureException.
      const code = `
import boto3, json, sys
from botocore.config import Config
kms = boto3.client("kms", endpoint_url=sys.argv[1], region_name="us-east-1", aws_access_key_id=sys.argv[2],
                   aws_secret_access_key=sys.argv[3], config=Config(retries={"max_attempts": 1}))
sent = {}
def add_date(request, **kwargs):
    request.headers["Date"] = "set by the caller"
def record(request, **kwargs):
    sent.update({k.lower(): v.decode() if isinstance(v, bytes) else v for k, v in request.headers.items()})
kms.meta.events.register("before-sign.kms.*", add_date)
kms.meta.events.register("before-send.kms.*", record)
keys = kms.list_keys()["Keys"]
print(json.dumps({"keys": len(keys), "date": sent.get("date"), "x-amz-date": sent.get("x-amz-date")}))
`;
      const out = await new Promise<string>((resolve, reject) =>
        execFile(
          "python3",
          ["-c", code, server.url, ALICE.accessKeyId, ALICE.secretAccessKey],
          { timeout: 60_000, env: { PATH: process.env.PATH, HOME: dir, AWS_CONFIG_FILE: join(dir, "none") } },
          (error, stdout, stderr) => (error ? reject(new Error(stderr)) : resolve(stdout)),
        ),
      );
      const result = JSON.parse(out) as { keys: number; date: string | null; "x-amz-date": string | null };
      expect(result.date).toMatch(/^\w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} -0000$/);
      expect(result["x-amz-date"]).toBeNull();
      expect(result.keys).toBeGreaterThanOrEqual(0);
    },
  );

  it.skipIf(!AWS_CLI)("the AWS CLI with AWS_SESSION_TOKEN for temporary credentials: answered", async () => {
    const { code, stderr } = await awsListKeys(SESSION);
    expect(code, stderr).toBe(0);
  });

  it.skipIf(!AWS_CLI)(
    "the AWS CLI with AWS_SESSION_TOKEN for a long-term key: UnrecognizedClientException",
    async () => {
      const { code, stderr } = await awsListKeys({ ...ALICE, sessionToken: "FwoGZXIvYXdzEXAMPLE" });
      // A service error: 254 from CLI v2, 255 from v1 (its code for every failed command).
      expect([254, 255], stderr).toContain(code);
      expect(stderr).toContain(
        "An error occurred (UnrecognizedClientException) when calling the ListKeys operation: The security token included in the request is invalid.",
      );
    },
  );
});
