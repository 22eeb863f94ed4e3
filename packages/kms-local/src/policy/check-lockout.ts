// checkLockout: AWS KMS's policy lockout safety check (can the caller still change the policy afterwards?).

import { evaluate } from "./evaluate-policy.js";
import { principalConditionKeys } from "./principal-keys.js";
import type { ConditionValue, Policy } from "./types.js";

/** Options of `checkLockout`. */
export interface LockoutOptions {
  /** The key's ARN. Without it, Resource elements are assumed to match the key. */
  readonly keyArn?: string;
  /**
   * Extra condition keys of the hypothetical later PutKeyPolicy request (the caller's keys are set: kms:CallerAccount,
   * aws:PrincipalAccount, aws:PrincipalArn, the role ARN for an assumed-role session, aws:PrincipalType, ...).
   */
  readonly conditions?: Readonly<Record<string, ConditionValue>>;
}

/**
 * The policy lockout safety check: true when, under `policy`, `callerPrincipal` could still call
 * kms:PutKeyPolicy on the key. AWS KMS refuses a CreateKey or PutKeyPolicy whose policy fails this check with
 * MalformedPolicyDocumentException, unless BypassPolicyLockoutSafetyCheck is true; the caller of this function
 * raises that error.
 *
 * @param policy A Policy from `parsePolicy`, or its JSON text.
 * @param callerPrincipal The ARN of the principal setting the policy.
 * @param account The caller's account id.
 * @throws TypeError when `callerPrincipal` or `account` is not a string.
 * @throws KmsError MalformedPolicyDocumentException when `policy` is JSON text that does not parse.
 */
export function checkLockout(
  policy: Policy | string,
  callerPrincipal: string,
  account: string,
  options: LockoutOptions = {},
): boolean {
  if (typeof callerPrincipal !== "string") throw new TypeError('"callerPrincipal" expected a string');
  if (typeof account !== "string") throw new TypeError('"account" expected a string');
  const decision = evaluate(
    policy,
    {
      principal: callerPrincipal,
      account,
      action: "kms:PutKeyPolicy",
      resource: options.keyArn ?? "",
      // The caller's keys as conditionKeysFor sets them (an assumed-role session's aws:PrincipalArn is its
      // role's ARN; aws:PrincipalType, aws:username, ...).
      conditions: { ...principalConditionKeys(callerPrincipal, account), ...options.conditions },
    },
    options.keyArn !== undefined,
  );
  return decision === "allow";
}
