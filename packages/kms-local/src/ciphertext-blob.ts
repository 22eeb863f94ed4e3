// The ciphertext blob of Encrypt and GenerateDataKey (docs/KMS-LOCAL.md "Ciphertext blob"), and its sealing.

import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { concatBytes, type EncryptionContext, encodeContext, utf8, wipe } from "@sealkit/core";
import { invalidCiphertext } from "./errors.js";
import { bytesToUuid, uuidToBytes } from "./key-id.js";

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

function aad(prefix: Uint8Array, context: EncryptionContext): Uint8Array {
  // The version byte, key id and key version are bound with the context: a blob cannot be relabelled.
  return concatBytes(DOMAIN, prefix, encodeContext(context));
}

/** Seals `plaintext` under one backing key with AES-256-GCM and a random 12-byte IV. */
export function sealBlob(
  backingKey: Uint8Array,
  keyId: string,
  keyVersion: number,
  plaintext: Uint8Array,
  context: EncryptionContext,
): Uint8Array {
  const prefix = new Uint8Array(21);
  prefix[0] = BLOB_VERSION;
  prefix.set(uuidToBytes(keyId), 1);
  new DataView(prefix.buffer).setUint32(17, keyVersion);
  const iv = randomBytes(12);
  const cipher = createCipheriv("aes-256-gcm", backingKey, iv);
  cipher.setAAD(aad(prefix, context));
  const body = cipher.update(plaintext);
  const blob = concatBytes(prefix, iv, body, cipher.final(), cipher.getAuthTag());
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
