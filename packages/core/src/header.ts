// Encoding and parsing of the envelope header (docs/FORMAT.md section "Header").
// The parser checks every length before reading, never reads past the end, and names the field at fault.

import { abytes, aint } from "./assert.js";
import { concatBytes, fromUtf8, utf8 } from "./bytes.js";
import { decodeContext, encodeContext } from "./context.js";
import { malformed, SealkitError } from "./errors.js";
import { type Suite, suiteById } from "./suites.js";
import type { EncryptedDataKey, EncryptionContext } from "./types.js";

/** "SLKT": the first four bytes of every envelope. */
export const MAGIC: Uint8Array = new Uint8Array([0x53, 0x4c, 0x4b, 0x54]);
/** The format version this library writes and reads. */
export const FORMAT_VERSION = 1;
export const MESSAGE_ID_LENGTH = 32;
export const COMMITMENT_LENGTH = 32;
export const HEADER_TAG_LENGTH = 16;
export const MIN_FRAME_SIZE = 64;
export const MAX_FRAME_SIZE = 4 * 1024 * 1024;
export const DEFAULT_FRAME_SIZE = 64 * 1024;
/** The largest header a parser accepts, encrypted data keys included. */
export const MAX_HEADER_BYTES = 1024 * 1024;
/** How many encrypted data keys decryption accepts unless the caller says otherwise. */
export const DEFAULT_MAX_ENCRYPTED_DATA_KEYS = 16;

/** Byte offsets of the fixed part. */
const FIXED_LENGTH = 4 + 1 + 2 + 4 + MESSAGE_ID_LENGTH + 2; // magic, version, suite, frame size, message id, context length

/** A parsed header. Every byte array is a view into the parsed input: copy it to keep it past the input's life. */
export interface EnvelopeHeader {
  readonly version: number;
  readonly suite: Suite;
  readonly frameSize: number;
  readonly messageId: Uint8Array;
  readonly context: EncryptionContext;
  readonly commitment: Uint8Array;
  readonly headerTag: Uint8Array;
  readonly encryptedDataKeys: readonly EncryptedDataKey[];
  /** Magic through encryption context: what the header tag authenticates (with the commitment). */
  readonly authenticatedBytes: Uint8Array;
  /** The header's length in bytes: the body starts at this offset. */
  readonly length: number;
}

/** What the header tag and the key derivation bind, before the encrypted data keys exist. */
export interface HeaderFields {
  readonly suite: Suite;
  readonly frameSize: number;
  readonly messageId: Uint8Array;
  readonly context: EncryptionContext;
}

export interface ParseHeaderOptions {
  /** Refuse envelopes with more encrypted data keys than this (default 16), before reading them. */
  readonly maxEncryptedDataKeys?: number;
}

/**
 * Checks a frame size against the format's bounds.
 * @throws {SealkitError} ERR_FRAME_SIZE
 */
export function checkFrameSize(frameSize: number): number {
  if (!Number.isInteger(frameSize) || frameSize < MIN_FRAME_SIZE || frameSize > MAX_FRAME_SIZE) {
    throw new SealkitError(
      "ERR_FRAME_SIZE",
      `frame size ${frameSize} is outside the bounds ${MIN_FRAME_SIZE} to ${MAX_FRAME_SIZE}`,
    );
  }
  return frameSize;
}

/**
 * Encodes the authenticated part of a header: magic, version, suite, frame size, message id, context.
 * @throws {SealkitError} ERR_FRAME_SIZE, ERR_LIMIT_EXCEEDED (context too large)
 * @throws {TypeError} for a malformed context or message id
 */
export function encodeAuthenticatedHeader(fields: HeaderFields): Uint8Array {
  abytes(fields.messageId, "messageId", MESSAGE_ID_LENGTH);
  checkFrameSize(fields.frameSize);
  const context = encodeContext(fields.context);
  const out = new Uint8Array(FIXED_LENGTH + context.length);
  const view = new DataView(out.buffer);
  out.set(MAGIC, 0);
  out[4] = FORMAT_VERSION;
  view.setUint16(5, fields.suite.id);
  view.setUint32(7, fields.frameSize);
  out.set(fields.messageId, 11);
  view.setUint16(11 + MESSAGE_ID_LENGTH, context.length);
  out.set(context, FIXED_LENGTH);
  return out;
}

/**
 * Encodes the encrypted data key section: u16 count, then per key u16-length-prefixed provider id, key id
 * and ciphertext.
 * @throws {RangeError} when a field is empty or longer than 65,535 bytes, or there are none or more than 65,535 keys
 */
export function encodeEncryptedDataKeys(keys: readonly EncryptedDataKey[]): Uint8Array {
  aint(keys.length, "encryptedDataKeys.length", 1, 0xffff);
  const parts: Uint8Array[] = [new Uint8Array([keys.length >> 8, keys.length & 0xff])];
  for (const [i, key] of keys.entries()) {
    for (const [name, value] of [
      ["providerId", utf8(key.providerId)],
      ["keyId", utf8(key.keyId)],
      ["ciphertext", abytes(key.ciphertext, `encryptedDataKeys[${i}].ciphertext`)],
    ] as const) {
      aint(value.length, `encryptedDataKeys[${i}].${name} length`, 1, 0xffff);
      parts.push(new Uint8Array([value.length >> 8, value.length & 0xff]), value);
    }
  }
  return concatBytes(...parts);
}

/**
 * Encodes a whole header from its authenticated part, commitment, header tag and encrypted data keys.
 * @throws {SealkitError} ERR_LIMIT_EXCEEDED when it would exceed MAX_HEADER_BYTES
 */
export function encodeHeader(
  authenticatedBytes: Uint8Array,
  commitment: Uint8Array,
  headerTag: Uint8Array,
  encryptedDataKeys: readonly EncryptedDataKey[],
): Uint8Array {
  abytes(commitment, "commitment", COMMITMENT_LENGTH);
  abytes(headerTag, "headerTag", HEADER_TAG_LENGTH);
  const header = concatBytes(
    authenticatedBytes,
    commitment,
    headerTag,
    encodeEncryptedDataKeys(encryptedDataKeys),
  );
  if (header.length > MAX_HEADER_BYTES) {
    throw new SealkitError(
      "ERR_LIMIT_EXCEEDED",
      `header of ${header.length} bytes exceeds ${MAX_HEADER_BYTES}`,
    );
  }
  return header;
}

/**
 * The same header with its encrypted data keys replaced; everything authenticated stays byte for byte.
 * This is what makes rewrap possible without touching the body.
 */
export function replaceEncryptedDataKeys(
  header: EnvelopeHeader,
  encryptedDataKeys: readonly EncryptedDataKey[],
): Uint8Array {
  return encodeHeader(header.authenticatedBytes, header.commitment, header.headerTag, encryptedDataKeys);
}

/** The result of parsing a possibly incomplete header. */
export type HeaderParseResult =
  | { readonly complete: true; readonly header: EnvelopeHeader }
  /** More bytes are needed: at least `needed` in all (a lower bound; ask again when they arrive). */
  | { readonly complete: false; readonly needed: number };

/**
 * Parses a header from the start of `bytes`, which may hold less than the whole header (a stream's first
 * chunks, a ranged read) and may continue with the body.
 * @throws {SealkitError} ERR_ENVELOPE_MALFORMED, ERR_UNSUPPORTED_VERSION, ERR_UNSUPPORTED_SUITE, ERR_FRAME_SIZE,
 * ERR_TOO_MANY_ENCRYPTED_DATA_KEYS, ERR_LIMIT_EXCEEDED
 */
export function tryParseHeader(bytes: Uint8Array, options: ParseHeaderOptions = {}): HeaderParseResult {
  abytes(bytes, "envelope");
  const maxKeys = aint(
    options.maxEncryptedDataKeys ?? DEFAULT_MAX_ENCRYPTED_DATA_KEYS,
    "maxEncryptedDataKeys",
    1,
    0xffff,
  );
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const need = (n: number): HeaderParseResult | undefined => {
    if (n > MAX_HEADER_BYTES) {
      throw new SealkitError("ERR_LIMIT_EXCEEDED", `header exceeds the limit of ${MAX_HEADER_BYTES} bytes`);
    }
    return bytes.length < n ? { complete: false, needed: n } : undefined;
  };

  // Magic and version first, so that a wrong file is named as such before anything else.
  const magicLength = Math.min(bytes.length, 4);
  for (let i = 0; i < magicLength; i++) {
    if (bytes[i] !== MAGIC[i]) throw malformed("not a Sealkit envelope (bad magic bytes)");
  }
  let pending = need(5);
  if (pending) return pending;
  if (bytes[4] !== FORMAT_VERSION) {
    throw new SealkitError("ERR_UNSUPPORTED_VERSION", `unsupported envelope format version ${bytes[4]}`);
  }
  pending = need(FIXED_LENGTH);
  if (pending) return pending;
  const suite = suiteById(view.getUint16(5));
  const frameSize = checkFrameSize(view.getUint32(7));
  const messageId = bytes.subarray(11, 11 + MESSAGE_ID_LENGTH);
  const contextLength = view.getUint16(11 + MESSAGE_ID_LENGTH);
  const authenticatedLength = FIXED_LENGTH + contextLength;
  pending = need(authenticatedLength + COMMITMENT_LENGTH + HEADER_TAG_LENGTH + 2);
  if (pending) return pending;
  const context = decodeContext(bytes.subarray(FIXED_LENGTH, authenticatedLength));
  let offset = authenticatedLength;
  const commitment = bytes.subarray(offset, offset + COMMITMENT_LENGTH);
  offset += COMMITMENT_LENGTH;
  const headerTag = bytes.subarray(offset, offset + HEADER_TAG_LENGTH);
  offset += HEADER_TAG_LENGTH;
  const count = view.getUint16(offset);
  offset += 2;
  if (count === 0) throw malformed("no encrypted data keys");
  if (count > maxKeys) {
    throw new SealkitError(
      "ERR_TOO_MANY_ENCRYPTED_DATA_KEYS",
      `envelope has ${count} encrypted data keys; at most ${maxKeys} are allowed`,
    );
  }
  const keys: EncryptedDataKey[] = [];
  for (let i = 0; i < count; i++) {
    const fields: Uint8Array[] = [];
    for (const name of ["provider id", "key id", "ciphertext"]) {
      pending = need(offset + 2);
      if (pending) return pending;
      const length = view.getUint16(offset);
      if (length === 0) throw malformed(`encrypted data key ${i} has an empty ${name}`);
      pending = need(offset + 2 + length);
      if (pending) return pending;
      fields.push(bytes.subarray(offset + 2, offset + 2 + length));
      offset += 2 + length;
    }
    let providerId: string;
    let keyId: string;
    try {
      providerId = fromUtf8(fields[0]!);
      keyId = fromUtf8(fields[1]!);
    } catch {
      throw malformed(`encrypted data key ${i} has an id that is not valid UTF-8`);
    }
    keys.push({ providerId, keyId, ciphertext: fields[2]! });
  }
  return {
    complete: true,
    header: {
      version: FORMAT_VERSION,
      suite,
      frameSize,
      messageId,
      context,
      commitment,
      headerTag,
      encryptedDataKeys: keys,
      authenticatedBytes: bytes.subarray(0, authenticatedLength),
      length: offset,
    },
  };
}

/**
 * Parses a header from the start of `bytes`, which must hold all of it.
 * @throws {SealkitError} ERR_TRUNCATED when the bytes end inside the header, or as tryParseHeader
 */
export function parseHeader(bytes: Uint8Array, options?: ParseHeaderOptions): EnvelopeHeader {
  const result = tryParseHeader(bytes, options);
  if (!result.complete) {
    throw new SealkitError("ERR_TRUNCATED", "envelope ends inside its header: it was truncated");
  }
  return result.header;
}

/** The header tag's associated data: the authenticated header bytes followed by the commitment. */
export function headerAad(header: Pick<EnvelopeHeader, "authenticatedBytes" | "commitment">): Uint8Array {
  return concatBytes(header.authenticatedBytes, header.commitment);
}
