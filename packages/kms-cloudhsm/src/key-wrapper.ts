// pkcs11KeyWrapper: core's KeyWrapper on an HSM key, so that kms-local's root key never leaves the token.

import {
  AUTHENTICATION_FAILED_MESSAGE,
  abytes,
  concatBytes,
  type KeyWrapper,
  SealkitError,
  untilAborted,
  utf8,
  wipe,
} from "@sealkit/core";
import { isSealedShape, TAG_LENGTH } from "./gcm.js";
import { checkSignal, HsmKey, type HsmKeyConfig } from "./hsm-key.js";
import type { SessionPoolStats } from "./session-pool.js";

/** The AAD prefix of everything the key wrapper wraps; the caller's AAD follows it. */
export const PKCS11_WRAP_AAD_PREFIX = "SEALKIT-PKCS11-WRAP-V1";

/**
 * The most bytes one `wrap` takes: 16 KB less the GCM tag, AWS CloudHSM's limit for one CKM_AES_GCM call, on every
 * profile, so that a value wrapped on one token opens on any other holding the same key. kms-local wraps 32 bytes.
 */
export const MAX_WRAP_PLAINTEXT = 16 * 1024 - TAG_LENGTH;

/** Options of `pkcs11KeyWrapper`: the provider's, with a smaller default pool. */
export type Pkcs11KeyWrapperConfig = HsmKeyConfig;

/** Options of one `wrap` or `unwrap` call (an optional third argument; core's KeyWrapper callers may omit it). */
export interface Pkcs11WrapOptions {
  /**
   * Cancels the call: checked before every HSM call; a call waiting for a session leaves the pool's queue at once,
   * and a call inside the HSM stops being waited for (unwrapped bytes that arrive afterwards are wiped). The call
   * rejects with `signal.reason` (a DOMException named "AbortError" unless the caller gave another reason).
   */
  readonly signal?: AbortSignal;
}

/** A KeyWrapper on a PKCS#11 token, with a required `close`, its pool's counters and an optional AbortSignal. */
export interface Pkcs11KeyWrapper extends KeyWrapper {
  /**
   * @throws {SealkitError} ERR_PROVIDER_UNAVAILABLE (token, library), ERR_KEY_NOT_FOUND, ERR_HSM_LOGIN_FAILED
   * @throws {RangeError} for an empty plaintext or more than `MAX_WRAP_PLAINTEXT` bytes
   * @throws the signal's reason when `options.signal` aborts first
   */
  wrap(plaintext: Uint8Array, aad: Uint8Array, options?: Pkcs11WrapOptions): Promise<Uint8Array>;
  /**
   * @throws {SealkitError} ERR_AUTHENTICATION_FAILED, ERR_PROVIDER_UNAVAILABLE, ERR_KEY_NOT_FOUND, ERR_HSM_LOGIN_FAILED
   * @throws the signal's reason when `options.signal` aborts first
   */
  unwrap(wrapped: Uint8Array, aad: Uint8Array, options?: Pkcs11WrapOptions): Promise<Uint8Array>;
  stats(): SessionPoolStats;
  close(): Promise<void>;
}

function signalOf(options: Pkcs11WrapOptions | undefined): AbortSignal | undefined {
  if (options === undefined) return undefined;
  if (typeof options !== "object" || options === null) throw new TypeError(`"options" expected an object`);
  const { signal } = options;
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    throw new TypeError(`"signal" expected an AbortSignal`);
  }
  return signal;
}

function authenticationFailed(cause?: unknown): SealkitError {
  return new SealkitError(
    "ERR_AUTHENTICATION_FAILED",
    AUTHENTICATION_FAILED_MESSAGE,
    cause ? { cause } : undefined,
  );
}

/**
 * Wraps a few bytes (kms-local's backing keys) with AES-GCM inside the HSM under the key `keyLabel`,
 * AAD = "SEALKIT-PKCS11-WRAP-V1" || aad. The wrapped form is 0x01 || IV (12) || ciphertext || tag (16).
 * There is no fallback: when the token, the key or the PIN is wrong, every call fails with a coded error.
 * `description` is `pkcs11:token=<token label>,key=<key label>`. `wrap` and `unwrap` take an optional third
 * argument `{ signal }` (see `Pkcs11WrapOptions`); core's KeyWrapper callers that pass two arguments are unaffected.
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

    async wrap(plaintext: Uint8Array, aad: Uint8Array, options?: Pkcs11WrapOptions): Promise<Uint8Array> {
      abytes(plaintext, "plaintext");
      abytes(aad, "aad");
      const signal = signalOf(options);
      if (plaintext.length === 0 || plaintext.length > MAX_WRAP_PLAINTEXT) {
        throw new RangeError(
          `"plaintext" expected 1 to ${MAX_WRAP_PLAINTEXT} bytes, got length=${plaintext.length}`,
        );
      }
      checkSignal(signal);
      return untilAborted(key.seal(plaintext, aadFor(aad), "wrap", signal), signal);
    },

    async unwrap(wrapped: Uint8Array, aad: Uint8Array, options?: Pkcs11WrapOptions): Promise<Uint8Array> {
      abytes(wrapped, "wrapped");
      abytes(aad, "aad");
      const signal = signalOf(options);
      // Nothing `wrap` can have written: refused before any session is taken or the HSM is called.
      if (!isSealedShape(wrapped, 1, MAX_WRAP_PLAINTEXT)) throw authenticationFailed();
      checkSignal(signal);
      const work = key.open(wrapped, aadFor(aad), "unwrap", signal).catch((error: unknown) => {
        // KeyWrapper reports a failed tag as core's authentication failure, with the same fixed message.
        if (SealkitError.isInstance(error, "ERR_INVALID_CIPHERTEXT")) throw authenticationFailed(error);
        throw error;
      });
      if (signal) {
        // The HSM call cannot be cancelled: key material that arrives after the abort is wiped, not left behind.
        work.then(
          (plaintext) => {
            if (signal.aborted) wipe(plaintext);
          },
          () => {},
        );
      }
      return untilAborted(work, signal);
    },

    stats: () => key.stats(),
    close: () => key.close(),
  };
}
