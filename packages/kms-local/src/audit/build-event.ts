// Turns an AuditEventInput into the CloudTrail-shaped body of a stored event, refusing anything secret-looking.

import { randomUUID } from "node:crypto";
import type { AuditEvent, AuditEventInput, AuditUserIdentity } from "./types.js";

/** An event before the group commit gives it a sequence, a previous hash and a hash. */
export type AuditEventBody = Omit<AuditEvent, "sequence" | "prevHash" | "hash">;

/** A checked event body and its canonical JSON up to (not including) `sequence` and `prevHash`. */
export interface PreparedEvent {
  body: AuditEventBody;
  /** `canonicalEventJson(body)` without its closing brace: the group commit appends sequence and prevHash. */
  prefix: string;
}

/** Member names that may never appear in requestParameters or responseElements, at any depth (case-insensitive). */
const FORBIDDEN_KEYS = new Set(["plaintext", "ciphertextblob", "keymaterial"]);

/** Operations CloudTrail records as readOnly besides Describe*, Get* and List*. */
const READ_ONLY_OPERATIONS = new Set([
  "Encrypt",
  "Decrypt",
  "ReEncrypt",
  "GenerateDataKey",
  "GenerateDataKeyWithoutPlaintext",
  "GenerateDataKeyPair",
  "GenerateDataKeyPairWithoutPlaintext",
  "GenerateRandom",
  "GenerateMac",
  "VerifyMac",
  "Sign",
  "Verify",
]);

const MAX_DEPTH = 32;

/** Largest event accepted, in UTF-16 characters of canonical JSON (CloudTrail caps events at 256 KB too). */
export const MAX_EVENT_CHARS = 256 * 1024;

/**
 * Throws if `value` holds a forbidden member name or binary data anywhere inside it, so that plaintext,
 * ciphertext blobs and key material can never reach the log even when a caller passes a whole request.
 *
 * @throws TypeError naming the offending path.
 */
export function assertNoSecrets(value: unknown, path: string): void {
  const found = findSecret(value, 0);
  if (found === undefined) return;
  const [where, why] = found;
  throw new TypeError(
    `audit event: "${path}${where}" is ${why}; plaintext or key material must never be logged`,
  );
}

/** The path (built only on the way out, so the common case allocates nothing) and reason of the first secret-looking value. */
function findSecret(value: unknown, depth: number): [string, string] | undefined {
  if (value === null || typeof value !== "object") return undefined;
  if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer || value instanceof SharedArrayBuffer) {
    return ["", "binary data"];
  }
  if (depth >= MAX_DEPTH) return ["", `nested deeper than ${MAX_DEPTH} levels`];
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = findSecret(value[i], depth + 1);
      if (found !== undefined) return [`[${i}]${found[0]}`, found[1]];
    }
    return undefined;
  }
  for (const key in value) {
    if (!Object.hasOwn(value, key)) continue;
    if (FORBIDDEN_KEYS.has(key.toLowerCase())) return [`.${key}`, "refused"];
    const found = findSecret((value as Record<string, unknown>)[key], depth + 1);
    if (found !== undefined) return [`.${key}${found[0]}`, found[1]];
  }
  return undefined;
}

function requireString(value: unknown, name: string): string {
  if (typeof value !== "string" || value.length === 0) {
    throw new TypeError(`audit event: "${name}" expected a non-empty string, got ${describe(value)}`);
  }
  return value;
}

function optionalString(value: unknown, name: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "string")
    throw new TypeError(`audit event: "${name}" expected a string, got ${describe(value)}`);
  return value;
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (typeof value === "string") return `string of length ${value.length}`;
  return typeof value;
}

/** CloudTrail's userIdentity for a caller: Root for `:root` ARNs, AWSService for service principals, else IAMUser. */
function userIdentityOf(input: AuditEventInput): AuditUserIdentity {
  const caller = input.caller;
  const principal = caller.principal;
  let type: AuditUserIdentity["type"] = "IAMUser";
  let principalId = principal;
  if (!principal.startsWith("arn:") && principal.endsWith(".amazonaws.com")) {
    type = "AWSService";
  } else if (principal.endsWith(":root")) {
    type = "Root";
    principalId = caller.account;
  } else {
    // arn:aws:iam::111122223333:user/alice -> user/alice: stable, and unlike AWS's AIDA... ids, derivable here.
    const resource = principal.split(":").slice(5).join(":");
    if (resource.length > 0) principalId = resource;
  }
  const identity: AuditUserIdentity = {
    type,
    principalId,
    arn: principal,
    accountId: caller.account,
    accessKeyId: caller.accessKeyId ?? "",
  };
  if (caller.viaService !== undefined) identity.invokedBy = caller.viaService;
  return identity;
}

/**
 * Checks an input and builds the stored body and its canonical JSON prefix. The text is taken now, so later
 * changes by the caller cannot alter an event waiting for its commit.
 *
 * @throws TypeError for a malformed input or a secret-looking field.
 * @throws RangeError for an event larger than {@link MAX_EVENT_CHARS}.
 */
export function prepareEvent(
  input: AuditEventInput,
  defaults: { now: Date; eventSource: string; region: string | undefined },
): PreparedEvent {
  if (input === null || typeof input !== "object") {
    throw new TypeError(`audit event: expected an object, got ${describe(input)}`);
  }
  const eventName = requireString(input.eventName, "eventName");
  const caller = input.caller;
  if (caller === null || typeof caller !== "object") {
    throw new TypeError(`audit event: "caller" expected an object, got ${describe(caller)}`);
  }
  requireString(caller.principal, "caller.principal");
  requireString(caller.account, "caller.account");
  for (const name of ["accessKeyId", "sourceIp", "userAgent", "viaService"] as const) {
    optionalString(caller[name], `caller.${name}`);
  }
  const time = input.eventTime ?? defaults.now;
  if (!(time instanceof Date) || Number.isNaN(time.getTime())) {
    throw new TypeError(`audit event: "eventTime" expected a valid Date`);
  }
  const requestParameters = input.requestParameters ?? null;
  const responseElements = input.responseElements ?? null;
  if (requestParameters !== null && typeof requestParameters !== "object") {
    throw new TypeError(
      `audit event: "requestParameters" expected an object, got ${describe(requestParameters)}`,
    );
  }
  if (responseElements !== null && typeof responseElements !== "object") {
    throw new TypeError(
      `audit event: "responseElements" expected an object, got ${describe(responseElements)}`,
    );
  }
  assertNoSecrets(requestParameters, "requestParameters");
  assertNoSecrets(responseElements, "responseElements");
  const errorCode = optionalString(input.errorCode, "errorCode");
  const errorMessage = optionalString(input.errorMessage, "errorMessage");
  const keyId = optionalString(input.keyId, "keyId");
  const requestId = optionalString(input.requestId, "requestId");
  if (input.readOnly !== undefined && typeof input.readOnly !== "boolean") {
    throw new TypeError(`audit event: "readOnly" expected a boolean, got ${describe(input.readOnly)}`);
  }
  const resources: AuditEvent["resources"] = [];
  if (input.resources !== undefined) {
    if (!Array.isArray(input.resources)) throw new TypeError(`audit event: "resources" expected an array`);
    input.resources.forEach((resource, i) => {
      if (resource === null || typeof resource !== "object") {
        throw new TypeError(`audit event: "resources[${i}]" expected an object`);
      }
      const copy: AuditEvent["resources"][number] = {
        ARN: requireString(resource.ARN, `resources[${i}].ARN`),
      };
      const type = optionalString(resource.type, `resources[${i}].type`);
      const accountId = optionalString(resource.accountId, `resources[${i}].accountId`);
      if (accountId !== undefined) copy.accountId = accountId;
      if (type !== undefined) copy.type = type;
      resources.push(copy);
    });
  }
  const readOnly =
    input.readOnly ?? (/^(Describe|Get|List)/.test(eventName) || READ_ONLY_OPERATIONS.has(eventName));
  // Members are added in the canonical order (see canonical-json.ts), so JSON.stringify(body) is canonical.
  const body = {
    eventVersion: "1.08",
    userIdentity: userIdentityOf(input),
    eventTime: time.toISOString(),
    eventSource: defaults.eventSource,
    eventName,
  } as AuditEventBody;
  if (defaults.region !== undefined) body.awsRegion = defaults.region;
  body.sourceIPAddress = caller.sourceIp ?? caller.viaService ?? "127.0.0.1";
  body.userAgent = caller.userAgent ?? "";
  body.requestParameters = requestParameters;
  body.responseElements = responseElements;
  if (errorCode !== undefined) body.errorCode = errorCode;
  if (errorMessage !== undefined) body.errorMessage = errorMessage;
  body.requestID = requestId ?? randomUUID();
  body.eventID = randomUUID();
  body.readOnly = readOnly;
  body.resources = resources;
  body.eventType = "AwsApiCall";
  body.managementEvent = true;
  body.eventCategory = "Management";
  body.recipientAccountId = resources[0]?.accountId ?? caller.account;
  if (keyId !== undefined) body.keyId = keyId;
  // The text is the snapshot that is hashed and stored; the copies below are what the caller gets back, so
  // that changing its own objects later cannot make the returned event differ from the stored one.
  const text = JSON.stringify(body);
  if (text.length > MAX_EVENT_CHARS) {
    throw new RangeError(
      `audit event: ${text.length} characters of JSON exceed the limit of ${MAX_EVENT_CHARS}`,
    );
  }
  if (requestParameters !== null) body.requestParameters = JSON.parse(JSON.stringify(requestParameters));
  if (responseElements !== null) body.responseElements = JSON.parse(JSON.stringify(responseElements));
  return { body, prefix: text.slice(0, -1) };
}
