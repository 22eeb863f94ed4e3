// The canonical encoding of an encryption context (docs/FORMAT.md section "Encryption context").
// Every package that binds a context as authenticated data uses this encoding, so one context has one byte form.

import { apairs } from "./assert.js";
import { fromUtf8, utf8 } from "./bytes.js";
import { malformed, SealkitError } from "./errors.js";
import type { EncryptionContext } from "./types.js";

/** The largest serialized context, in bytes (it must fit the header's u16 length). */
export const MAX_CONTEXT_BYTES = 65535;

// Lone surrogates would be replaced by U+FFFD when encoded, so two different strings would share one encoding.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}

/**
 * The UTF-8 bytes of a context string. ASCII (by far the commonest) is copied byte for byte, which is several times
 * cheaper than a TextEncoder call for short strings; anything else is checked for lone surrogates first.
 * @throws {TypeError} for a lone surrogate
 */
function wellFormedUtf8(text: string, key: string): Uint8Array {
  const n = text.length;
  if (n <= 256) {
    const out = new Uint8Array(n);
    let i = 0;
    for (; i < n; i++) {
      const c = text.charCodeAt(i);
      if (c > 0x7f) break;
      out[i] = c;
    }
    if (i === n) return out;
  }
  if (LONE_SURROGATE.test(text)) {
    throw new TypeError(`"context" pair "${key}" is not well-formed Unicode (lone surrogate)`);
  }
  return utf8(text);
}

/**
 * Checks an encryption context given by a caller and returns its pairs sorted by the UTF-8 bytes of the keys.
 * @throws {TypeError} when it is not a string-to-string map, a key is empty, or a string is not well-formed Unicode
 */
function canonicalPairs(context: EncryptionContext): [Uint8Array, Uint8Array][] {
  apairs(context, "context");
  const pairs: [Uint8Array, Uint8Array][] = [];
  for (const [key, value] of Object.entries(context)) {
    if (key.length === 0) throw new TypeError(`"context" keys must be non-empty`);
    if (typeof value !== "string") throw new TypeError(`"context" value for key "${key}" must be a string`);
    pairs.push([wellFormedUtf8(key, key), wellFormedUtf8(value, key)]);
  }
  // Sorting by UTF-8 bytes, not by JavaScript's UTF-16 order: the two differ above U+FFFF.
  return pairs.sort((a, b) => compareBytes(a[0], b[0]));
}

/**
 * Serializes an encryption context canonically: u16 pair count, then for each pair sorted by the key's
 * UTF-8 bytes, u16 key length, key, u16 value length, value (all big-endian).
 * @throws {TypeError} for a malformed context
 * @throws {SealkitError} ERR_LIMIT_EXCEEDED when the encoding exceeds 65,535 bytes
 */
export function encodeContext(context: EncryptionContext): Uint8Array {
  const pairs = canonicalPairs(context);
  let size = 2;
  for (const [k, v] of pairs) {
    if (k.length > 0xffff || v.length > 0xffff) {
      throw new SealkitError("ERR_LIMIT_EXCEEDED", "encryption context entry exceeds 65,535 bytes");
    }
    size += 4 + k.length + v.length;
  }
  if (size > MAX_CONTEXT_BYTES || pairs.length > 0xffff) {
    throw new SealkitError(
      "ERR_LIMIT_EXCEEDED",
      `encryption context encodes to ${size} bytes; the limit is 65,535`,
    );
  }
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  view.setUint16(0, pairs.length);
  let offset = 2;
  for (const [k, v] of pairs) {
    view.setUint16(offset, k.length);
    out.set(k, offset + 2);
    offset += 2 + k.length;
    view.setUint16(offset, v.length);
    out.set(v, offset + 2);
    offset += 2 + v.length;
  }
  return out;
}

/**
 * Parses a canonical context encoding, rejecting anything another encoder could not have produced:
 * unsorted or duplicate keys, empty keys, invalid UTF-8, lengths past the end, trailing bytes.
 * @throws {SealkitError} ERR_ENVELOPE_MALFORMED
 */
export function decodeContext(bytes: Uint8Array): Record<string, string> {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length < 2) throw malformed("encryption context shorter than its count");
  const count = view.getUint16(0);
  const context: Record<string, string> = Object.create(null);
  let offset = 2;
  let previous: Uint8Array | undefined;
  const field = (what: string): Uint8Array => {
    if (offset + 2 > bytes.length) throw malformed(`encryption context ${what} length runs past the end`);
    const length = view.getUint16(offset);
    if (offset + 2 + length > bytes.length) throw malformed(`encryption context ${what} runs past the end`);
    const value = bytes.subarray(offset + 2, offset + 2 + length);
    offset += 2 + length;
    return value;
  };
  for (let i = 0; i < count; i++) {
    const key = field("key");
    const value = field("value");
    if (key.length === 0) throw malformed("encryption context has an empty key");
    if (previous && compareBytes(previous, key) >= 0) {
      throw malformed("encryption context keys are not sorted and unique");
    }
    previous = key;
    try {
      context[fromUtf8(key)] = fromUtf8(value);
    } catch {
      throw malformed("encryption context is not valid UTF-8");
    }
  }
  if (offset !== bytes.length) throw malformed("trailing bytes after the encryption context");
  return { ...context };
}

/**
 * True when `context` contains every pair of `expected` (extra pairs in `context` are allowed).
 * @throws {TypeError} when either is not a plain object (a Map as `expected` would require nothing)
 */
export function contextContains(context: EncryptionContext, expected: EncryptionContext): boolean {
  apairs(context, "context");
  for (const [key, value] of Object.entries(apairs<EncryptionContext>(expected, "expected context"))) {
    if (!Object.hasOwn(context, key) || context[key] !== value) return false;
  }
  return true;
}
