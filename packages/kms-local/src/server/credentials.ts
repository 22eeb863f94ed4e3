// The server's credentials file: access keys, their secrets and the IAM principal each one authenticates as.

import { readFileSync } from "node:fs";

/** One access key and the principal it signs as. The account is the principal ARN's. */
export interface ServerCredential {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  /** An IAM ARN such as `arn:aws:iam::111122223333:user/alice`. */
  readonly principal: string;
}

/** A resolved credential: the principal's account extracted. */
export interface ResolvedCredential extends ServerCredential {
  readonly account: string;
}

const PRINCIPAL =
  /^arn:(aws|aws-cn|aws-us-gov):(iam|sts)::(\d{12}):(root|user\/.+|role\/.+|assumed-role\/.+|federated-user\/.+)$/;

/** The account id in a principal ARN (`arn:aws:iam::111122223333:user/alice` → `111122223333`). @throws {TypeError} when not an IAM/STS ARN. */
export function principalAccount(principal: string): string {
  const m = PRINCIPAL.exec(principal);
  if (m === null)
    throw new TypeError(
      `"principal" expected an IAM ARN such as arn:aws:iam::111122223333:user/alice, got ${JSON.stringify(principal)}`,
    );
  return m[3] as string;
}

/**
 * Checks a credentials document (`{ "credentials": [ { accessKeyId, secretAccessKey, principal } ] }`) and indexes it
 * by access key id.
 * @throws {TypeError} for a malformed document, a missing field, a bad principal ARN or a repeated access key id.
 */
export function parseCredentials(document: unknown): Map<string, ResolvedCredential> {
  const list =
    typeof document === "object" && document !== null
      ? (document as { credentials?: unknown }).credentials
      : undefined;
  if (!Array.isArray(list)) throw new TypeError('credentials: expected { "credentials": [ ... ] }');
  const map = new Map<string, ResolvedCredential>();
  list.forEach((entry: unknown, i) => {
    const e = entry as Partial<ServerCredential> | null;
    for (const field of ["accessKeyId", "secretAccessKey", "principal"] as const) {
      if (typeof e?.[field] !== "string" || e[field] === "") {
        throw new TypeError(`credentials[${i}]: "${field}" expected a non-empty string`);
      }
    }
    const c = e as ServerCredential;
    if (!/^[A-Z0-9]{16,128}$/.test(c.accessKeyId)) {
      throw new TypeError(
        `credentials[${i}]: "accessKeyId" expected 16 to 128 upper-case letters and digits`,
      );
    }
    if (map.has(c.accessKeyId))
      throw new TypeError(`credentials[${i}]: access key id ${c.accessKeyId} appears twice`);
    map.set(c.accessKeyId, {
      accessKeyId: c.accessKeyId,
      secretAccessKey: c.secretAccessKey,
      principal: c.principal,
      account: principalAccount(c.principal),
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
