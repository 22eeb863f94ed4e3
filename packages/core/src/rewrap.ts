// Rewrap: replace an envelope's encrypted data keys by rewriting only its header (docs/FORMAT.md section "Rewrap").

import { abytes, aint, aobject } from "./assert.js";
import { equalBytes, wipe } from "./bytes.js";
import { openEnvelopeDataKey } from "./data-keys.js";
import { authenticationFailed, SealkitError } from "./errors.js";
import { DEFAULT_MAX_ENCRYPTED_DATA_KEYS, parseHeader, replaceEncryptedDataKeys } from "./header.js";
import { deriveMessageKeys } from "./key-schedule.js";
import type { EncryptedDataKey, KeyProvider } from "./types.js";

export interface RewrapOptions {
  /** Providers that may open one of the envelope's current encrypted data keys. */
  readonly providers: readonly KeyProvider[];
  /** Providers to wrap the data key for; their encrypted data keys are appended, in order. */
  readonly add?: readonly KeyProvider[];
  /** Selects current encrypted data keys to drop (called once per key, in header order). */
  readonly remove?: (encryptedDataKey: EncryptedDataKey) => boolean;
  /**
   * The most encrypted data keys accepted in the input and allowed in the output (default 16, the default every
   * decryptor accepts), so that a rewrap never produces an envelope default readers refuse.
   */
  readonly maxEncryptedDataKeys?: number;
  readonly signal?: AbortSignal;
}

export interface RewrapResult {
  /** The new header. Write it followed by the input's body (from `bodyOffset`) to get the rewrapped envelope. */
  readonly header: Uint8Array;
  /** Where the body starts in the input: the old header's length. */
  readonly bodyOffset: number;
  /** Encrypted data keys added (from `add`). */
  readonly added: readonly EncryptedDataKey[];
  /** Encrypted data keys removed (selected by `remove`). */
  readonly removed: readonly EncryptedDataKey[];
}

/**
 * Rewrites an envelope's header with a new list of encrypted data keys. The body is not read and does not change:
 * its authentication covers the authenticated header and the commitment, never the encrypted data keys.
 *
 * Order: parse the header; open the data key with `providers`; recompute the key commitment and compare it in
 * constant time (so a substituted encrypted data key cannot make us wrap a different key); wrap for `add`; drop what
 * `remove` selects; encode. The data key is wiped before returning. The header tag is not checked here (that needs
 * the suite's AEAD, which lives in @sealkit/cipher); a tampered authenticated header still fails at decryption.
 *
 * `envelope` may be the whole envelope or just its first bytes, as long as they hold the whole header.
 * @throws {SealkitError} as parseHeader (ERR_TRUNCATED when the header is incomplete), ERR_NO_DECRYPTABLE_KEY,
 * ERR_AUTHENTICATION_FAILED (commitment mismatch), ERR_TOO_MANY_ENCRYPTED_DATA_KEYS (the result would exceed
 * maxEncryptedDataKeys), ERR_PROVIDER_UNAVAILABLE (a provider in `add` returned no encrypted data key), or what a
 * provider in `add` throws
 * @throws {RangeError} when the result would have no encrypted data keys (a caller mistake: nobody could decrypt it)
 */
export async function rewrapEnvelopeHeader(
  envelope: Uint8Array,
  options: RewrapOptions,
): Promise<RewrapResult> {
  abytes(envelope, "envelope");
  aobject(options, "options");
  const maxKeys = aint(
    options.maxEncryptedDataKeys ?? DEFAULT_MAX_ENCRYPTED_DATA_KEYS,
    "maxEncryptedDataKeys",
    1,
    0xffff,
  );
  const add = options.add ?? [];
  if (!Array.isArray(add)) throw new TypeError(`"add" expected an array of KeyProvider`);
  if (options.remove !== undefined && typeof options.remove !== "function") {
    throw new TypeError(`"remove" expected a function`);
  }
  const { signal } = options;
  const header = parseHeader(envelope, { maxEncryptedDataKeys: maxKeys });
  const context = header.context;

  const opened = await openEnvelopeDataKey(header.encryptedDataKeys, options.providers, {
    context,
    ...(signal ? { signal } : {}),
  });
  const dataKey = opened.plaintext;
  try {
    const keys = await deriveMessageKeys(dataKey, header.messageId, header.suite);
    wipe(keys.contentKey);
    if (!equalBytes(keys.commitment, header.commitment)) throw authenticationFailed();

    const kept: EncryptedDataKey[] = [];
    const removed: EncryptedDataKey[] = [];
    for (const edk of header.encryptedDataKeys) {
      (options.remove?.(edk) ? removed : kept).push(edk);
    }
    const added: EncryptedDataKey[] = [];
    for (const provider of add) {
      signal?.throwIfAborted();
      const wrapped = await provider.encryptDataKey({
        plaintext: dataKey,
        context,
        ...(signal ? { signal } : {}),
      });
      // A provider that wraps for nobody would leave the envelope without the recipient the caller asked for.
      if (!Array.isArray(wrapped) || wrapped.length === 0) {
        throw new SealkitError(
          "ERR_PROVIDER_UNAVAILABLE",
          `provider "${provider.providerId}" returned no encrypted data key`,
        );
      }
      added.push(...wrapped);
    }
    const result = [...kept, ...added];
    if (result.length === 0) {
      throw new RangeError("rewrap would leave the envelope with no encrypted data keys");
    }
    if (result.length > maxKeys) {
      throw new SealkitError(
        "ERR_TOO_MANY_ENCRYPTED_DATA_KEYS",
        `rewrap would leave ${result.length} encrypted data keys; at most ${maxKeys} are allowed`,
      );
    }
    // Copy the ciphertexts of kept keys: they are views into the caller's input.
    const copy = (k: EncryptedDataKey): EncryptedDataKey => ({ ...k, ciphertext: k.ciphertext.slice() });
    return {
      header: replaceEncryptedDataKeys(header, result),
      bodyOffset: header.length,
      added,
      removed: removed.map(copy),
    };
  } finally {
    wipe(dataKey);
  }
}
