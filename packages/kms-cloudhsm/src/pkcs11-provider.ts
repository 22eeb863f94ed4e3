// pkcs11Provider: a KeyProvider whose master key is an AES-256 key inside a PKCS#11 token (CloudHSM, SoftHSM2, ...).

import {
  aint,
  concatBytes,
  type DataKey,
  type EncryptedDataKey,
  type EncryptionContext,
  encodeContext,
  type GenerateDataKeyRequest,
  type KeyProvider,
  type ProviderCallOptions,
  untilAborted,
  utf8,
  wipe,
} from "@sealkit/core";
import { isSealedShape, sealInHsm } from "./gcm.js";
import { checkSignal, HsmKey, type HsmKeyConfig } from "./hsm-key.js";
import { invalidCiphertext } from "./pkcs11-error.js";
import type { SessionPoolStats } from "./session-pool.js";
import { isWellFormedText } from "./token.js";

/** The AAD prefix of every data key this provider encrypts; the canonical context encoding follows it. */
export const PKCS11_AAD_PREFIX = "SEALKIT-PKCS11-V1";

/** The longest key id an envelope can carry (core's u16-length-prefixed field), in bytes of UTF-8. */
const MAX_KEY_ID_BYTES = 0xffff;

/** The longest data key this provider generates or encrypts, in bytes. */
const MAX_DATA_KEY_LENGTH = 1024;

/** Options of `pkcs11Provider`. */
export interface Pkcs11ProviderConfig extends HsmKeyConfig {
  /** Provider id written into encrypted data keys. Default "pkcs11". */
  readonly providerId?: string;
}

/** A KeyProvider backed by a PKCS#11 token, with its pool's counters and a `close`. */
export interface Pkcs11Provider extends KeyProvider {
  /** `pkcs11:token=<token label>;object=<key label>`, recorded in every encrypted data key. */
  readonly keyId: string;
  /** Session pool counters. */
  stats(): SessionPoolStats;
  /** Closes the session pool (after calls in flight) and finalizes the library when no one else uses it. */
  close(): Promise<void>;
}

/**
 * Waits for `work` unless `signal` aborts first (then rejects with its reason at once). The HSM call itself cannot
 * be cancelled: a result that arrives after the abort is handed to `discard` (which wipes plaintext keys).
 */
function untilAbortedDiscarding<T>(
  work: Promise<T>,
  signal: AbortSignal | undefined,
  discard: (value: T) => void,
): Promise<T> {
  if (!signal) return work;
  work.then(
    (value) => {
      if (signal.aborted) discard(value);
    },
    () => {},
  );
  return untilAborted(work, signal);
}

/**
 * Checks a call's signal at the boundary, then whether it is aborted already. A signal is used after the HSM call
 * too (to stop waiting, to wipe a data key that arrives after an abort): anything but an AbortSignal would fail only
 * then, with the data key generated and left unwiped.
 * @throws {TypeError} for a signal that is not an AbortSignal; the signal's reason when it is aborted
 */
function checkCallSignal(signal: unknown): void {
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    throw new TypeError(`"signal" expected an AbortSignal`);
  }
  checkSignal(signal);
}

function dataKeyAad(context: EncryptionContext): Uint8Array {
  return concatBytes(utf8(PKCS11_AAD_PREFIX), encodeContext(context));
}

/**
 * A KeyProvider whose master key never leaves a PKCS#11 token. Data keys come from the token's random
 * generator (C_GenerateRandom) and are encrypted inside the token with CKM_AES_GCM under the AES-256 key
 * labelled `keyLabel`, with AAD "SEALKIT-PKCS11-V1" || encodeContext(context). Each encrypted data key is
 * 0x01 || IV (12) || ciphertext || tag (16), whichever side generated the IV (see the profiles in the README).
 * `canDecrypt` is strict: the provider id and this key's id only. A call's `signal` takes it out of the session
 * queue at once, or stops waiting for the HSM (a data key that arrives afterwards is wiped).
 *
 * @example
 * const kms = pkcs11Provider({ library: "/usr/lib/softhsm/libsofthsm2.so", tokenLabel: "sealkit",
 *   pin: "1234", keyLabel: "master", profile: "softhsm" });
 * @throws {TypeError} for a bad config (missing library, token, PIN, key label; a CloudHSM PIN without "user:"; a
 * provider id, key label or token label with a lone surrogate; a token label over 32 bytes)
 * @throws {RangeError} for a pool size outside 1 to 1,024, or a key label whose key id exceeds 65,535 bytes
 * @throws {SealkitError} ERR_PROVIDER_UNAVAILABLE only when `slot` is given without `tokenLabel` and the token
 * cannot be read at construction (its label goes into the key id); the library is released again then
 */
export function pkcs11Provider(config: Pkcs11ProviderConfig): Pkcs11Provider {
  const providerId = config?.providerId ?? "pkcs11";
  // A lone surrogate would be written as U+FFFD: envelopes would name a provider id this provider never matches.
  if (
    typeof providerId !== "string" ||
    providerId.length === 0 ||
    !isWellFormedText(providerId) ||
    utf8(providerId).length > 255
  ) {
    throw new TypeError(`"providerId" expected a string of 1 to 255 bytes (without lone surrogates)`);
  }
  const key = new HsmKey(config);
  let keyId: string;
  try {
    // Without I/O when `tokenLabel` is given; with only `slot`, the token's label is read now.
    keyId = key.uri;
    const length = utf8(keyId).length;
    if (length > MAX_KEY_ID_BYTES) {
      throw new RangeError(
        `"keyLabel" is too long: the key id (${length} bytes, percent-encoded) must fit the envelope's ` +
          `${MAX_KEY_ID_BYTES}-byte key id field`,
      );
    }
  } catch (error) {
    // The library may have been loaded to read the token label: no one could ever release it after this throw.
    key.close().catch(() => {});
    throw error;
  }
  const getKeyId = (): string => keyId;

  const encryptOne = async (
    plaintext: Uint8Array,
    context: EncryptionContext,
    signal: AbortSignal | undefined,
  ): Promise<EncryptedDataKey> => {
    const ciphertext = await untilAborted(
      key.seal(plaintext, dataKeyAad(context), "encryptDataKey", signal),
      signal,
    );
    return { providerId, keyId: getKeyId(), ciphertext };
  };

  return {
    providerId,
    get keyId() {
      return getKeyId();
    },

    async generateDataKey(request: GenerateDataKeyRequest): Promise<DataKey> {
      const length = aint(request?.length, "length", 1, MAX_DATA_KEY_LENGTH);
      const aad = dataKeyAad(request.context);
      checkCallSignal(request.signal);
      const work = key.run(
        "generateDataKey",
        async (call, module) => {
          const random = module.C_GenerateRandom(call.session, Buffer.alloc(length));
          const plaintext = new Uint8Array(random);
          wipe(random);
          try {
            const ciphertext = await sealInHsm(call, plaintext, aad);
            return { plaintext, encryptedDataKeys: [{ providerId, keyId: getKeyId(), ciphertext }] };
          } catch (error) {
            wipe(plaintext);
            throw error;
          }
        },
        request.signal,
      );
      return untilAbortedDiscarding(work, request.signal, (dataKey) => wipe(dataKey.plaintext));
    },

    async encryptDataKey(
      request: ProviderCallOptions & { readonly plaintext: Uint8Array },
    ): Promise<readonly EncryptedDataKey[]> {
      const plaintext = request?.plaintext;
      if (
        !(plaintext instanceof Uint8Array) ||
        plaintext.length === 0 ||
        plaintext.length > MAX_DATA_KEY_LENGTH
      ) {
        throw new TypeError(`"plaintext" expected a Uint8Array of 1 to 1,024 bytes`);
      }
      encodeContext(request.context);
      checkCallSignal(request.signal);
      return [await encryptOne(plaintext, request.context, request.signal)];
    },

    async decryptDataKey(
      request: ProviderCallOptions & { readonly encryptedDataKey: EncryptedDataKey },
    ): Promise<Uint8Array> {
      const edk = request?.encryptedDataKey;
      if (typeof edk !== "object" || edk === null || !(edk.ciphertext instanceof Uint8Array)) {
        throw new TypeError(`"encryptedDataKey" expected an EncryptedDataKey`);
      }
      const aad = dataKeyAad(request.context);
      checkCallSignal(request.signal);
      if (edk.providerId !== providerId || edk.keyId !== getKeyId()) throw invalidCiphertext();
      // This provider seals data keys of 1 to 1,024 bytes under version 0x01: any other shape is not ours, whatever
      // the HSM would say, and is refused before a session is taken.
      if (!isSealedShape(edk.ciphertext, 1, MAX_DATA_KEY_LENGTH)) throw invalidCiphertext();
      return untilAbortedDiscarding(
        key.open(edk.ciphertext, aad, "decryptDataKey", request.signal),
        request.signal,
        (plaintext) => wipe(plaintext),
      );
    },

    canDecrypt(edk: EncryptedDataKey): boolean {
      return edk.providerId === providerId && edk.keyId === getKeyId();
    },

    stats: () => key.stats(),
    close: () => key.close(),
  };
}
