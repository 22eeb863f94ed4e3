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

function principalMatches(
  m: PrincipalMatcher,
  request: PolicyRequest,
  roleArn: () => string | undefined,
  conditions: () => RequestConditions,
): boolean {
  if (m.any) return true;
  // Account root (ARN or bare id): there is no IAM here, so it stands for every principal of that account.
  if (m.accounts.size > 0 && m.accounts.has(request.account)) return true;
  if (m.arns.size > 0) {
    if (m.arns.has(request.principal)) return true;
    const role = roleArn();
    if (role !== undefined && m.arns.has(role)) return true;
  }
  if (m.services.size > 0) {
    if (request.service !== undefined && m.services.has(request.service)) return true;
    const via = conditions().get("kms:viaservice");
    if (via?.some((s) => m.services.has(s))) return true;
  }
  return false;
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
    if (principalMatches(s.principals, request, roleArn, conditions) === s.principalNegated) continue;
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
 * request made by (`request.service`) or through (`kms:ViaService`) that service.
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
