// evaluatePolicy: decides allow / deny / implicit-deny for one request under one key policy.

import type { PrincipalMatcher } from "./compiled.js";
import { conditionHolds, normalizeConditions, type RequestConditions } from "./conditions.js";
import { compiledOf, parsePolicy } from "./parse-policy.js";
import type { Policy, PolicyDecision, PolicyRequest } from "./types.js";
import { matches } from "./wildcard.js";

const ASSUMED_ROLE = /^arn:([a-z0-9-]+):sts::(\d{12}):assumed-role\/([^/]+)\/.+$/;

/**
 * The IAM role ARN behind an assumed-role session ARN (`arn:aws:sts::1:assumed-role/R/s` →
 * `arn:aws:iam::1:role/R`), as IAM matches a role principal for its sessions; undefined otherwise.
 */
export function roleArnOfSession(principal: string): string | undefined {
  const m = ASSUMED_ROLE.exec(principal);
  return m ? `arn:${m[1]}:iam::${m[2]}:role/${m[3]}` : undefined;
}

const ROLE_ARN = /^arn:([a-z0-9-]+):iam::(\d{12}):role\/(?:[^/]+\/)*([^/]+)$/;

/**
 * Whether the role ARN `named` (with or without a path, `arn:aws:iam::1:role/team/R`) is the role `sessionRole` of
 * an assumed-role session (as `roleArnOfSession` gives it, without a path). A session ARN carries the role's name
 * but not its path, and role names are unique in an account whatever their path, so partition, account and name
 * decide.
 */
export function sameRole(named: string, sessionRole: string): boolean {
  if (named === sessionRole) return true;
  const a = ROLE_ARN.exec(named);
  const b = a ? ROLE_ARN.exec(sessionRole) : null;
  return a !== null && b !== null && a[1] === b[1] && a[2] === b[2] && a[3] === b[3];
}

const ACCOUNT_ROOT = /^arn:[a-z0-9-]+:iam::(\d{12}):root$/;

/** Whether a Principal element names the caller. */
function principalMatches(
  m: PrincipalMatcher,
  request: PolicyRequest,
  roleArn: () => string | undefined,
): boolean {
  if (m.any) return true;
  // Account root (ARN or bare id): there is no IAM here, so it stands for every principal of that account.
  if (m.accounts.size > 0 && m.accounts.has(request.account)) return true;
  if (m.arns.size > 0) {
    if (m.arns.has(request.principal)) return true;
    const role = roleArn();
    if (role !== undefined) {
      if (m.arns.has(role)) return true;
      for (const named of m.arns) if (sameRole(named, role)) return true;
    }
  }
  // A service principal is a request the service makes as itself. A user's request that comes through a service
  // (kms:ViaService, IAM's forward access sessions) is the user's and is authorized as the user's.
  return m.services.size > 0 && request.service !== undefined && m.services.has(request.service);
}

/**
 * Whether a NotPrincipal element exempts the caller. IAM documents NotPrincipal (with Deny) as exempting only the
 * principals it names: naming an account does not exempt the account's users and roles, and naming a role does
 * not exempt its sessions (a session must be named itself, without wildcards). So, unlike Principal, an account
 * root here exempts only the account's root user, and a role ARN only the role.
 */
function notPrincipalExempts(m: PrincipalMatcher, request: PolicyRequest): boolean {
  if (m.any) return true;
  if (m.arns.has(request.principal)) return true;
  if (m.accounts.size > 0) {
    const root = ACCOUNT_ROOT.exec(request.principal)?.[1];
    if (root !== undefined && m.accounts.has(root)) return true;
  }
  return request.service !== undefined && m.services.has(request.service);
}

/**
 * Evaluates a request against a policy, skipping the Resource check when `resource` is undefined
 * (the lockout check, which does not know the ARN of a key being created).
 */
export function evaluate(
  policy: Policy | string,
  request: PolicyRequest,
  checkResource: boolean,
): PolicyDecision {
  const p = typeof policy === "string" ? parsePolicy(policy) : policy;
  const compiled = compiledOf(p);
  const action = request.action.toLowerCase();
  let role: string | undefined | null = null;
  const roleArn = () => {
    if (role === null) role = roleArnOfSession(request.principal);
    return role;
  };
  let normalized: RequestConditions | undefined;
  const conditions = () => {
    // Built on first need: a policy without conditions (the default one) never pays for them.
    normalized ??= normalizeConditions(
      typeof request.conditions === "function" ? request.conditions() : request.conditions,
    );
    return normalized;
  };
  let allowed = false;
  for (const s of compiled.statements) {
    // A statement without Action or Resource has no effect (AWS KMS accepts it, see parsePolicy).
    if (s.inert) continue;
    // Once allowed, only a Deny can change the answer.
    if (allowed && s.effect === "Allow") continue;
    if (matches(s.actions, action) === s.actionNegated) continue;
    if (checkResource && matches(s.resources, request.resource) === s.resourceNegated) continue;
    if (s.principalNegated) {
      // Fail-safe both ways: a Deny exempts only principals named exactly; an Allow (which IAM does not support
      // with NotPrincipal) excludes everyone the names could cover (the account's principals, a role's sessions).
      if (
        s.effect === "Deny"
          ? notPrincipalExempts(s.principals, request)
          : principalMatches(s.principals, request, roleArn)
      )
        continue;
    } else if (!principalMatches(s.principals, request, roleArn)) continue;
    if (s.conditions.length > 0) {
      const c = conditions();
      let holds = true;
      for (const cond of s.conditions) {
        if (!conditionHolds(cond, c.get(cond.key), s.effect)) {
          holds = false;
          break;
        }
      }
      if (!holds) continue;
    }
    if (s.effect === "Deny") return "deny";
    allowed = true;
  }
  return allowed ? "allow" : "implicit-deny";
}

function checkRequest(request: PolicyRequest): void {
  if (typeof request !== "object" || request === null) throw new TypeError('"request" expected an object');
  for (const field of ["principal", "account", "action", "resource"] as const) {
    if (typeof request[field] !== "string") {
      throw new TypeError(`"request.${field}" expected a string, got ${typeof request[field]}`);
    }
  }
}

/**
 * Evaluates a request against a key policy with IAM's logic: default deny; a matching Allow statement allows;
 * a matching Deny statement wins over every Allow. A statement matches when its principal, action, resource
 * and every condition match.
 *
 * Principals: an ARN matches that caller (a role ARN also matches its assumed-role sessions); an account root
 * (`arn:aws:iam::111122223333:root` or `111122223333`) matches every principal of that account, because this
 * local KMS has no IAM policies to delegate to; `"*"` matches everyone; a `Service` principal matches only a
 * request made by that service itself (`request.service`), not a user's request through it (`kms:ViaService`).
 * `NotPrincipal` in a Deny exempts only the principals it names exactly (an account root exempts the root user,
 * not the account's users; a role ARN exempts the role, not its sessions), as IAM documents NotPrincipal; in an
 * Allow it excludes everything its names would match as a Principal.
 *
 * @param policy A Policy from `parsePolicy`, or its JSON text (parsed through parsePolicy's cache).
 * @param request The caller, action, key ARN and condition keys.
 * @returns "allow", "deny" (an explicit Deny matched) or "implicit-deny" (nothing allowed it).
 * @throws TypeError when `request` lacks a string principal, account, action or resource.
 * @throws KmsError MalformedPolicyDocumentException when `policy` is JSON text that does not parse.
 */
export function evaluatePolicy(policy: Policy | string, request: PolicyRequest): PolicyDecision {
  checkRequest(request);
  return evaluate(policy, request, true);
}
