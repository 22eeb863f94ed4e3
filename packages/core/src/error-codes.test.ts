// Every error code: a case in core that produces it, or the package whose tests produce it (docs/ERRORS.md).

import { describe, expect, it } from "vitest";
import { cachingProvider } from "./caching-provider.js";
import { encodeContext } from "./context.js";
import { generateEnvelopeDataKey, openEnvelopeDataKey } from "./data-keys.js";
import {
  AUTHENTICATION_FAILED_MESSAGE,
  authenticationFailed,
  SealkitError,
  type SealkitErrorCode,
} from "./errors.js";
import { bodyLayout } from "./frames.js";
import { parseHeader } from "./header.js";
import { rawKeyProvider } from "./raw-provider.js";
import { rewrapEnvelopeHeader } from "./rewrap.js";
import { suiteByName } from "./suites.js";
import { openAes, sealAes } from "./testing/aes-envelope.js";
import { rawHeader, u16, validHeader } from "./testing/header-bytes.js";
import type { KeyProvider } from "./types.js";

const raw = rawKeyProvider({ keyId: "k", key: new Uint8Array(32).fill(1) });
const other = rawKeyProvider({ keyId: "other", key: new Uint8Array(32).fill(2) });

async function codeOf(fn: () => unknown): Promise<string> {
  try {
    await fn();
  } catch (error) {
    return SealkitError.isInstance(error) ? error.code : String(error);
  }
  return "no error";
}

/** A case in core for each code core can produce. */
const inCore: Partial<Record<SealkitErrorCode, () => unknown>> = {
  ERR_ENVELOPE_MALFORMED: () => parseHeader(rawHeader({ edkSection: u16(0) })),
  ERR_UNSUPPORTED_VERSION: () => parseHeader(rawHeader({ version: 2 })),
  ERR_UNSUPPORTED_SUITE: () => parseHeader(rawHeader({ suite: 9 })),
  ERR_FRAME_SIZE: () => parseHeader(rawHeader({ frameSize: 63 })),
  ERR_LIMIT_EXCEEDED: () => encodeContext({ big: "x".repeat(65_536) }),
  ERR_TOO_MANY_ENCRYPTED_DATA_KEYS: () =>
    parseHeader(rawHeader({ edkSection: u16(2) }), { maxEncryptedDataKeys: 1 }),
  ERR_TRUNCATED: () => parseHeader(validHeader().subarray(0, 50)),
  ERR_AUTHENTICATION_FAILED: async () => {
    // A substituted encrypted data key opens to another data key: the commitment does not match.
    const a = await sealAes(new Uint8Array(10), [raw]);
    const b = await sealAes(new Uint8Array(10), [raw]);
    const ha = parseHeader(a);
    const hb = parseHeader(b);
    const forged = new Uint8Array([
      ...a.subarray(0, ha.authenticatedBytes.length + 48),
      ...b.subarray(hb.authenticatedBytes.length + 48, hb.length),
    ]);
    await rewrapEnvelopeHeader(forged, { providers: [raw], add: [other] });
  },
  ERR_NO_DECRYPTABLE_KEY: async () => {
    const dk = await generateEnvelopeDataKey([raw], { context: {}, suite: "AES_256_GCM" });
    await openEnvelopeDataKey(
      dk.encryptedDataKeys,
      [rawKeyProvider({ keyId: "k", key: new Uint8Array(32) })],
      {
        context: {},
      },
    );
  },
  ERR_INVALID_CIPHERTEXT: async () => {
    const [edk] = await raw.encryptDataKey({ plaintext: new Uint8Array(32), context: { a: "1" } });
    await raw.decryptDataKey({ encryptedDataKey: edk!, context: { a: "2" } });
  },
  ERR_PROVIDER_UNAVAILABLE: async () => {
    const short: KeyProvider = {
      ...raw,
      providerId: "raw",
      generateDataKey: async () => ({ plaintext: new Uint8Array(8), encryptedDataKeys: [] }),
    };
    await cachingProvider(short).generateDataKey({ length: 32, context: {}, plaintextLength: 1 });
  },
};

/** Codes core never throws itself, and the package whose tests produce each. */
const elsewhere: Partial<Record<SealkitErrorCode, string>> = {
  ERR_CONTEXT_MISMATCH: "@sealkit/cipher (decrypt with expectContext)",
  ERR_ACCESS_DENIED: "@sealkit/kms-local, @sealkit/kms-aws, @sealkit/remote",
  ERR_KEY_DISABLED: "@sealkit/kms-local, @sealkit/kms-aws",
  ERR_KEY_NOT_FOUND: "@sealkit/kms-local, @sealkit/kms-aws, @sealkit/kms-cloudhsm",
  ERR_THROTTLED: "@sealkit/kms-aws",
  ERR_HSM_LOGIN_FAILED: "@sealkit/kms-cloudhsm",
  ERR_REQUEST_INVALID: "@sealkit/remote, @sealkit/kms-local (server)",
  ERR_RATE_LIMITED: "@sealkit/remote",
};

// The compiler checks that every code of the closed union has an owner here.
const owners: Record<SealkitErrorCode, "core" | string> = {
  ERR_ENVELOPE_MALFORMED: "core",
  ERR_UNSUPPORTED_VERSION: "core",
  ERR_UNSUPPORTED_SUITE: "core",
  ERR_FRAME_SIZE: "core",
  ERR_LIMIT_EXCEEDED: "core",
  ERR_TOO_MANY_ENCRYPTED_DATA_KEYS: "core",
  ERR_AUTHENTICATION_FAILED: "core",
  ERR_TRUNCATED: "core",
  ERR_CONTEXT_MISMATCH: elsewhere.ERR_CONTEXT_MISMATCH!,
  ERR_NO_DECRYPTABLE_KEY: "core",
  ERR_ACCESS_DENIED: elsewhere.ERR_ACCESS_DENIED!,
  ERR_KEY_DISABLED: elsewhere.ERR_KEY_DISABLED!,
  ERR_KEY_NOT_FOUND: elsewhere.ERR_KEY_NOT_FOUND!,
  ERR_THROTTLED: elsewhere.ERR_THROTTLED!,
  ERR_INVALID_CIPHERTEXT: "core",
  ERR_PROVIDER_UNAVAILABLE: "core",
  ERR_HSM_LOGIN_FAILED: elsewhere.ERR_HSM_LOGIN_FAILED!,
  ERR_REQUEST_INVALID: elsewhere.ERR_REQUEST_INVALID!,
  ERR_RATE_LIMITED: elsewhere.ERR_RATE_LIMITED!,
};

describe("every error code", () => {
  for (const [code, owner] of Object.entries(owners) as [SealkitErrorCode, string][]) {
    if (owner === "core") {
      it(`${code}: produced by core`, async () => {
        const fn = inCore[code];
        expect(fn, `a core case for ${code}`).toBeTypeOf("function");
        expect(await codeOf(fn!)).toBe(code);
      });
    } else {
      it(`${code}: covered by ${owner}`, () => {
        expect(inCore[code]).toBeUndefined();
      });
    }
  }

  it("frame-level failures in core's test opener are ERR_AUTHENTICATION_FAILED / ERR_TRUNCATED", async () => {
    const envelope = await sealAes(new Uint8Array(100), [raw]);
    const flipped = envelope.slice();
    flipped[flipped.length - 1]! ^= 1;
    expect(await codeOf(() => openAes(flipped, [raw]))).toBe("ERR_AUTHENTICATION_FAILED");
    expect(await codeOf(() => openAes(envelope.subarray(0, parseHeader(envelope).length + 10), [raw]))).toBe(
      "ERR_TRUNCATED",
    );
    expect(await codeOf(() => bodyLayout(5, 64))).toBe("ERR_TRUNCATED");
  });

  it("authentication failures all carry one message", () => {
    expect(authenticationFailed().message).toBe(AUTHENTICATION_FAILED_MESSAGE);
    expect(authenticationFailed(new Error("x")).message).toBe(AUTHENTICATION_FAILED_MESSAGE);
  });

  it("SealkitError.isInstance works across copies and narrows by code", () => {
    const copy = Object.assign(Object.create(null), {
      [Symbol.for("sealkit.error")]: true,
      code: "ERR_TRUNCATED",
    });
    expect(SealkitError.isInstance(copy)).toBe(true);
    expect(SealkitError.isInstance(copy, "ERR_TRUNCATED")).toBe(true);
    expect(SealkitError.isInstance(copy, "ERR_FRAME_SIZE")).toBe(false);
    expect(SealkitError.isInstance(new Error("x"))).toBe(false);
    expect(() => suiteByName("DES")).toThrow(expect.objectContaining({ code: "ERR_UNSUPPORTED_SUITE" }));
  });
});
