// A KeyProvider over AWS KMS (@aws-sdk/client-kms): GenerateDataKey under the generator key, Encrypt under each
// additional key, Decrypt with the KeyId set. Web-standard only, so it runs in Node, browsers and workerd.

import {
  DecryptCommand,
  DescribeKeyCommand,
  EncryptCommand,
  GenerateDataKeyCommand,
  type KMSClient,
} from "@aws-sdk/client-kms";
import {
  abytes,
  aint,
  type DataKey,
  type EncryptedDataKey,
  type EncryptionContext,
  encodeContext,
  type GenerateDataKeyRequest,
  type KeyProvider,
  type ProviderCallOptions,
  SealkitError,
  untilAborted,
  wipe,
} from "@sealkit/core";
import { isKeyArn, parseKmsArn } from "./arn.js";
import { fromKmsError } from "./errors.js";

/** The provider id written into encrypted data keys; the same as the AWS Encryption SDK's, and kms-local's. */
export const AWS_KMS_PROVIDER_ID = "aws-kms";

/** The part of a KMS client this provider uses: `send` of @aws-sdk/client-kms's KMSClient. */
export type KmsClientLike = Pick<KMSClient, "send">;

/** Which keys a provider in discovery mode may ask KMS about. */
export interface DiscoveryFilter {
  /** The AWS partition, e.g. "aws". */
  readonly partition: string;
  /** Only keys in these accounts. */
  readonly accountIds: readonly string[];
  /** Only keys in these regions, when given. */
  readonly regions?: readonly string[];
}

export interface AwsKmsProviderOptions {
  /** The key that generates data keys (key ARN, alias ARN, alias name or key id). Required to encrypt. */
  readonly generatorKeyId?: string;
  /** Further keys each data key is encrypted under; any of them can decrypt. */
  readonly keyIds?: readonly string[];
  /** One client for every key. Give this or `clientForRegion`. */
  readonly client?: KmsClientLike;
  /**
   * A client per region (multi-region use), called with the region of each key ARN; with `undefined` for alias
   * names and bare key ids, which name no region (return your home region's client then). Cache the clients.
   */
  readonly clientForRegion?: (region: string | undefined) => KmsClientLike;
  /** Passed on every call. */
  readonly grantTokens?: readonly string[];
  /**
   * Decrypt with any AWS KMS key the filter allows, instead of only the listed ones. Off by default: strict mode
   * only ever asks KMS about keys the caller named.
   */
  readonly discovery?: boolean;
  /** Required with `discovery` (the AWS Encryption SDK's advice: never discover across unknown accounts). */
  readonly discoveryFilter?: DiscoveryFilter;
}

const ACCOUNT_ID = /^\d{12}$/;

// KMS's request bounds (AWS KMS API reference: GrantTokens, KeyId).
const MAX_GRANT_TOKENS = 10;
const MAX_KEY_ID = 2048;

// The CiphertextBlob length constraint of Encrypt, Decrypt and GenerateDataKey (AWS KMS API reference): a longer
// blob could never be decrypted, and would not fit an envelope's encrypted data key field either.
const MAX_CIPHERTEXT_BLOB = 6144;

/** Whether a field of a KMS answer is a ciphertext blob KMS could have made: bytes, 1 to 6,144 of them. */
function isCiphertextBlob(value: unknown): value is Uint8Array {
  return value instanceof Uint8Array && value.length >= 1 && value.length <= MAX_CIPHERTEXT_BLOB;
}

/** Wipes a plaintext field of a KMS answer, whatever a broken or hostile endpoint put there. */
function wipeField(value: unknown): void {
  if (value instanceof Uint8Array) wipe(value);
}

/**
 * Whether `returned`, the key ARN in a GenerateDataKey or Encrypt answer, can be the key the caller configured as
 * `configured`. The AWS Encryption SDK checks the same: otherwise a server posing as KMS could wrap the data key
 * under a key of its own. A key ARN must come back as it is, a bare key id as its ARN, an alias ARN as a key of its
 * partition, region and account; an alias name names no key to check against.
 */
function answersFor(configured: string, returned: string): boolean {
  const got = parseKmsArn(returned);
  if (!got) return false;
  const want = parseKmsArn(configured);
  if (want?.resourceType === "key") return returned === configured;
  if (want) {
    return want.partition === got.partition && want.region === got.region && want.accountId === got.accountId;
  }
  return configured.startsWith("alias/") || got.resourceId === configured;
}

/**
 * Checks a context before it is sent: KMS must bind exactly the pairs the envelope's header will carry.
 * @throws {TypeError} for a malformed context (a lone surrogate included)
 * @throws {SealkitError} ERR_LIMIT_EXCEEDED when it encodes to more than 65,535 bytes
 */
function checkContext(context: EncryptionContext): void {
  encodeContext(context);
}

function checkDiscoveryFilter(filter: DiscoveryFilter): void {
  if (typeof filter !== "object" || filter === null)
    throw new TypeError(`"discoveryFilter" expected an object`);
  if (typeof filter.partition !== "string" || filter.partition.length === 0) {
    throw new TypeError(`"discoveryFilter.partition" expected a partition such as "aws"`);
  }
  if (!Array.isArray(filter.accountIds) || filter.accountIds.length === 0) {
    throw new TypeError(`"discoveryFilter.accountIds" expected a non-empty array of 12-digit account ids`);
  }
  for (const id of filter.accountIds) {
    if (typeof id !== "string" || !ACCOUNT_ID.test(id)) {
      throw new TypeError(
        `"discoveryFilter.accountIds" expected 12-digit account ids, got ${JSON.stringify(id)}`,
      );
    }
  }
  if (filter.regions !== undefined && (!Array.isArray(filter.regions) || filter.regions.length === 0)) {
    throw new TypeError(`"discoveryFilter.regions" expected a non-empty array when given`);
  }
}

/** A DescribeKey resolving one configured identifier, shared by the strict decryptions waiting on it. */
interface Resolution {
  readonly arn: Promise<string>;
  readonly cancel: AbortController;
  /** Callers waiting on it now. */
  waiting: number;
  settled: boolean;
}

/** An AWS KMS KeyProvider. */
export interface AwsKmsProvider extends KeyProvider {
  readonly providerId: typeof AWS_KMS_PROVIDER_ID;
}

/**
 * Creates a KeyProvider over AWS KMS.
 *
 * Strict mode (the default) decrypts only encrypted data keys whose key ARN is one of `generatorKeyId` and
 * `keyIds` (aliases are resolved to key ARNs with DescribeKey on first use). Discovery mode decrypts any key the
 * filter allows. Throttled calls are retried by the SDK's own retry strategy.
 *
 * Aliases are resolved once per provider instance: after an alias is moved to another key, make a new provider.
 *
 * The returned provider's methods throw SealkitError: ERR_ACCESS_DENIED (refused by a key policy, IAM or a grant;
 * or, in strict mode, a key the caller did not list), ERR_KEY_DISABLED, ERR_KEY_NOT_FOUND, ERR_THROTTLED (after
 * the SDK's retries), ERR_INVALID_CIPHERTEXT (wrong context, wrong key, tampered), ERR_REQUEST_INVALID (KMS
 * refused the request itself: ValidationException, InvalidKeyUsageException, ...), ERR_PROVIDER_UNAVAILABLE
 * (anything else, such as a network failure; also an answer for another key than the one asked, a data key of
 * the wrong length, which is wiped, a field that is not bytes, a ciphertext blob over 6,144 bytes, or an answer
 * that is not JSON), each with the SDK error as `cause` (not for an answer that is not JSON: the parser's message
 * quotes the body); ERR_LIMIT_EXCEEDED for a context over 65,535 bytes encoded. They throw TypeError for a
 * malformed context (a lone surrogate), a data key to encrypt that is not a Uint8Array and, generateDataKey,
 * without a `generatorKeyId`; RangeError for a `length` outside 1 to 1,024; an aborted `signal` rejects with its
 * reason.
 *
 * @throws {TypeError} when neither `client` nor `clientForRegion` is given, a strict provider is given no key,
 *   discovery lacks a filter or is given keys, or an identifier, the filter or the grant tokens are malformed
 */
export function awsKmsProvider(options: AwsKmsProviderOptions): AwsKmsProvider {
  const { generatorKeyId, grantTokens, discovery = false } = options;
  if (!options.client && !options.clientForRegion) {
    throw new TypeError(`"client" or "clientForRegion" is required`);
  }
  if (discovery && !options.discoveryFilter) {
    throw new TypeError(`"discoveryFilter" is required with "discovery": true`);
  }
  if (options.discoveryFilter !== undefined) checkDiscoveryFilter(options.discoveryFilter);
  if (options.keyIds !== undefined && !Array.isArray(options.keyIds)) {
    throw new TypeError(`"keyIds" expected an array of key identifiers`);
  }
  // Copies, as the AWS Encryption SDK keeps: the caller changing its arrays later must not change which keys this
  // provider encrypts under or may decrypt with.
  const keyIds: readonly string[] = [...(options.keyIds ?? [])];
  const discoveryFilter: DiscoveryFilter | undefined = options.discoveryFilter && {
    partition: options.discoveryFilter.partition,
    accountIds: [...options.discoveryFilter.accountIds],
    ...(options.discoveryFilter.regions ? { regions: [...options.discoveryFilter.regions] } : {}),
  };
  if (
    grantTokens !== undefined &&
    (!Array.isArray(grantTokens) || grantTokens.some((t) => typeof t !== "string"))
  ) {
    throw new TypeError(`"grantTokens" expected an array of strings`);
  }
  // KMS's own bounds (GrantTokens: at most 10 tokens of 1 to 8,192 characters; KeyId: 1 to 2,048): outside them every
  // call was refused with ValidationException, a configuration mistake found only at the first call.
  if (
    grantTokens !== undefined &&
    (grantTokens.length > MAX_GRANT_TOKENS || grantTokens.some((t) => t.length < 1 || t.length > 8192))
  ) {
    throw new TypeError(
      `"grantTokens" expected at most ${MAX_GRANT_TOKENS} tokens of 1 to 8,192 characters, got ${grantTokens.length} tokens`,
    );
  }
  if (discovery && (generatorKeyId || keyIds.length > 0)) {
    throw new TypeError(`a discovery provider decrypts only; give no "generatorKeyId" or "keyIds"`);
  }
  if (!discovery && generatorKeyId === undefined && keyIds.length === 0) {
    // Such a provider could neither encrypt nor decrypt anything (the AWS Encryption SDK refuses it too).
    throw new TypeError(`give "generatorKeyId" or "keyIds", or "discovery": true with a "discoveryFilter"`);
  }
  for (const [name, id] of [
    ["generatorKeyId", generatorKeyId],
    ...keyIds.map((k, i) => [`keyIds[${i}]`, k]),
  ]) {
    if (id !== undefined && (typeof id !== "string" || id.length === 0 || id.length > MAX_KEY_ID)) {
      throw new TypeError(
        `"${name}" expected a non-empty key identifier of at most ${MAX_KEY_ID} characters`,
      );
    }
  }
  const tokens = grantTokens ? [...grantTokens] : undefined;
  const configured = [generatorKeyId, ...keyIds].filter((id): id is string => id !== undefined);
  // Configured identifiers being or having been resolved to key ARNs, for strict decryption.
  const resolutions = new Map<string, Resolution>();
  // Key ARNs the configured aliases and bare key ids resolved to, once every one of them has been resolved.
  let resolvedArns: ReadonlySet<string> | undefined;

  const clientFor = (keyId: string): KmsClientLike => {
    const region = parseKmsArn(keyId)?.region;
    return options.clientForRegion ? options.clientForRegion(region) : options.client!;
  };

  const describeKey = async (keyId: string, abortSignal: AbortSignal): Promise<string> => {
    let out: { KeyMetadata?: { Arn?: string } };
    try {
      out = await clientFor(keyId).send(new DescribeKeyCommand({ KeyId: keyId, GrantTokens: tokens }), {
        abortSignal,
      });
    } catch (error) {
      throw fromKmsError(error, "DescribeKey", keyId);
    }
    // The same checks as on GenerateDataKey's answer: strict decryption must not come to trust a key the
    // identifier cannot name (an alias ARN of another account or region, another bare key id).
    return checkResponseKey("DescribeKey", keyId, out.KeyMetadata?.Arn);
  };

  // One DescribeKey per identifier, shared by concurrent callers, so no one caller's signal cancels it; but once
  // every caller waiting on it has given up, it is cancelled and forgotten, or a request that never ends would
  // hold the identifier, and every strict decryption after it, for good.
  const resolveArn = async (keyId: string, signal: AbortSignal | undefined): Promise<string> => {
    let entry = resolutions.get(keyId);
    if (!entry) {
      const cancel = new AbortController();
      const started: Resolution = {
        arn: describeKey(keyId, cancel.signal),
        cancel,
        waiting: 0,
        settled: false,
      };
      started.arn.then(
        () => {
          started.settled = true;
        },
        () => {
          started.settled = true;
          if (resolutions.get(keyId) === started) resolutions.delete(keyId); // asked again next time
        },
      );
      resolutions.set(keyId, started);
      entry = started;
    }
    entry.waiting++;
    try {
      return await untilAborted(entry.arn, signal);
    } finally {
      entry.waiting--;
      if (entry.waiting === 0 && !entry.settled && signal?.aborted) {
        if (resolutions.get(keyId) === entry) resolutions.delete(keyId);
        entry.cancel.abort();
      }
    }
  };

  const checkResponseKey = (operation: string, requested: string, returned: string | undefined): string => {
    if (!returned || !isKeyArn(returned)) {
      throw new SealkitError(
        "ERR_PROVIDER_UNAVAILABLE",
        `AWS KMS ${operation} with key ${requested} returned no key ARN`,
      );
    }
    if (!answersFor(requested, returned)) {
      throw new SealkitError(
        "ERR_PROVIDER_UNAVAILABLE",
        `AWS KMS ${operation} with key ${requested} answered for another key, ${returned}`,
      );
    }
    return returned;
  };

  const encryptUnder = async (
    keyId: string,
    plaintext: Uint8Array,
    { context, signal }: ProviderCallOptions,
  ): Promise<EncryptedDataKey> => {
    let out: { KeyId?: string; CiphertextBlob?: unknown };
    try {
      out = await clientFor(keyId).send(
        new EncryptCommand({
          KeyId: keyId,
          Plaintext: plaintext,
          EncryptionContext: { ...context },
          GrantTokens: tokens,
        }),
        { abortSignal: signal },
      );
    } catch (error) {
      throw signal?.aborted ? signal.reason : fromKmsError(error, "Encrypt", keyId);
    }
    const arn = checkResponseKey("Encrypt", keyId, out.KeyId);
    if (!isCiphertextBlob(out.CiphertextBlob)) {
      throw new SealkitError(
        "ERR_PROVIDER_UNAVAILABLE",
        `AWS KMS Encrypt with key ${keyId} returned no ciphertext of 1 to ${MAX_CIPHERTEXT_BLOB} bytes`,
      );
    }
    return { providerId: AWS_KMS_PROVIDER_ID, keyId: arn, ciphertext: out.CiphertextBlob };
  };

  // Strict mode: configured key ARNs match directly; any other form (alias, alias ARN, bare key id) is resolved
  // to its key ARN with DescribeKey before KMS is asked to decrypt.
  const configuredArns = configured.filter(isKeyArn);
  const unresolved = configured.filter((id) => !isKeyArn(id));

  const mayTry = (arn: string): boolean => {
    const key = parseKmsArn(arn);
    if (key?.resourceType !== "key") return false;
    if (!discovery) {
      if (configuredArns.includes(arn)) return true;
      // Until the aliases are resolved any key ARN may be one of them; decryptDataKey resolves and checks.
      return resolvedArns ? resolvedArns.has(arn) : unresolved.length > 0;
    }
    const filter = discoveryFilter!;
    return (
      key.partition === filter.partition &&
      filter.accountIds.includes(key.accountId) &&
      (filter.regions === undefined || filter.regions.includes(key.region))
    );
  };

  const canDecrypt = (edk: EncryptedDataKey): boolean =>
    edk.providerId === AWS_KMS_PROVIDER_ID && mayTry(edk.keyId);

  return {
    providerId: AWS_KMS_PROVIDER_ID,

    async generateDataKey(request: GenerateDataKeyRequest): Promise<DataKey> {
      if (!generatorKeyId) throw new TypeError(`"generatorKeyId" is required to encrypt`);
      const { length, context, signal } = request;
      aint(length, "length", 1, 1024); // KMS's NumberOfBytes
      checkContext(context);
      // Typed loosely: the SDK passes a JSON number or array through where bytes were due.
      let out: { KeyId?: string; Plaintext?: unknown; CiphertextBlob?: unknown };
      try {
        out = await clientFor(generatorKeyId).send(
          new GenerateDataKeyCommand({
            KeyId: generatorKeyId,
            NumberOfBytes: length,
            EncryptionContext: { ...context },
            GrantTokens: tokens,
          }),
          { abortSignal: signal },
        );
      } catch (error) {
        throw signal?.aborted ? signal.reason : fromKmsError(error, "GenerateDataKey", generatorKeyId);
      }
      const plaintext = out.Plaintext;
      if (
        !(plaintext instanceof Uint8Array) ||
        plaintext.length !== length ||
        !isCiphertextBlob(out.CiphertextBlob)
      ) {
        wipeField(plaintext);
        throw new SealkitError(
          "ERR_PROVIDER_UNAVAILABLE",
          `AWS KMS GenerateDataKey with key ${generatorKeyId} returned a malformed data key`,
        );
      }
      try {
        const arn = checkResponseKey("GenerateDataKey", generatorKeyId, out.KeyId);
        const encryptedDataKeys: EncryptedDataKey[] = [
          { providerId: AWS_KMS_PROVIDER_ID, keyId: arn, ciphertext: out.CiphertextBlob },
        ];
        for (const keyId of keyIds) encryptedDataKeys.push(await encryptUnder(keyId, plaintext, request));
        return { plaintext, encryptedDataKeys };
      } catch (error) {
        wipe(plaintext);
        throw error;
      }
    },

    async encryptDataKey(request) {
      if (!generatorKeyId && keyIds.length === 0) throw new TypeError(`a discovery provider cannot encrypt`);
      // The SDK would take a string too, and encrypt its UTF-8 bytes as the data key.
      abytes(request.plaintext, "plaintext");
      checkContext(request.context);
      const out: EncryptedDataKey[] = [];
      for (const keyId of configured) out.push(await encryptUnder(keyId, request.plaintext, request));
      return out;
    },

    async decryptDataKey({ encryptedDataKey: edk, context, signal }) {
      if (!canDecrypt(edk)) {
        throw new SealkitError("ERR_ACCESS_DENIED", `key ${edk.keyId} is not one this provider may use`);
      }
      checkContext(context);
      if (!discovery && !configuredArns.includes(edk.keyId)) {
        // The DescribeKey calls are shared with other callers: each stops waiting on abort.
        const outcomes = await Promise.allSettled(unresolved.map((id) => resolveArn(id, signal)));
        signal?.throwIfAborted();
        const arns = outcomes.flatMap((o) => (o.status === "fulfilled" ? [o.value] : []));
        if (arns.length === unresolved.length) resolvedArns ??= new Set(arns);
        // One alias that no longer resolves (deleted, not allowed) must not stop the others from decrypting; only
        // when the key is none of theirs may it be the one that alias named, so its failure is what is told.
        if (!arns.includes(edk.keyId)) {
          const failed = outcomes.find((o) => o.status === "rejected");
          if (failed) throw failed.reason;
          throw new SealkitError("ERR_ACCESS_DENIED", `key ${edk.keyId} is not one this provider may use`);
        }
      }
      let out: { KeyId?: string; Plaintext?: unknown };
      try {
        out = await clientFor(edk.keyId).send(
          new DecryptCommand({
            KeyId: edk.keyId,
            CiphertextBlob: edk.ciphertext,
            EncryptionContext: { ...context },
            GrantTokens: tokens,
          }),
          { abortSignal: signal },
        );
      } catch (error) {
        throw signal?.aborted ? signal.reason : fromKmsError(error, "Decrypt", edk.keyId);
      }
      if (out.KeyId !== edk.keyId || !(out.Plaintext instanceof Uint8Array) || out.Plaintext.length === 0) {
        wipeField(out.Plaintext);
        throw new SealkitError(
          "ERR_PROVIDER_UNAVAILABLE",
          `AWS KMS Decrypt with key ${edk.keyId} answered for another key or with no plaintext`,
        );
      }
      return out.Plaintext;
    },

    canDecrypt,
  };
}
