// localKmsProvider: a core KeyProvider over an in-process LocalKms, writing envelopes AWS KMS providers can open.

import type { DataKey, EncryptedDataKey, KeyProvider, ProviderCallOptions } from "@sealkit/core";
import { KmsError } from "./errors.js";
import type { LocalKms } from "./local-kms.js";
import type { Caller } from "./types.js";

/** The provider id of AWS KMS envelopes: kms-local writes the same, so @sealkit/kms-aws opens them via the server. */
export const AWS_KMS_PROVIDER_ID = "aws-kms";

/** Options of {@link localKmsProvider}. */
export interface LocalKmsProviderOptions {
  kms: LocalKms;
  /** The generator key: key id, key ARN, alias name or alias ARN. */
  keyId: string;
  /** Further keys every data key is also encrypted under (any identifier form). */
  additionalKeyIds?: readonly string[];
  /** Who the provider calls the KMS as. */
  caller: Caller;
}

/**
 * A KeyProvider over a LocalKms in the same process. generateDataKey calls GenerateDataKey under `keyId` and
 * Encrypt under each additional key; decryptDataKey calls Decrypt with KeyId = the encrypted data key's key ARN.
 * Encrypted data keys carry providerId "aws-kms" and the key ARN, as AWS KMS envelopes do. canDecrypt is strict:
 * only the configured keys, with aliases resolved to key ARNs at first use.
 *
 * @throws {TypeError} for malformed options
 */
export function localKmsProvider(options: LocalKmsProviderOptions): KeyProvider {
  if (typeof options !== "object" || options === null) throw new TypeError(`"options" expected an object`);
  const { kms, keyId, caller } = options;
  const additional = [...(options.additionalKeyIds ?? [])];
  if (typeof kms !== "object" || kms === null || typeof kms.generateDataKey !== "function") {
    throw new TypeError(`"kms" expected a LocalKms`);
  }
  for (const id of [keyId, ...additional]) {
    if (typeof id !== "string" || id.length === 0) throw new TypeError(`"keyId" expected a non-empty string`);
  }
  if (typeof caller !== "object" || caller === null) throw new TypeError(`"caller" expected a Caller`);
  let resolved: Set<string> | undefined;
  const allowed = (): Set<string> => {
    if (!resolved) {
      const arns = [keyId, ...additional]
        .map((id) => kms.resolveKeyArn(id))
        .filter((a): a is string => a !== undefined);
      // Keep trying while a configured key cannot be resolved yet (an AWS managed key not created so far).
      if (arns.length < additional.length + 1) return new Set(arns);
      resolved = new Set(arns);
    }
    return resolved;
  };

  const wrapFor = async (
    plaintext: Uint8Array,
    ids: readonly string[],
    context: ProviderCallOptions["context"],
  ) => {
    const out: EncryptedDataKey[] = [];
    for (const id of ids) {
      const r = await kms.encrypt(caller, { KeyId: id, Plaintext: plaintext, EncryptionContext: context });
      out.push({ providerId: AWS_KMS_PROVIDER_ID, keyId: r.KeyId, ciphertext: r.CiphertextBlob });
    }
    return out;
  };

  return {
    providerId: AWS_KMS_PROVIDER_ID,

    async generateDataKey(request): Promise<DataKey> {
      const generated = await kms.generateDataKey(caller, {
        KeyId: keyId,
        NumberOfBytes: request.length,
        EncryptionContext: request.context,
      });
      try {
        const others = await wrapFor(generated.Plaintext, additional, request.context);
        return {
          plaintext: generated.Plaintext,
          encryptedDataKeys: [
            { providerId: AWS_KMS_PROVIDER_ID, keyId: generated.KeyId, ciphertext: generated.CiphertextBlob },
            ...others,
          ],
        };
      } catch (error) {
        generated.Plaintext.fill(0);
        throw error;
      }
    },

    async encryptDataKey(request): Promise<readonly EncryptedDataKey[]> {
      return wrapFor(request.plaintext, [keyId, ...additional], request.context);
    },

    async decryptDataKey(request): Promise<Uint8Array> {
      const edk = request.encryptedDataKey;
      if (edk.providerId !== AWS_KMS_PROVIDER_ID) {
        throw new KmsError("IncorrectKeyException", "The encrypted data key is not an AWS KMS one.");
      }
      const r = await kms.decrypt(caller, {
        KeyId: edk.keyId,
        CiphertextBlob: edk.ciphertext,
        EncryptionContext: request.context,
      });
      return r.Plaintext;
    },

    canDecrypt(edk: EncryptedDataKey): boolean {
      return edk.providerId === AWS_KMS_PROVIDER_ID && allowed().has(edk.keyId);
    },
  };
}
