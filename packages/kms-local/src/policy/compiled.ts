// The compiled form of a policy that parsePolicy attaches to each Policy and evaluatePolicy runs.

import type { CompiledCondition } from "./conditions.js";
import type { Policy } from "./types.js";
import type { StringMatcher } from "./wildcard.js";

/** Who a Principal or NotPrincipal names. */
export interface PrincipalMatcher {
  readonly any: boolean;
  /** 12-digit account ids named by their root ARN or bare id: every principal of that account matches. */
  readonly accounts: ReadonlySet<string>;
  readonly arns: ReadonlySet<string>;
  readonly services: ReadonlySet<string>;
}

export interface CompiledStatement {
  readonly effect: "Allow" | "Deny";
  readonly principals: PrincipalMatcher;
  readonly principalNegated: boolean;
  /** Patterns lower-cased: action names are case-insensitive. */
  readonly actions: StringMatcher;
  readonly actionNegated: boolean;
  readonly resources: StringMatcher;
  readonly resourceNegated: boolean;
  readonly conditions: readonly CompiledCondition[];
  /**
   * True for a statement without Action/NotAction or without Resource/NotResource: AWS KMS accepts such a policy
   * (PutKeyPolicy succeeds) but the statement has no effect, so it never matches.
   */
  readonly inert?: boolean;
}

export interface CompiledPolicy {
  readonly statements: readonly CompiledStatement[];
  readonly hasConditions: boolean;
  /** Every condition key the statements test, lower-cased (what `policyUsesConditionKey` answers from). */
  readonly conditionKeys: ReadonlySet<string>;
  /**
   * Why AWS KMS would refuse this document in CreateKey or PutKeyPolicy although it evaluates (the
   * OverlyPermissiveCondition rule): `parsePolicy` throws it unless the policy is read back from storage.
   */
  readonly writeProblem?: string;
}

/** Where a Policy keeps its compiled form (not enumerable, not part of the JSON). */
export const COMPILED: unique symbol = Symbol("sealkit.kms-local.compiled-policy");

export type PolicyWithCompiled = Policy & { readonly [COMPILED]: CompiledPolicy };
