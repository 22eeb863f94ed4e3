// openapi.yaml is the contract other clients are generated from: every status the handler answers on an
// operation, and every code in an error body, must be listed there.

import { rawKeyProvider, SealkitError, type SealkitErrorCode } from "@sealkit/core";
import { expect, it } from "vitest";
import { createDataKeyHandler } from "./data-key-handler.js";

/** The response statuses openapi.yaml lists under `path`, and the error codes its Error schema names. */
async function documented(): Promise<{ statuses: Record<string, Set<number>>; codes: Set<string> }> {
  // A variable specifier keeps the compiler out of Vite's `?raw` query (this package has no Vite types).
  const file = "../openapi.yaml?raw";
  const { default: yaml } = (await import(/* @vite-ignore */ file)) as { default: string };
  const statuses: Record<string, Set<number>> = {};
  // Each path is a two-space-indented key under `paths:`, up to the next one or `components:`.
  for (const [, path, block] of yaml.matchAll(/^ {2}(\/[^:]*):\n([\s\S]*?)(?=^ {2}\/|^components:)/gm)) {
    statuses[path!] = new Set([...block!.matchAll(/^ {8}"(\d{3})":/gm)].map((m) => Number(m[1])));
  }
  const codes = new Set([...yaml.matchAll(/^ {16}- (ERR_[A-Z_]+)$/gm)].map((m) => m[1]!));
  return { statuses, codes };
}

const server = rawKeyProvider({ keyId: "k", key: new Uint8Array(32).fill(3) });

it("lists every status and error code the handler answers, per operation", async () => {
  const { statuses, codes } = await documented();
  expect(Object.keys(statuses)).toEqual(["/data-keys", "/data-keys/decrypt"]);

  let failWith: unknown;
  const fail = async (): Promise<never> => {
    throw failWith;
  };
  const handler = createDataKeyHandler({
    provider: { ...server, generateDataKey: fail, decryptDataKey: fail },
    authorize: (request) => (request.headers.get("authorization") === "ok" ? { principal: "p" } : null),
    rateLimit: { perSecond: 1e-9, burst: 1_000 },
    maxBodyBytes: 1024,
  });
  const bodies: Record<string, unknown> = {
    "/data-keys": { context: {} },
    "/data-keys/decrypt": {
      context: {},
      encryptedDataKey: { providerId: "raw", keyId: "k", ciphertext: "AAAA" },
    },
  };
  const answered = (
    path: string,
    init: { method?: string; headers?: Record<string, string>; body?: string },
  ) =>
    handler(
      new Request(`https://app.example${path}`, {
        method: init.method ?? "POST",
        headers: {
          "content-type": "application/json",
          "x-sealkit-request": "1",
          authorization: "ok",
          ...init.headers,
        },
        ...(init.method === "GET" ? {} : { body: init.body ?? JSON.stringify(bodies[path]) }),
      }),
    );

  for (const path of Object.keys(bodies)) {
    const seen = new Map<number, string>();
    const record = async (response: Response) => {
      const { error } = (await response.json()) as { error: { code: string } };
      seen.set(response.status, error.code);
      expect(codes, `${path} ${response.status}`).toContain(error.code);
    };
    await record(await answered(path, { method: "GET" }));
    await record(await answered(path, { headers: { "content-type": "text/plain" } }));
    await record(
      await answered(path, {
        body: JSON.stringify({ context: { pad: "x".repeat(1000) } }) + " ".repeat(100),
      }),
    );
    await record(await answered(path, { body: "{" }));
    await record(await answered(path, { headers: { authorization: "no" } }));
    const providerCodes: SealkitErrorCode[] = [
      "ERR_REQUEST_INVALID",
      "ERR_ACCESS_DENIED",
      "ERR_KEY_NOT_FOUND",
      "ERR_KEY_DISABLED",
      "ERR_RATE_LIMITED",
      "ERR_THROTTLED",
      "ERR_PROVIDER_UNAVAILABLE",
      "ERR_HSM_LOGIN_FAILED",
    ];
    for (const code of providerCodes) {
      failWith = new SealkitError(code, "from the provider");
      await record(await answered(path, {}));
    }
    failWith = new TypeError("a bug");
    await record(await answered(path, {}));
    const missing = [...seen.keys()].filter((status) => !statuses[path]!.has(status)).sort();
    expect(missing, `statuses ${path} answers but openapi.yaml does not list`).toEqual([]);
  }
});
