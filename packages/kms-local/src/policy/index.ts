// Key policies and grants of the local KMS: parse, evaluate, lockout check, grant constraints, grant tokens.

export { checkLockout, type LockoutOptions } from "./check-lockout.js";
export { CONDITION_OPERATORS } from "./conditions.js";
export { defaultKeyPolicy } from "./default-key-policy.js";
export { evaluatePolicy, roleArnOfSession } from "./evaluate-policy.js";
export {
  decodeGrantToken,
  decodeGrantTokens,
  encodeGrantToken,
  MAX_GRANT_TOKEN_LENGTH,
  MAX_GRANT_TOKENS,
  newGrantId,
} from "./grant-token.js";
export {
  canListRetirableGrants,
  canRetireGrant,
  constraintsAtLeastAsStrict,
  contextSatisfies,
  GRANT_OPERATIONS,
  type Grant,
  type GrantConstraints,
  type GrantRequest,
  grantAllows,
  grantAllowsCreateGrant,
  grantPrincipalMatches,
  MAX_CONSTRAINT_PAIRS,
  MAX_CONSTRAINT_VALUE_LENGTH,
  SYMMETRIC_GRANT_OPERATIONS,
  validateGrantConstraints,
  validateGrantName,
  validateGrantOperations,
  validateGrantPrincipal,
} from "./grants.js";
export {
  CONTEXT_OPERATIONS,
  type ConditionKeySource,
  conditionKeysFor,
  GRANT_FOR_AWS_RESOURCE_OPERATIONS,
  type KeyProperties,
  operationToAction,
  requestAliasOf,
} from "./operations.js";
export {
  MAX_POLICY_LENGTH,
  type ParsePolicyOptions,
  parsePolicy,
  policyUsesConditionKey,
  policyUsesConditionKeyPrefix,
} from "./parse-policy.js";
export { principalConditionKeys } from "./principal-keys.js";
export type {
  ConditionValue,
  Policy,
  PolicyDecision,
  PolicyRequest,
  PolicyStatement,
  PolicyVersion,
  PrincipalSpec,
} from "./types.js";
