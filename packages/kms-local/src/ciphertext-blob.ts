// The ciphertext blob of Encrypt and GenerateDataKey (docs/KMS-LOCAL.md "Ciphertext blob"), and its sealing.

import { createCipheriv, createDecipheriv } from "node:crypto";
import { concatBytes, type EncryptionContext, encodeContext, utf8, wipe } from "@sealkit/core";
import { invalidCiphertext } from "./errors.js";
import { bytesToUuid, uuidToBytes } from "./key-id.js";
import { randomFill } from "./random.js";

/** The blob format version this KMS writes and reads. */
export const BLOB_VERSION = 1;
/** Bytes before the AEAD output: version (1), key id (16), backing-key version (4), IV (12). */
export const BLOB_HEADER_LENGTH = 33;
export const BLOB_TAG_LENGTH = 16;
/** The largest blob AWS KMS accepts; ours are at most 33 + 4,096 + 16 = 4,145 bytes. */
export const MAX_BLOB_LENGTH = 6144;

const DOMAIN = utf8("sealkit-kms-local/ciphertext/v1");

/** What a blob names: its key and the backing-key version that sealed it. */
export interface BlobHeader {
  readonly keyId: string;
  readonly keyVersion: number;
}

/**
 * Reads the key id and backing-key version of a blob, checking its version byte and its length.
 * @throws {KmsError} InvalidCiphertextException for anything that is not a blob of this KMS
 */
export function readBlobHeader(blob: Uint8Array): BlobHeader {
  if (blob.length < BLOB_HEADER_LENGTH + 1 + BLOB_TAG_LENGTH || blob.length > MAX_BLOB_LENGTH) {
    throw invalidCiphertext();
  }
  if (blob[0] !== BLOB_VERSION) throw invalidCiphertext();
  const view = new DataView(blob.buffer, blob.byteOffset, blob.byteLength);
  const keyVersion = view.getUint32(17);
  if (keyVersion === 0) throw invalidCiphertext();
  return { keyId: bytesToUuid(blob.subarray(1, 17)), keyVersion };
}

/** Canonical encodings of contexts already checked by {@link checkedContext}, so a call encodes its context once. */
const encodedContexts = new WeakMap<EncryptionContext, Uint8Array>();

/**
 * A copy of a caller's encryption context, checked by encoding it; the encoding is kept for the blob's AAD.
 * @throws {TypeError} for a malformed context (not a map of strings, an empty key, a lone surrogate)
 * @throws {SealkitError} ERR_LIMIT_EXCEEDED when it encodes to more than 65,535 bytes
 */
export function checkedContext(value: EncryptionContext): EncryptionContext {
  const encoded = encodeContext(value);
  const copy = { ...value };
  encodedContexts.set(copy, encoded);
  return copy;
}

function aad(prefix: Uint8Array, context: EncryptionContext): Uint8Array {
  // The version byte, key id and key version are bound with the context: a blob cannot be relabelled.
  return concatBytes(DOMAIN, prefix, encodedContexts.get(context) ?? encodeContext(context));
}

/** The first 21 bytes of a blob (version, key id, key version), by key id and version. */
const prefixes = new Map<string, Uint8Array>();

function blobPrefix(keyId: string, keyVersion: number): Uint8Array {
  const name = `${keyId}:${keyVersion}`;
  let prefix = prefixes.get(name);
  if (prefix === undefined) {
    prefix = new Uint8Array(21);
    prefix[0] = BLOB_VERSION;
    prefix.set(uuidToBytes(keyId), 1);
    new DataView(prefix.buffer).setUint32(17, keyVersion);
    if (prefixes.size >= 4096) prefixes.clear();
    prefixes.set(name, prefix);
  }
  return prefix;
}

/** Seals `plaintext` under one backing key with AES-256-GCM and a random 12-byte IV. */
export function sealBlob(
  backingKey: Uint8Array,
  keyId: string,
  keyVersion: number,
  plaintext: Uint8Array,
  context: EncryptionContext,
): Uint8Array {
  const prefix = blobPrefix(keyId, keyVersion);
  const blob = new Uint8Array(BLOB_HEADER_LENGTH + plaintext.length + BLOB_TAG_LENGTH);
  blob.set(prefix);
  const iv = randomFill(blob, 21, 12).subarray(21, BLOB_HEADER_LENGTH);
  const cipher = createCipheriv("aes-256-gcm", backingKey, iv);
  cipher.setAAD(aad(prefix, context));
  // Written straight into the blob: no ciphertext copies left behind in node:crypto's buffers.
  const written = cipher.update(plaintext);
  blob.set(written, BLOB_HEADER_LENGTH);
  cipher.final();
  blob.set(cipher.getAuthTag(), BLOB_HEADER_LENGTH + plaintext.length);
  return blob;
}

/**
 * Opens a blob with the backing key of the version it names.
 * @throws {KmsError} InvalidCiphertextException when the tag does not verify (tampering, wrong context)
 */
export function openBlob(backingKey: Uint8Array, blob: Uint8Array, context: EncryptionContext): Uint8Array {
  readBlobHeader(blob);
  const iv = blob.subarray(21, BLOB_HEADER_LENGTH);
  const body = blob.subarray(BLOB_HEADER_LENGTH, blob.length - BLOB_TAG_LENGTH);
  const tag = blob.subarray(blob.length - BLOB_TAG_LENGTH);
  try {
    const decipher = createDecipheriv("aes-256-gcm", backingKey, iv, { authTagLength: BLOB_TAG_LENGTH });
    decipher.setAAD(aad(blob.subarray(0, 21), context));
    decipher.setAuthTag(tag);
    const head = decipher.update(body);
    const tail = decipher.final();
    const out = concatBytes(head, tail);
    // node:crypto's Buffers may come from its pool: wipe the plaintext copies this function made.
    wipe(head, tail);
    return out;
  } catch (cause) {
    throw invalidCiphertext(cause);
  }
}
