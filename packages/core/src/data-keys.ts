// Generating an envelope's data key for several providers, and opening one of an envelope's encrypted data keys.

import { aobject } from "./assert.js";
import { wipe } from "./bytes.js";
import { SealkitError } from "./errors.js";
import { type Suite, type SuiteName, suiteByName } from "./suites.js";
import type { DataKey, EncryptedDataKey, EncryptionContext, KeyProvider } from "./types.js";

/** Length of every envelope data key (both suites). */
export const DATA_KEY_LENGTH = 32;

export interface GenerateEnvelopeDataKeyOptions {
  readonly context: EncryptionContext;
  /** The suite the key will serve (a Suite or its name). */
  readonly suite: Suite | SuiteName;
  /** The plaintext length when known in advance; caching providers need it to reuse keys. */
  readonly plaintextLength?: number;
  readonly signal?: AbortSignal;
}

export interface OpenEnvelopeDataKeyOptions {
  readonly context: EncryptionContext;
  readonly signal?: AbortSignal;
}

/** The opened data key and the encrypted data key it came from. Wipe `plaintext` when done. */
export interface OpenedDataKey {
  readonly plaintext: Uint8Array;
  readonly encryptedDataKey: EncryptedDataKey;
}

function checkProviders(
  providers: readonly KeyProvider[],
  name: string,
  min: number,
): readonly KeyProvider[] {
  if (!Array.isArray(providers)) throw new TypeError(`"${name}" expected an array of KeyProvider`);
  if (providers.length < min) throw new RangeError(`"${name}" expected at least ${min} provider`);
  providers.forEach((p, i) => {
    aobject(p, `${name}[${i}]`);
    if (typeof p.generateDataKey !== "function" || typeof p.decryptDataKey !== "function") {
      throw new TypeError(`"${name}[${i}]" is not a KeyProvider`);
    }
  });
  return providers;
}

function wrongLength(providerId: string, length: number): SealkitError {
  return new SealkitError(
    "ERR_PROVIDER_UNAVAILABLE",
    `provider "${providerId}" returned a data key of ${length} bytes; expected ${DATA_KEY_LENGTH}`,
  );
}

/**
 * Makes the data key of a new envelope: the first provider generates it, every other provider wraps the same
 * plaintext, and the encrypted data keys are concatenated in provider order. On any failure the plaintext is
 * wiped and the error rethrown.
 * @throws {TypeError} / {RangeError} for bad arguments (no providers, a bad context)
 * @throws {SealkitError} ERR_UNSUPPORTED_SUITE, ERR_PROVIDER_UNAVAILABLE (a provider returned no result, a key of
 * the wrong length or no encrypted data key), or whatever a provider throws (ERR_ACCESS_DENIED, ERR_KEY_NOT_FOUND, ...)
 */
export async function generateEnvelopeDataKey(
  providers: readonly KeyProvider[],
  options: GenerateEnvelopeDataKeyOptions,
): Promise<DataKey> {
  checkProviders(providers, "providers", 1);
  aobject(options, "options");
  const suite = typeof options.suite === "string" ? suiteByName(options.suite) : options.suite;
  const { context, signal, plaintextLength } = options;
  const [first, ...others] = providers as [KeyProvider, ...KeyProvider[]];
  const generated = await first.generateDataKey({
    length: DATA_KEY_LENGTH,
    suite: suite.name,
    context,
    ...(plaintextLength !== undefined ? { plaintextLength } : {}),
    ...(signal ? { signal } : {}),
  });
  // A provider that breaks its contract (no result, no list of encrypted data keys) is a provider failure with a
  // code, never a TypeError from reading what is not there.
  const plaintext = (generated as DataKey | undefined)?.plaintext;
  try {
    if (!(plaintext instanceof Uint8Array) || plaintext.length !== DATA_KEY_LENGTH) {
      throw wrongLength(first.providerId, plaintext instanceof Uint8Array ? plaintext.length : 0);
    }
    if (!Array.isArray(generated.encryptedDataKeys) || generated.encryptedDataKeys.length === 0) {
      throw new SealkitError(
        "ERR_PROVIDER_UNAVAILABLE",
        `provider "${first.providerId}" returned no encrypted data key`,
      );
    }
    const encryptedDataKeys: EncryptedDataKey[] = [...generated.encryptedDataKeys];
    for (const provider of others) {
      signal?.throwIfAborted();
      const added = await provider.encryptDataKey({ plaintext, context, ...(signal ? { signal } : {}) });
      if (!Array.isArray(added) || added.length === 0) {
        throw new SealkitError(
          "ERR_PROVIDER_UNAVAILABLE",
          `provider "${provider.providerId}" returned no encrypted data key`,
        );
      }
      encryptedDataKeys.push(...added);
    }
    return { plaintext, encryptedDataKeys };
  } catch (error) {
    if (plaintext instanceof Uint8Array) wipe(plaintext);
    throw error;
  }
}

interface Attempt {
  readonly providerId: string;
  readonly keyId: string;
  readonly code: string;
}

/**
 * Opens the first encrypted data key that one of the caller's providers can open: encrypted data keys in header
 * order, and for each the providers in the caller's order whose provider id matches and whose `canDecrypt`
 * accepts it. Only providers the caller passed are asked (strict unless a provider is in discovery mode).
 * @throws {SealkitError} ERR_NO_DECRYPTABLE_KEY when none opened; its message lists each attempt (provider id,
 * key id, error code; never secrets) and its cause is an AggregateError of the failures
 * @throws the abort reason when `signal` is aborted
 */
export async function openEnvelopeDataKey(
  encryptedDataKeys: readonly EncryptedDataKey[],
  providers: readonly KeyProvider[],
  options: OpenEnvelopeDataKeyOptions,
): Promise<OpenedDataKey> {
  if (!Array.isArray(encryptedDataKeys)) throw new TypeError(`"encryptedDataKeys" expected an array`);
  checkProviders(providers, "providers", 1);
  aobject(options, "options");
  const { context, signal } = options;
  const attempts: Attempt[] = [];
  const failures: unknown[] = [];
  for (const edk of encryptedDataKeys) {
    for (const provider of providers) {
      if (provider.providerId !== edk.providerId || !provider.canDecrypt(edk)) continue;
      signal?.throwIfAborted();
      let plaintext: Uint8Array | undefined;
      try {
        plaintext = await provider.decryptDataKey({
          encryptedDataKey: edk,
          context,
          ...(signal ? { signal } : {}),
        });
        if (!(plaintext instanceof Uint8Array) || plaintext.length !== DATA_KEY_LENGTH) {
          throw wrongLength(provider.providerId, plaintext?.length ?? 0);
        }
        return { plaintext, encryptedDataKey: edk };
      } catch (error) {
        if (plaintext instanceof Uint8Array) wipe(plaintext);
        if (signal?.aborted) throw signal.reason;
        failures.push(error);
        attempts.push({
          providerId: edk.providerId,
          keyId: edk.keyId,
          code: SealkitError.isInstance(error) ? error.code : error instanceof Error ? error.name : "unknown",
        });
      }
    }
  }
  const offered = encryptedDataKeys.map((k) => `${k.providerId}/${k.keyId}`).join(", ");
  const tried = attempts.map((a) => `${a.providerId}/${a.keyId}: ${a.code}`).join("; ");
  throw new SealkitError(
    "ERR_NO_DECRYPTABLE_KEY",
    attempts.length === 0
      ? `no provider accepts any of the envelope's encrypted data keys (${offered})`
      : `no provider could open any of the envelope's encrypted data keys (tried ${tried})`,
    { cause: new AggregateError(failures, "every attempt to open an encrypted data key failed") },
  );
}
