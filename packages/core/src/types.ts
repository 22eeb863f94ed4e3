// The types every Sealkit package shares: data keys, encrypted data keys, encryption contexts, key providers.

import type { SuiteName } from "./suites.js";

/**
 * Non-secret key-value pairs bound to an envelope or a data key as authenticated data.
 * Keys are non-empty strings; values may be empty. Both must be well-formed Unicode.
 */
export type EncryptionContext = Readonly<Record<string, string>>;

/** A data key wrapped by one master key of one provider. */
export interface EncryptedDataKey {
  /** Which kind of provider can open it, e.g. `aws-kms`, `sealkit-local`, `pkcs11`, `raw`. 1 to 255 bytes of UTF-8. */
  readonly providerId: string;
  /** Which master key wrapped it, in the provider's terms (a key ARN, a key label). 1 to 1,024 bytes of UTF-8. */
  readonly keyId: string;
  /** The wrapped key, opaque to everyone but the provider. 1 to 65,535 bytes. */
  readonly ciphertext: Uint8Array;
}

/** A plaintext data key together with its wrapped forms. Wipe `plaintext` when done (see `wipe`). */
export interface DataKey {
  readonly plaintext: Uint8Array;
  readonly encryptedDataKeys: readonly EncryptedDataKey[];
}

/** Options every provider call accepts. */
export interface ProviderCallOptions {
  /** The envelope's encryption context; the provider binds it and may check it against its policies. */
  readonly context: EncryptionContext;
  /** Cancels the call where the provider supports it. */
  readonly signal?: AbortSignal;
}

/** A request for a fresh data key. */
export interface GenerateDataKeyRequest extends ProviderCallOptions {
  /** Data key length in bytes (32 for both envelope suites). */
  readonly length: number;
  /** The suite the key will serve; caching providers never share a key across suites. */
  readonly suite?: SuiteName;
  /**
   * How many plaintext bytes the key will encrypt, when known in advance (one-shot encryption).
   * Caching providers count it against their byte limit and do not cache keys for unknown lengths.
   */
  readonly plaintextLength?: number;
}

/**
 * What an envelope needs from a key service. Implemented by the raw provider (core), kms-local, kms-aws,
 * kms-cloudhsm, remote, and the caching provider, which wraps any of them.
 *
 * A provider may hold several master keys: it generates under its first (the generator) and wraps the
 * same data key under each of the others, so that any of them can open the envelope.
 */
export interface KeyProvider {
  /** The provider id written into the encrypted data keys this provider produces. */
  readonly providerId: string;

  /**
   * Generates a fresh data key of `length` bytes under the generator key, wrapped for every key of the provider.
   * @throws {SealkitError} ERR_ACCESS_DENIED, ERR_KEY_DISABLED, ERR_KEY_NOT_FOUND, ERR_THROTTLED, ERR_PROVIDER_UNAVAILABLE
   */
  generateDataKey(request: GenerateDataKeyRequest): Promise<DataKey>;

  /**
   * Wraps an existing data key for every key of the provider (a second recipient, or a rewrap).
   * @throws {SealkitError} as generateDataKey
   */
  encryptDataKey(
    request: ProviderCallOptions & { readonly plaintext: Uint8Array },
  ): Promise<readonly EncryptedDataKey[]>;

  /**
   * Opens one encrypted data key. Called only for keys `canDecrypt` accepted.
   * @throws {SealkitError} ERR_INVALID_CIPHERTEXT (wrong key, wrong context, tampered), or as generateDataKey
   */
  decryptDataKey(
    request: ProviderCallOptions & { readonly encryptedDataKey: EncryptedDataKey },
  ): Promise<Uint8Array>;

  /**
   * Whether this provider may try to open the key: strict providers accept only the key ids the caller
   * configured; providers in discovery mode accept any key id of their provider id that passes their filter.
   */
  canDecrypt(encryptedDataKey: EncryptedDataKey): boolean;
}

/**
 * Wraps and unwraps a few bytes under a key the caller cannot read, with authenticated data.
 * kms-local keeps every backing key wrapped by one (a key file, a passphrase, or a PKCS#11 token).
 */
export interface KeyWrapper {
  /** A description safe to log and store, e.g. `file`, `passphrase`, `pkcs11:token=kms,key=root`. */
  readonly description: string;
  /**
   * @throws {SealkitError} ERR_PROVIDER_UNAVAILABLE when the key cannot be reached
   */
  wrap(plaintext: Uint8Array, aad: Uint8Array): Promise<Uint8Array>;
  /**
   * @throws {SealkitError} ERR_AUTHENTICATION_FAILED when the wrapped bytes or the aad were altered,
   * ERR_PROVIDER_UNAVAILABLE when the key cannot be reached
   */
  unwrap(wrapped: Uint8Array, aad: Uint8Array): Promise<Uint8Array>;
  /** Releases sessions or handles. */
  close?(): Promise<void>;
}
