// The raw-key provider: wraps data keys with AES-256-GCM under a caller-supplied 32-byte key (docs/FORMAT.md
// section "Raw provider"). For tests without a KMS, and for keys a team manages itself.

import { abytes, aobject, astring } from "./assert.js";
import { concatBytes, randomBytes, utf8, wipe } from "./bytes.js";
import { encodeContext } from "./context.js";
import { SealkitError } from "./errors.js";
import type {
  DataKey,
  EncryptedDataKey,
  EncryptionContext,
  GenerateDataKeyRequest,
  KeyProvider,
  ProviderCallOptions,
} from "./types.js";

/** The provider id raw providers write unless told otherwise. */
export const RAW_PROVIDER_ID = "raw";
/** The ASCII prefix of the raw wrap's associated data. */
export const RAW_WRAP_LABEL = "SEALKIT-RAW-V1";
/** Length of the random AES-GCM nonce that starts a raw-wrapped key. */
export const RAW_WRAP_NONCE_LENGTH = 12;
/** Data key length the raw provider wraps (both envelope suites use 32-byte data keys). */
const DATA_KEY_LENGTH = 32;
/** nonce (12) || encrypted data key (32) || tag (16). */
export const RAW_WRAPPED_KEY_LENGTH = RAW_WRAP_NONCE_LENGTH + DATA_KEY_LENGTH + 16;

/** The one message of every failed raw unwrap, whatever failed (wrong key, context, length, tampering). */
export const RAW_UNWRAP_FAILED_MESSAGE = "raw provider could not open the encrypted data key";

export interface RawKeyProviderOptions {
  /** Names the key in envelopes (1 to 1,024 bytes of UTF-8). Not secret: it is written in clear. */
  readonly keyId: string;
  /** The 32-byte wrapping key. It is imported once as a non-extractable Web Crypto key; the array is not kept. */
  readonly key: Uint8Array;
  /** The provider id written into envelopes (1 to 255 bytes of UTF-8), "raw" by default. */
  readonly providerId?: string;
}

/** The raw wrap's associated data: "SEALKIT-RAW-V1" || u16 BE keyId length || keyId || canonical context. */
export function rawWrapAad(keyId: string, context: EncryptionContext): Uint8Array {
  const id = utf8(keyId);
  return concatBytes(
    utf8(RAW_WRAP_LABEL),
    new Uint8Array([id.length >> 8, id.length & 0xff]),
    id,
    encodeContext(context),
  );
}

function checkId(value: unknown, name: string, max: number): string {
  astring(value, name);
  const length = utf8(value as string).length;
  if (length < 1 || length > max) {
    throw new RangeError(`"${name}" expected 1 to ${max} bytes of UTF-8, got ${length}`);
  }
  return value as string;
}

/**
 * A KeyProvider over one caller-supplied 32-byte AES key. Several recipients are several providers.
 *
 * Wrap format: nonce (12 random bytes) || AES-256-GCM(key, nonce, dataKey, aad), 60 bytes in all, with
 * aad = rawWrapAad(keyId, context). Decryption is strict: only encrypted data keys whose provider id and key id
 * are this provider's.
 * @throws {TypeError} when an option has the wrong type
 * @throws {RangeError} when the key is not 32 bytes or an id is empty or too long
 */
export function rawKeyProvider(options: RawKeyProviderOptions): KeyProvider {
  aobject(options, "options");
  const keyId = checkId(options.keyId, "keyId", 1024);
  const providerId = checkId(options.providerId ?? RAW_PROVIDER_ID, "providerId", 255);
  abytes(options.key, "key", 32);
  const cryptoKey = crypto.subtle.importKey("raw", options.key as BufferSource, "AES-GCM", false, [
    "encrypt",
    "decrypt",
  ]);
  // An import failure surfaces at the first call; keep it from being reported as unhandled before that.
  cryptoKey.catch(() => {});

  const unwrapFailed = (cause?: unknown): SealkitError =>
    new SealkitError("ERR_INVALID_CIPHERTEXT", RAW_UNWRAP_FAILED_MESSAGE, cause ? { cause } : undefined);

  const wrap = async (dataKey: Uint8Array, context: EncryptionContext): Promise<EncryptedDataKey> => {
    const aad = rawWrapAad(keyId, context);
    const nonce = randomBytes(RAW_WRAP_NONCE_LENGTH);
    const sealed = new Uint8Array(
      await crypto.subtle.encrypt(
        { name: "AES-GCM", iv: nonce as BufferSource, additionalData: aad as BufferSource, tagLength: 128 },
        await cryptoKey,
        dataKey as BufferSource,
      ),
    );
    return { providerId, keyId, ciphertext: concatBytes(nonce, sealed) };
  };

  return {
    providerId,

    async generateDataKey(request: GenerateDataKeyRequest): Promise<DataKey> {
      aobject(request, "request");
      if (request.length !== DATA_KEY_LENGTH) {
        throw new RangeError(`"length" expected ${DATA_KEY_LENGTH}, got ${String(request.length)}`);
      }
      request.signal?.throwIfAborted();
      const plaintext = randomBytes(DATA_KEY_LENGTH);
      try {
        return { plaintext, encryptedDataKeys: [await wrap(plaintext, request.context)] };
      } catch (error) {
        wipe(plaintext);
        throw error;
      }
    },

    async encryptDataKey(
      request: ProviderCallOptions & { readonly plaintext: Uint8Array },
    ): Promise<readonly EncryptedDataKey[]> {
      aobject(request, "request");
      abytes(request.plaintext, "plaintext", DATA_KEY_LENGTH);
      request.signal?.throwIfAborted();
      return [await wrap(request.plaintext, request.context)];
    },

    async decryptDataKey(
      request: ProviderCallOptions & { readonly encryptedDataKey: EncryptedDataKey },
    ): Promise<Uint8Array> {
      aobject(request, "request");
      const edk = aobject<EncryptedDataKey>(request.encryptedDataKey, "encryptedDataKey");
      request.signal?.throwIfAborted();
      const aad = rawWrapAad(keyId, request.context);
      if (
        edk.providerId !== providerId ||
        edk.keyId !== keyId ||
        !(edk.ciphertext instanceof Uint8Array) ||
        edk.ciphertext.length !== RAW_WRAPPED_KEY_LENGTH
      ) {
        throw unwrapFailed();
      }
      try {
        return new Uint8Array(
          await crypto.subtle.decrypt(
            {
              name: "AES-GCM",
              iv: edk.ciphertext.subarray(0, RAW_WRAP_NONCE_LENGTH) as BufferSource,
              additionalData: aad as BufferSource,
              tagLength: 128,
            },
            await cryptoKey,
            edk.ciphertext.subarray(RAW_WRAP_NONCE_LENGTH) as BufferSource,
          ),
        );
      } catch (error) {
        throw unwrapFailed(error);
      }
    },

    canDecrypt(encryptedDataKey: EncryptedDataKey): boolean {
      return encryptedDataKey.providerId === providerId && encryptedDataKey.keyId === keyId;
    },
  };
}
