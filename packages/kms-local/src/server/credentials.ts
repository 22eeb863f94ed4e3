// The server's credentials file: access keys, their secrets and the IAM principal each one authenticates as.

import { readFileSync } from "node:fs";

/** One access key and the principal it signs as. The account is the principal ARN's. */
export interface ServerCredential {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  /** An IAM ARN such as `arn:aws:iam::111122223333:user/alice`. */
  readonly principal: string;
  /**
   * Temporary credentials, as STS issues them (an assumed-role session, usually with an `sts` principal): every
   * request signed with this key must carry this token in `X-Amz-Security-Token`, signed, which is what the SDKs and
   * the AWS CLI send when `AWS_SESSION_TOKEN` is set. A request without it, or with another one, is refused with
   * UnrecognizedClientException, as AWS refuses a token that does not belong to the key.
   */
  readonly sessionToken?: string;
}

/** A resolved credential: the principal's account extracted. */
export interface ResolvedCredential extends ServerCredential {
  readonly account: string;
}

// IAM names are [\w+=,.@-]; paths are printable ASCII segments. Users, roles and the root are `iam`; a role's
// session (`assumed-role/<role>/<session>`, the role named without its path) and a federated user are `sts`, which
// is how the policy code recognises a session of a role.
const NAME = "[\\w+=,.@-]+";
const PATH = "(?:[!-.0-~]+/)*";
const PRINCIPAL = new RegExp(
  `^arn:(?:aws|aws-cn|aws-us-gov):(?:iam::(\\d{12}):(?:root|user/${PATH}${NAME}|role/${PATH}${NAME})|sts::(\\d{12}):(?:assumed-role/${NAME}/${NAME}|federated-user/${NAME}))$`,
);

/**
 * The account id in a principal ARN (`arn:aws:iam::111122223333:user/alice` → `111122223333`).
 * @throws {TypeError} when not the ARN of an IAM user, role or account root (`iam`), or of an assumed-role session
 *   or federated user (`sts`).
 */
export function principalAccount(principal: string): string {
  const m = typeof principal === "string" ? PRINCIPAL.exec(principal) : null;
  if (m === null)
    throw new TypeError(
      `"principal" expected an IAM ARN such as arn:aws:iam::111122223333:user/alice, got ${JSON.stringify(principal)}`,
    );
  return (m[1] ?? m[2]) as string;
}

const FIELDS = new Set(["accessKeyId", "secretAccessKey", "principal", "sessionToken"]);

/**
 * Checks a credentials document (`{ "credentials": [ { accessKeyId, secretAccessKey, principal, sessionToken? } ] }`)
 * and indexes it by access key id.
 * Messages name the entry and the field, never a value but a repeated access key id (a secret pasted into the wrong
 * field is not printed).
 * @throws {TypeError} for a malformed document, an entry that is not an object, a missing, empty, non-string or
 *   unknown field (a misspelt field is refused rather than ignored), a `sessionToken` that is not a non-empty
 *   string, an access key id that is not 16 to 128 upper-case letters
 *   and digits, a principal that is not an IAM user, role, root, assumed-role session or federated user ARN, or a
 *   repeated access key id.
 */
export function parseCredentials(document: unknown): Map<string, ResolvedCredential> {
  const list =
    typeof document === "object" && document !== null
      ? (document as { credentials?: unknown }).credentials
      : undefined;
  if (!Array.isArray(list)) throw new TypeError('credentials: expected { "credentials": [ ... ] }');
  const map = new Map<string, ResolvedCredential>();
  list.forEach((entry: unknown, i) => {
    if (typeof entry !== "object" || entry === null || Array.isArray(entry)) {
      throw new TypeError(
        `credentials[${i}]: expected an object { accessKeyId, secretAccessKey, principal }`,
      );
    }
    for (const field of Object.keys(entry)) {
      if (!FIELDS.has(field)) {
        throw new TypeError(
          `credentials[${i}]: unknown field ${/^[A-Za-z_]{1,32}$/.test(field) ? JSON.stringify(field) : "(its name not shown)"} (expected accessKeyId, secretAccessKey, principal, sessionToken)`,
        );
      }
    }
    const e = entry as Partial<ServerCredential>;
    for (const field of ["accessKeyId", "secretAccessKey", "principal"] as const) {
      if (typeof e?.[field] !== "string" || e[field] === "") {
        throw new TypeError(`credentials[${i}]: "${field}" expected a non-empty string`);
      }
    }
    if ("sessionToken" in e && (typeof e.sessionToken !== "string" || e.sessionToken === "")) {
      throw new TypeError(`credentials[${i}]: "sessionToken" expected a non-empty string`);
    }
    const c = e as ServerCredential;
    if (!/^[A-Z0-9]{16,128}$/.test(c.accessKeyId)) {
      throw new TypeError(
        `credentials[${i}]: "accessKeyId" expected 16 to 128 upper-case letters and digits`,
      );
    }
    if (map.has(c.accessKeyId))
      throw new TypeError(`credentials[${i}]: access key id ${c.accessKeyId} appears twice`);
    const m = PRINCIPAL.exec(c.principal);
    if (m === null) {
      throw new TypeError(
        `credentials[${i}]: "principal" expected the ARN of an IAM user, role or root (arn:aws:iam::111122223333:user/alice) or of an assumed-role session (arn:aws:sts::111122223333:assumed-role/Role/session)`,
      );
    }
    map.set(c.accessKeyId, {
      accessKeyId: c.accessKeyId,
      secretAccessKey: c.secretAccessKey,
      principal: c.principal,
      ...(c.sessionToken !== undefined ? { sessionToken: c.sessionToken } : {}),
      account: (m[1] ?? m[2]) as string,
    });
  });
  return map;
}

/**
 * Reads and checks a credentials JSON file.
 * @throws {TypeError} as {@link parseCredentials}, or when the file is not JSON; the file system's error when unreadable.
 */
export function loadCredentialsFile(path: string): Map<string, ResolvedCredential> {
  const text = readFileSync(path, "utf8");
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new TypeError(`credentials file ${path} is not valid JSON`);
  }
  return parseCredentials(doc);
}
