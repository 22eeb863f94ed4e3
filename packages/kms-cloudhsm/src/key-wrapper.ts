// pkcs11KeyWrapper: core's KeyWrapper on an HSM key, so that kms-local's root key never leaves the token.

import {
  AUTHENTICATION_FAILED_MESSAGE,
  abytes,
  concatBytes,
  type KeyWrapper,
  SealkitError,
  utf8,
} from "@sealkit/core";
import { HsmKey, type HsmKeyConfig } from "./hsm-key.js";
import type { SessionPoolStats } from "./session-pool.js";

/** The AAD prefix of everything the key wrapper wraps; the caller's AAD follows it. */
export const PKCS11_WRAP_AAD_PREFIX = "SEALKIT-PKCS11-WRAP-V1";

/** Options of `pkcs11KeyWrapper`: the provider's, with a smaller default pool. */
export type Pkcs11KeyWrapperConfig = HsmKeyConfig;

/** A KeyWrapper on a PKCS#11 token, with a required `close` and its pool's counters. */
export interface Pkcs11KeyWrapper extends KeyWrapper {
  stats(): SessionPoolStats;
  close(): Promise<void>;
}

/**
 * Wraps a few bytes (kms-local's backing keys) with AES-GCM inside the HSM under the key `keyLabel`,
 * AAD = "SEALKIT-PKCS11-WRAP-V1" || aad. The wrapped form is 0x01 || IV (12) || ciphertext || tag (16).
 * There is no fallback: when the token, the key or the PIN is wrong, every call fails with a coded error.
 * `description` is `pkcs11:token=<token label>,key=<key label>`.
 * @throws {TypeError} for a bad config
 * @throws {RangeError} for a pool size outside 1 to the profile's limit
 */
export function pkcs11KeyWrapper(config: Pkcs11KeyWrapperConfig): Pkcs11KeyWrapper {
  const key = new HsmKey({ ...config, poolSize: config?.poolSize ?? 2 });
  const aadFor = (aad: Uint8Array) => concatBytes(utf8(PKCS11_WRAP_AAD_PREFIX), aad);
  return {
    get description() {
      return `pkcs11:token=${key.tokenLabel},key=${key.keyLabel}`;
    },

    /**
     * @throws {SealkitError} ERR_PROVIDER_UNAVAILABLE (token, library), ERR_KEY_NOT_FOUND, ERR_HSM_LOGIN_FAILED
     */
    async wrap(plaintext: Uint8Array, aad: Uint8Array): Promise<Uint8Array> {
      abytes(plaintext, "plaintext");
      abytes(aad, "aad");
      return key.seal(plaintext, aadFor(aad), "wrap");
    },

    /**
     * @throws {SealkitError} ERR_AUTHENTICATION_FAILED when the wrapped bytes or the aad were altered (or another
     * key wrapped them), ERR_PROVIDER_UNAVAILABLE, ERR_KEY_NOT_FOUND, ERR_HSM_LOGIN_FAILED
     */
    async unwrap(wrapped: Uint8Array, aad: Uint8Array): Promise<Uint8Array> {
      abytes(wrapped, "wrapped");
      abytes(aad, "aad");
      try {
        return await key.open(wrapped, aadFor(aad), "unwrap");
      } catch (error) {
        // KeyWrapper reports a failed tag as core's authentication failure, with the same fixed message.
        if (SealkitError.isInstance(error, "ERR_INVALID_CIPHERTEXT")) {
          throw new SealkitError("ERR_AUTHENTICATION_FAILED", AUTHENTICATION_FAILED_MESSAGE, {
            cause: error,
          });
        }
        throw error;
      }
    },

    stats: () => key.stats(),
    close: () => key.close(),
  };
}
