// The condition keys that describe the caller (aws:PrincipalType, aws:username, ...), derived from its ARN.

import { roleArnOfSession } from "./evaluate-policy.js";
import type { ConditionValue } from "./types.js";

const ROOT = /^arn:[a-z0-9-]+:iam::(\d{12}):root$/;
// An IAM user ARN may carry a path (user/division/alice); aws:username is the last part, the user's name.
const USER = /^arn:[a-z0-9-]+:iam::\d{12}:user\/(?:[^/]*\/)*([^/]+)$/;
const ASSUMED_ROLE = /^arn:[a-z0-9-]+:sts::\d{12}:assumed-role\//;
const FEDERATED_USER = /^arn:[a-z0-9-]+:sts::(\d{12}):federated-user\/(.+)$/;

/**
 * The principal condition keys of a request made by `principal` of `account`, as IAM's global condition key
 * reference (aws:PrincipalType, aws:userid, aws:username, aws:PrincipalArn, aws:PrincipalAccount,
 * aws:PrincipalIsAWSService) and AWS KMS's kms:CallerAccount describe them:
 * - the account root user: aws:PrincipalType "Account", aws:userid the account id;
 * - an IAM user: "User", aws:username its name (aws:userid, its unique id AIDA..., is not known here);
 * - an assumed-role session: "AssumedRole", aws:PrincipalArn the role's ARN (aws:userid, role id:session, is not
 *   known here);
 * - a federated user (GetFederationToken): "FederatedUser", aws:userid "account:name".
 * An ARN of another kind gets no aws:PrincipalType. The local KMS has no anonymous callers.
 */
export function principalConditionKeys(principal: string, account: string): Record<string, ConditionValue> {
  const keys: Record<string, ConditionValue> = {
    "kms:CallerAccount": account,
    "aws:PrincipalArn": roleArnOfSession(principal) ?? principal,
    "aws:PrincipalAccount": account,
    // Every caller here signs with IAM credentials; a service principal never calls the local KMS itself.
    "aws:PrincipalIsAWSService": false,
  };
  const root = ROOT.exec(principal);
  if (root) {
    keys["aws:PrincipalType"] = "Account";
    keys["aws:userid"] = root[1];
    return keys;
  }
  const user = USER.exec(principal);
  if (user) {
    keys["aws:PrincipalType"] = "User";
    keys["aws:username"] = user[1];
    return keys;
  }
  if (ASSUMED_ROLE.test(principal)) {
    keys["aws:PrincipalType"] = "AssumedRole";
    return keys;
  }
  const federated = FEDERATED_USER.exec(principal);
  if (federated) {
    keys["aws:PrincipalType"] = "FederatedUser";
    keys["aws:userid"] = `${federated[1]}:${federated[2]}`;
  }
  return keys;
}
