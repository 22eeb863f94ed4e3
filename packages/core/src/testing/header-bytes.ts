// Test-only: builders of valid and deliberately malformed headers for the codec's tests.

import { concatBytes, utf8 } from "../bytes.js";
import { encodeAuthenticatedHeader, encodeHeader } from "../header.js";
import { AES_256_GCM, type Suite } from "../suites.js";
import type { EncryptedDataKey, EncryptionContext } from "../types.js";

export const EDK: EncryptedDataKey = {
  providerId: "raw",
  keyId: "k1",
  ciphertext: new Uint8Array(60).fill(0xee),
};

/** A valid header (commitment and tag are placeholders: the codec does not check them). */
export function validHeader(
  options: { suite?: Suite; frameSize?: number; context?: EncryptionContext; keys?: EncryptedDataKey[] } = {},
): Uint8Array {
  const authenticated = encodeAuthenticatedHeader({
    suite: options.suite ?? AES_256_GCM,
    frameSize: options.frameSize ?? 64,
    messageId: new Uint8Array(32).fill(0xaa),
    context: options.context ?? { a: "1" },
  });
  return encodeHeader(
    authenticated,
    new Uint8Array(32).fill(0xcc),
    new Uint8Array(16).fill(0xdd),
    options.keys ?? [EDK],
  );
}

/** u16 big-endian. */
export function u16(n: number): Uint8Array {
  return new Uint8Array([n >> 8, n & 0xff]);
}

/** u32 big-endian. */
export function u32(n: number): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, n);
  return out;
}

/** A header assembled from raw parts, for malformed cases. */
export function rawHeader(parts: {
  magic?: Uint8Array;
  version?: number;
  suite?: number;
  frameSize?: number;
  context?: Uint8Array;
  contextLength?: number;
  edkSection?: Uint8Array;
}): Uint8Array {
  const context = parts.context ?? u16(0);
  return concatBytes(
    parts.magic ?? utf8("SLKT"),
    new Uint8Array([parts.version ?? 1]),
    u16(parts.suite ?? 2),
    u32(parts.frameSize ?? 64),
    new Uint8Array(32).fill(0xaa),
    u16(parts.contextLength ?? context.length),
    context,
    new Uint8Array(32).fill(0xcc),
    new Uint8Array(16).fill(0xdd),
    parts.edkSection ??
      concatBytes(u16(1), u16(3), utf8("raw"), u16(2), utf8("k1"), u16(1), new Uint8Array([7])),
  );
}

/** One encoded encrypted data key from raw field bytes. */
export function edkBytes(providerId: Uint8Array, keyId: Uint8Array, ciphertext: Uint8Array): Uint8Array {
  return concatBytes(
    u16(providerId.length),
    providerId,
    u16(keyId.length),
    keyId,
    u16(ciphertext.length),
    ciphertext,
  );
}
