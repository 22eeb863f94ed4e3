// KMS operation names, their IAM actions, and the condition keys a request carries.

import { roleArnOfSession } from "./evaluate-policy.js";
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
  /** Any further keys, copied as given (kms:GrantOperations, kms:BypassPolicyLockoutSafetyCheck, ...). */
  readonly extra?: Readonly<Record<string, ConditionValue>>;
}

/**
 * The condition keys of a request, as AWS KMS sets them: kms:CallerAccount, aws:PrincipalArn (the role ARN for
 * an assumed-role session), aws:PrincipalAccount, kms:EncryptionContext:<key> for each pair,
 * kms:EncryptionContextKeys (absent when there is no context), kms:ViaService and kms:GrantIsForAWSResource
 * when given.
 *
 * @throws TypeError when `principal` or `account` is not a string, or a context value is not a string.
 */
export function conditionKeysFor(source: ConditionKeySource): Record<string, ConditionValue> {
  if (typeof source.principal !== "string") throw new TypeError('"principal" expected a string');
  if (typeof source.account !== "string") throw new TypeError('"account" expected a string');
  const keys: Record<string, ConditionValue> = {
    "kms:CallerAccount": source.account,
    "aws:PrincipalArn": roleArnOfSession(source.principal) ?? source.principal,
    "aws:PrincipalAccount": source.account,
  };
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
  if (source.extra) Object.assign(keys, source.extra);
  return keys;
}
