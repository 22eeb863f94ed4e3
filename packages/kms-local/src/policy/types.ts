// The shapes of parsed key policies and of the requests they are evaluated against.

/** The policy language versions IAM (and so AWS KMS) accepts. */
export type PolicyVersion = "2012-10-17" | "2008-10-17";

/** A statement's Principal or NotPrincipal, normalised: `"*"`, or lists per principal type. */
export type PrincipalSpec =
  | "*"
  | {
      /** Principal ARNs, account roots (`arn:aws:iam::111122223333:root` or `111122223333`) or `"*"`. */
      readonly AWS?: readonly string[];
      /** Service principals such as `dynamodb.amazonaws.com`. */
      readonly Service?: readonly string[];
    };

/** One statement of a parsed policy, with every list normalised to an array. */
export interface PolicyStatement {
  readonly sid?: string;
  readonly effect: "Allow" | "Deny";
  readonly principal?: PrincipalSpec;
  readonly notPrincipal?: PrincipalSpec;
  readonly action?: readonly string[];
  readonly notAction?: readonly string[];
  readonly resource?: readonly string[];
  readonly notResource?: readonly string[];
  /** Operator → condition key → values (booleans and numbers converted to strings). */
  readonly condition?: Readonly<Record<string, Readonly<Record<string, readonly string[]>>>>;
}

/** A parsed, validated and compiled key policy. Immutable; obtain one from `parsePolicy`. */
export interface Policy {
  /** `Version`, or "2008-10-17" when the document has none (as IAM assumes). */
  readonly version: PolicyVersion;
  readonly id?: string;
  readonly statements: readonly PolicyStatement[];
  /** The JSON text the policy was parsed from (what GetKeyPolicy returns). */
  readonly json: string;
}

/** A value of a condition key in a request: a string, several strings, a boolean, or absent. */
export type ConditionValue = string | readonly string[] | boolean | undefined;

/** What a key policy is evaluated against. The caller fills every field, including the condition keys. */
export interface PolicyRequest {
  /** The caller's ARN, e.g. `arn:aws:iam::111122223333:user/alice` or an assumed-role session ARN. */
  readonly principal: string;
  /** The caller's 12-digit account id. */
  readonly account: string;
  /** The IAM action, e.g. `kms:Decrypt` (see `operationToAction`). */
  readonly action: string;
  /** The key ARN the request acts on. */
  readonly resource: string;
  /**
   * Condition keys and their values, e.g. `kms:EncryptionContext:tenant`, `kms:EncryptionContextKeys` (array),
   * `kms:CallerAccount`, `kms:ViaService`. Names are matched case-insensitively. `conditionKeysFor` builds them.
   * May be a function returning them: it is called at most once, and only when a statement needs them.
   */
  readonly conditions?:
    | Readonly<Record<string, ConditionValue>>
    | (() => Readonly<Record<string, ConditionValue>>);
  /**
   * When the caller is an AWS service acting for itself (a service principal such as `logs.amazonaws.com`),
   * its name: statements whose Principal is `{ "Service": ... }` match only such callers (or kms:ViaService).
   */
  readonly service?: string;
}

/** The outcome of evaluating a policy: an explicit Allow, an explicit Deny, or no statement allowing it. */
export type PolicyDecision = "allow" | "deny" | "implicit-deny";
