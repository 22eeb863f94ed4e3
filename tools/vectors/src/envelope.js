// Builds envelopes with core's header codec and this package's own cryptography, and opens them again with a
// reference decryptor that follows docs/FORMAT.md "Decryption" step by step.

import {
  encodeAuthenticatedHeader,
  encodeHeader,
  parseHeader,
  SealkitError,
  suiteByName,
} from "@sealkit/core";
import { messageKeys, open, rawUnwrap, rawWrap, seal, u32 } from "./crypto.js";

const FLAG_REGULAR = 0x00;
const FLAG_FINAL = 0x01;

/** One frame on the wire: flag (| u32 length) | ciphertext | tag. */
export function frame(suite, contentKey, index, final, chunk, claimedLength = chunk.length) {
  const flag = final ? FLAG_FINAL : FLAG_REGULAR;
  const sealed = seal(suite, contentKey, index, Uint8Array.of(flag), chunk);
  return new Uint8Array(
    Buffer.concat(final ? [Buffer.of(flag), u32(claimedLength), sealed] : [Buffer.of(flag), sealed]),
  );
}

/** The plaintext split into frames: full regular frames, then a final frame of 1..frameSize bytes (0 if empty). */
export function chunks(plaintext, frameSize) {
  const out = [];
  let offset = 0;
  while (plaintext.length - offset > frameSize) {
    out.push(plaintext.subarray(offset, offset + frameSize));
    offset += frameSize;
  }
  out.push(plaintext.subarray(offset));
  return out;
}

/**
 * A complete envelope and its parts.
 * recipients: [{ keyId, key, wrapNonce }] (raw provider).
 */
export function buildEnvelope({ suite, frameSize, context, plaintext, recipients, dataKey, messageId }) {
  const { contentKey, commitment } = messageKeys(dataKey, messageId, suite);
  const authenticated = encodeAuthenticatedHeader({
    suite: suiteByName(suite),
    frameSize,
    messageId,
    context,
  });
  const headerTag = seal(suite, contentKey, 0, Buffer.concat([authenticated, commitment]), new Uint8Array(0));
  const encryptedDataKeys = recipients.map((r) => ({
    providerId: "raw",
    keyId: r.keyId,
    ciphertext: rawWrap(r.key, r.keyId, context, dataKey, r.wrapNonce),
  }));
  const header = encodeHeader(authenticated, commitment, headerTag, encryptedDataKeys);
  const pieces = chunks(plaintext, frameSize);
  const frames = pieces.map((chunk, i) => frame(suite, contentKey, i + 1, i === pieces.length - 1, chunk));
  const envelope = new Uint8Array(Buffer.concat([header, ...frames]));
  return { envelope, header, authenticated, commitment, headerTag, encryptedDataKeys, frames, contentKey };
}

class VectorError extends Error {
  constructor(code) {
    super(code);
    this.code = code;
  }
}

/**
 * Decrypts like @sealkit/cipher's one-shot decrypt, in the order docs/FORMAT.md "Decryption" gives:
 * header, expected context, frame structure, data key, commitment, header tag, frames.
 * keys: [{ providerId, keyId, key }]. Returns the plaintext or throws an error with the expected `code`.
 */
export function referenceDecrypt(envelope, keys, options = {}) {
  let header;
  try {
    header = parseHeader(envelope, { maxEncryptedDataKeys: options.maxEncryptedDataKeys ?? 16 });
  } catch (error) {
    if (SealkitError.isInstance(error)) throw new VectorError(error.code);
    throw error;
  }
  for (const [k, v] of Object.entries(options.expectContext ?? {})) {
    if (!Object.hasOwn(header.context, k) || header.context[k] !== v)
      throw new VectorError("ERR_CONTEXT_MISMATCH");
  }
  const suite = header.suite.name;
  const frameSize = header.frameSize;
  const body = envelope.subarray(header.length);
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  const frames = [];
  let offset = 0;
  for (let index = 1; ; index++) {
    if (offset >= body.length) throw new VectorError("ERR_TRUNCATED");
    const flag = body[offset];
    if (flag === FLAG_REGULAR) {
      const end = offset + 1 + frameSize + 16;
      if (end > body.length) throw new VectorError("ERR_TRUNCATED");
      frames.push({ index, final: false, sealed: body.subarray(offset + 1, end) });
      offset = end;
    } else if (flag === FLAG_FINAL) {
      if (offset + 5 > body.length) throw new VectorError("ERR_TRUNCATED");
      const length = view.getUint32(offset + 1);
      if (length > frameSize) throw new VectorError("ERR_ENVELOPE_MALFORMED");
      if (length === 0 && index > 1) throw new VectorError("ERR_ENVELOPE_MALFORMED");
      const end = offset + 5 + length + 16;
      if (end > body.length) throw new VectorError("ERR_TRUNCATED");
      frames.push({ index, final: true, sealed: body.subarray(offset + 5, end) });
      offset = end;
      break;
    } else {
      throw new VectorError("ERR_ENVELOPE_MALFORMED");
    }
  }
  if (offset !== body.length) throw new VectorError("ERR_ENVELOPE_MALFORMED");

  let dataKey;
  for (const edk of header.encryptedDataKeys) {
    for (const k of keys) {
      if (edk.providerId !== k.providerId || edk.keyId !== k.keyId) continue;
      dataKey = rawUnwrap(k.key, k.keyId, header.context, edk.ciphertext);
      if (dataKey) break;
    }
    if (dataKey) break;
  }
  if (!dataKey) throw new VectorError("ERR_NO_DECRYPTABLE_KEY");
  const { contentKey, commitment } = messageKeys(dataKey, header.messageId, suite);
  if (!Buffer.from(commitment).equals(Buffer.from(header.commitment)))
    throw new VectorError("ERR_AUTHENTICATION_FAILED");
  const aad = Buffer.concat([header.authenticatedBytes, header.commitment]);
  if (!open(suite, contentKey, 0, aad, header.headerTag)) throw new VectorError("ERR_AUTHENTICATION_FAILED");
  const out = [];
  for (const f of frames) {
    const plaintext = open(
      suite,
      contentKey,
      f.index,
      Uint8Array.of(f.final ? FLAG_FINAL : FLAG_REGULAR),
      f.sealed,
    );
    if (!plaintext) throw new VectorError("ERR_AUTHENTICATION_FAILED");
    out.push(plaintext);
  }
  return { plaintext: new Uint8Array(Buffer.concat(out)), header };
}
