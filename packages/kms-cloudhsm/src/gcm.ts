// AES-256-GCM inside the HSM (CKM_AES_GCM), and the stored form: version || IV (12) || ciphertext || tag (16).

import { randomBytes, SealkitError, wipe } from "@sealkit/core";
import { invalidCiphertext, isDecryptFailure } from "./pkcs11-error.js";
import { ck, type Handle, type MechanismSpec, type Pkcs11Module } from "./pkcs11-module.js";
import type { Pkcs11Profile } from "./profiles.js";

/** The first byte of every sealed value this package writes. */
export const SEALED_VERSION = 0x01;
/** AES-GCM IV length in bytes; the IV is stored whoever generated it. */
export const IV_LENGTH = 12;
/** AES-GCM tag length in bytes. */
export const TAG_LENGTH = 16;
/** Bytes a sealed value adds to its plaintext: version, IV and tag. */
export const SEALED_OVERHEAD = 1 + IV_LENGTH + TAG_LENGTH;

/**
 * Whether `sealed` has the shape of a value this package sealed from `minPlaintext` to `maxPlaintext` bytes: the version byte
 * and a length in range. Callers check it before taking a session, so that a hostile value (a huge blob, a foreign
 * version) never costs an HSM call.
 */
export function isSealedShape(sealed: Uint8Array, minPlaintext: number, maxPlaintext: number): boolean {
  return (
    sealed.length >= SEALED_OVERHEAD + minPlaintext &&
    sealed.length <= SEALED_OVERHEAD + maxPlaintext &&
    sealed[0] === SEALED_VERSION
  );
}

function gcmMechanism(iv: Buffer, ivBits: number, aad: Buffer): MechanismSpec {
  return {
    mechanism: ck.CKM_AES_GCM!,
    parameter: { type: ck.CK_PARAMS_GCM!, iv, ivBits, aad, tagBits: TAG_LENGTH * 8 },
  };
}

/** Options of one GCM call inside the HSM. */
export interface GcmCall {
  readonly module: Pkcs11Module;
  readonly session: Handle;
  readonly key: Handle;
  readonly profile: Pkcs11Profile;
  /** Use pkcs11js's thread-pool variants of C_Encrypt/C_Decrypt. */
  readonly async: boolean;
}

/**
 * Encrypts `plaintext` under the HSM key with AES-GCM and returns version || IV || ciphertext || tag.
 * With the `caller` IV source the IV is 12 random bytes from Web Crypto; with `hsm` (CloudHSM) a zeroed
 * 12-byte pIv buffer is passed and the HSM writes the IV it generated into it (pkcs11js hands the library the
 * Buffer's own memory, so the write is visible here).
 * @throws {RangeError} when the plaintext exceeds the profile's per-call limit
 * @throws {SealkitError} ERR_PROVIDER_UNAVAILABLE when an HSM-generated IV did not come back; PKCS#11 errors propagate
 */
export async function sealInHsm(call: GcmCall, plaintext: Uint8Array, aad: Uint8Array): Promise<Uint8Array> {
  const { module, session, key, profile } = call;
  if (plaintext.length + TAG_LENGTH > profile.maxGcmInput) {
    throw new RangeError(
      `"plaintext" of ${plaintext.length} bytes exceeds the ${profile.name} profile's AES-GCM limit of ${profile.maxGcmInput - TAG_LENGTH} bytes per call`,
    );
  }
  const iv = profile.ivSource === "hsm" ? Buffer.alloc(IV_LENGTH) : Buffer.from(randomBytes(IV_LENGTH));
  const input = Buffer.from(plaintext);
  const output = Buffer.alloc(plaintext.length + 2 * TAG_LENGTH);
  try {
    module.C_EncryptInit(session, gcmMechanism(iv, profile.encryptIvBits, Buffer.from(aad)), key);
    const sealed = call.async
      ? await module.C_EncryptAsync(session, input, output)
      : module.C_Encrypt(session, input, output);
    if (sealed.length !== plaintext.length + TAG_LENGTH) {
      throw new SealkitError(
        "ERR_PROVIDER_UNAVAILABLE",
        `PKCS#11 C_Encrypt returned ${sealed.length} bytes for ${plaintext.length}; expected ciphertext || 16-byte tag`,
      );
    }
    if (profile.ivSource === "hsm" && iv.every((byte) => byte === 0)) {
      throw new SealkitError(
        "ERR_PROVIDER_UNAVAILABLE",
        "PKCS#11 C_Encrypt did not return the HSM-generated AES-GCM IV in CK_GCM_PARAMS.pIv (wrong profile?)",
      );
    }
    const out = new Uint8Array(1 + IV_LENGTH + sealed.length);
    out[0] = SEALED_VERSION;
    out.set(iv, 1);
    out.set(sealed, 1 + IV_LENGTH);
    return out;
  } finally {
    wipe(input);
  }
}

/**
 * Opens version || IV || ciphertext || tag inside the HSM. Whoever generated the IV, decryption passes the
 * stored IV in CK_GCM_PARAMS (every HSM, CloudHSM included, accepts a caller IV for decryption), with the
 * profile's ulIvBits (CloudHSM: 0, as AWS's sample decrypts).
 * @throws {SealkitError} ERR_INVALID_CIPHERTEXT with the fixed authentication message for a malformed or
 * tampered value, a wrong key or wrong AAD; other PKCS#11 errors propagate
 */
export async function openInHsm(call: GcmCall, sealed: Uint8Array, aad: Uint8Array): Promise<Uint8Array> {
  const { module, session, key, profile } = call;
  if (sealed.length < SEALED_OVERHEAD || sealed[0] !== SEALED_VERSION) throw invalidCiphertext();
  const body = sealed.subarray(1 + IV_LENGTH);
  if (body.length > profile.maxGcmInput) throw invalidCiphertext();
  const iv = Buffer.from(sealed.subarray(1, 1 + IV_LENGTH));
  const output = Buffer.alloc(body.length);
  try {
    module.C_DecryptInit(session, gcmMechanism(iv, profile.decryptIvBits, Buffer.from(aad)), key);
    let plain: Buffer;
    try {
      plain = call.async
        ? await module.C_DecryptAsync(session, Buffer.from(body), output)
        : module.C_Decrypt(session, Buffer.from(body), output);
    } catch (error) {
      if (isDecryptFailure(error)) throw invalidCiphertext(error);
      throw error;
    }
    if (plain.length !== body.length - TAG_LENGTH) throw invalidCiphertext();
    return new Uint8Array(plain);
  } finally {
    wipe(output);
  }
}
