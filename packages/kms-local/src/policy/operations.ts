// KMS operation names, their IAM actions, and the condition keys a request carries.

import { principalConditionKeys } from "./principal-keys.js";
import type { ConditionValue } from "./types.js";

/**
 * The operations that take an encryption context: grant constraints apply to these only (AWS applies them to
 * every cryptographic operation with a symmetric key), and their requests carry kms:EncryptionContext keys.
 */
export const CONTEXT_OPERATIONS: ReadonlySet<string> = new Set([
  "Encrypt",
  "Decrypt",
  "GenerateDataKey",
  "GenerateDataKeyWithoutPlaintext",
  "GenerateDataKeyPair",
  "GenerateDataKeyPairWithoutPlaintext",
  "ReEncryptFrom",
  "ReEncryptTo",
]);

const OPERATION = /^[A-Z][A-Za-z]+$/;

/**
 * The IAM action for a KMS operation: "Decrypt" → "kms:Decrypt". ReEncrypt is authorised as two actions,
 * kms:ReEncryptFrom on the source key and kms:ReEncryptTo on the destination key; pass those names.
 *
 * @throws TypeError when `operation` is not an operation name (letters, starting with a capital).
 */
export function operationToAction(operation: string): string {
  if (typeof operation !== "string" || !OPERATION.test(operation)) {
    throw new TypeError(
      `"operation" expected a KMS operation name such as "Decrypt", got ${JSON.stringify(operation)}`,
    );
  }
  return `kms:${operation}`;
}

/**
 * The operations whose requests carry kms:GrantIsForAWSResource (CreateGrant, ListGrants, RevokeGrant): true when an
 * AWS service integrated with AWS KMS calls them on the principal's behalf.
 */
export const GRANT_FOR_AWS_RESOURCE_OPERATIONS: ReadonlySet<string> = new Set([
  "CreateGrant",
  "ListGrants",
  "RevokeGrant",
]);

/** The properties of a KMS key that its resource operations expose as condition keys (kms:KeySpec, ...). */
export interface KeyProperties {
  /** `KeySpec`, e.g. "SYMMETRIC_DEFAULT" (also sets the deprecated kms:CustomerMasterKeySpec). */
  readonly keySpec: string;
  /** `KeyUsage`, e.g. "ENCRYPT_DECRYPT" (also sets the deprecated kms:CustomerMasterKeyUsage). */
  readonly keyUsage: string;
  /** `Origin`, e.g. "AWS_KMS". */
  readonly origin: string;
  /** `MultiRegion`. */
  readonly multiRegion: boolean;
}

const ALIAS_IN_KEY_ID = /^(?:arn:[a-z0-9-]+:kms:[a-z0-9-]*:\d{12}:)?(alias\/[^\s]+)$/;

/**
 * kms:RequestAlias of a request: the alias name when its key identifier is an alias name (`alias/orders`) or an
 * alias ARN (`arn:aws:kms:us-east-1:111122223333:alias/orders`, whose alias name is taken); undefined for a key id,
 * a key ARN or anything else. A request that names the key another way does not satisfy a kms:RequestAlias
 * condition, even for the same key.
 */
export function requestAliasOf(keyId: unknown): string | undefined {
  if (typeof keyId !== "string") return undefined;
  return ALIAS_IN_KEY_ID.exec(keyId)?.[1];
}

/** What `conditionKeysFor` builds the condition keys from. */
export interface ConditionKeySource {
  /** The caller's ARN. */
  readonly principal: string;
  /** The caller's account id. */
  readonly account: string;
  /** The request's encryption context, if the operation takes one. */
  readonly context?: Readonly<Record<string, string>>;
  /** The service the request came through (kms:ViaService), e.g. "s3.us-east-1.amazonaws.com". */
  readonly viaService?: string;
  /** kms:GrantIsForAWSResource, for CreateGrant/ListGrants/RevokeGrant requests made by an AWS service. */
  readonly grantIsForAwsResource?: boolean;
  /**
   * The properties of the KMS key the request acts on: AWS KMS sets kms:KeySpec, kms:KeyUsage, kms:KeyOrigin,
   * kms:MultiRegion (and the deprecated kms:CustomerMasterKeySpec and kms:CustomerMasterKeyUsage) for every KMS key
   * resource operation.
   */
  readonly key?: KeyProperties;
  /**
   * kms:EncryptionAlgorithm: the algorithm the operation uses (Encrypt, Decrypt, ReEncrypt, GenerateDataKey*), set
   * even when the request does not name one, e.g. "SYMMETRIC_DEFAULT".
   */
  readonly encryptionAlgorithm?: string;
  /** kms:RequestAlias: the alias name the request identified the key by (see `requestAliasOf`). */
  readonly requestAlias?: string;
  /**
   * kms:ResourceAliases: the names of the aliases associated with the key (absent when it has none). Costs a
   * lookup: pass it only when the policy uses the key (see `policyUsesConditionKey`).
   */
  readonly resourceAliases?: readonly string[];
  /**
   * The key's tags, as aws:ResourceTag/<TagKey> (ABAC). Costs a lookup: pass them only when the policy tests such a
   * key (see `policyUsesConditionKeyPrefix`).
   */
  readonly resourceTags?: readonly { readonly TagKey: string; readonly TagValue: string }[];
  /** The tags a request sets (TagResource), as aws:RequestTag/<TagKey>; their keys are also aws:TagKeys. */
  readonly requestTags?: readonly { readonly TagKey: string; readonly TagValue: string }[];
  /** aws:TagKeys of a request that names tag keys without values (UntagResource). */
  readonly tagKeys?: readonly string[];
  /** The time of the request: aws:CurrentTime (ISO 8601) and aws:EpochTime (seconds), always present in AWS. */
  readonly now?: Date;
  /** aws:RequestedRegion, the Region called (always present in AWS), e.g. "us-east-1". */
  readonly region?: string;
  /** aws:SourceIp, the client's IP address (for IpAddress and NotIpAddress). */
  readonly sourceIp?: string;
  /** aws:SecureTransport, whether the request came over TLS. */
  readonly secureTransport?: boolean;
  /** Any further keys, copied as given (kms:GrantOperations, kms:BypassPolicyLockoutSafetyCheck, ...). */
  readonly extra?: Readonly<Record<string, ConditionValue>>;
}

/**
 * The condition keys of a request, as AWS KMS sets them: the caller's keys (kms:CallerAccount, aws:PrincipalArn,
 * the role ARN for an assumed-role session, aws:PrincipalAccount, aws:PrincipalType, aws:username or aws:userid
 * where the ARN tells them, aws:PrincipalIsAWSService), aws:ViaAWSService, kms:EncryptionContext:<key> for each
 * pair, kms:EncryptionContextKeys (absent when there is no context), and when given kms:ViaService,
 * kms:GrantIsForAWSResource, the key's properties (kms:KeySpec, kms:KeyUsage, kms:KeyOrigin, kms:MultiRegion),
 * kms:EncryptionAlgorithm, kms:RequestAlias, kms:ResourceAliases, aws:ResourceTag/<key>, aws:RequestTag/<key>,
 * aws:TagKeys, aws:CurrentTime, aws:EpochTime, aws:RequestedRegion, aws:SourceIp and aws:SecureTransport.
 *
 * @throws TypeError when `principal` or `account` is not a string, a context value is not a string, or `now` is
 *   an invalid Date.
 */
export function conditionKeysFor(source: ConditionKeySource): Record<string, ConditionValue> {
  if (typeof source.principal !== "string") throw new TypeError('"principal" expected a string');
  if (typeof source.account !== "string") throw new TypeError('"account" expected a string');
  const keys = principalConditionKeys(source.principal, source.account);
  // IAM's aws:ViaAWSService: true when an AWS service makes the request with the principal's credentials.
  keys["aws:ViaAWSService"] = source.viaService !== undefined;
  if (source.context) {
    const names = Object.keys(source.context);
    for (const name of names) {
      const value = source.context[name];
      if (typeof value !== "string")
        throw new TypeError(`encryption context value of "${name}" expected a string`);
      keys[`kms:EncryptionContext:${name}`] = value;
    }
    if (names.length > 0) keys["kms:EncryptionContextKeys"] = names;
  }
  if (source.viaService !== undefined) keys["kms:ViaService"] = source.viaService;
  if (source.grantIsForAwsResource !== undefined)
    keys["kms:GrantIsForAWSResource"] = source.grantIsForAwsResource;
  if (source.key) {
    keys["kms:KeySpec"] = source.key.keySpec;
    keys["kms:CustomerMasterKeySpec"] = source.key.keySpec;
    keys["kms:KeyUsage"] = source.key.keyUsage;
    keys["kms:CustomerMasterKeyUsage"] = source.key.keyUsage;
    keys["kms:KeyOrigin"] = source.key.origin;
    keys["kms:MultiRegion"] = source.key.multiRegion;
  }
  if (source.encryptionAlgorithm !== undefined) keys["kms:EncryptionAlgorithm"] = source.encryptionAlgorithm;
  if (source.requestAlias !== undefined) keys["kms:RequestAlias"] = source.requestAlias;
  if (source.resourceAliases !== undefined && source.resourceAliases.length > 0)
    keys["kms:ResourceAliases"] = source.resourceAliases;
  if (source.resourceTags)
    for (const t of source.resourceTags) keys[`aws:ResourceTag/${t.TagKey}`] = t.TagValue;
  if (source.requestTags) {
    for (const t of source.requestTags) keys[`aws:RequestTag/${t.TagKey}`] = t.TagValue;
    if (source.requestTags.length > 0) keys["aws:TagKeys"] = source.requestTags.map((t) => t.TagKey);
  }
  if (source.tagKeys && source.tagKeys.length > 0) keys["aws:TagKeys"] = source.tagKeys;
  if (source.now !== undefined) {
    const ms = source.now.getTime();
    if (!Number.isFinite(ms)) throw new TypeError('"now" expected a valid Date');
    keys["aws:CurrentTime"] = source.now.toISOString();
    keys["aws:EpochTime"] = String(Math.floor(ms / 1000));
  }
  if (source.region !== undefined) keys["aws:RequestedRegion"] = source.region;
  if (source.sourceIp !== undefined) keys["aws:SourceIp"] = source.sourceIp;
  if (source.secureTransport !== undefined) keys["aws:SecureTransport"] = source.secureTransport;
  if (source.extra) Object.assign(keys, source.extra);
  return keys;
}
