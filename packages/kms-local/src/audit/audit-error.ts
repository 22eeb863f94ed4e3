// The one error an audit write failure surfaces as: KMSInternalException, so the operation fails closed.

import { KmsError } from "../errors.js";

/**
 * The error every pending append rejects with when the log cannot be written (disk full, read-only file,
 * locked database, closed log). The caller must fail the operation and return no key material.
 * The underlying SQLite or file system error is in `cause`.
 */
export function auditUnavailable(reason: string, cause?: unknown): KmsError {
  return new KmsError(
    "KMSInternalException",
    `The audit log is unavailable (${reason}); the request was not performed.`,
    cause === undefined ? undefined : { cause },
  );
}

/** Why an audit database could not be verified at all (see {@link AuditUnreadableError}). */
export type AuditUnreadableReason =
  | "missing"
  | "not-sqlite"
  | "not-an-audit-log"
  | "schema-version"
  | "locked"
  | "corrupt"
  | "unreadable";

/**
 * Thrown (as a rejection) by `AuditLog.verify` and `verifyAuditFile` when the file cannot be verified at all:
 * missing, not SQLite, not an audit log, a schema this code does not know, locked by another process, or
 * damaged. It is never a verification result: a log that cannot be read is not "ok". `code` is stable; the
 * SQLite error, if any, is in `cause`.
 */
export class AuditUnreadableError extends Error {
  /** Always `SEALKIT_AUDIT_UNREADABLE`. */
  readonly code = "SEALKIT_AUDIT_UNREADABLE";
  readonly reason: AuditUnreadableReason;

  constructor(reason: AuditUnreadableReason, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "AuditUnreadableError";
    this.reason = reason;
  }
}

/** Maps an error from opening or reading `path` with SQLite to an {@link AuditUnreadableError}. */
export function auditUnreadable(path: string, cause: unknown): AuditUnreadableError {
  if (cause instanceof AuditUnreadableError) return cause;
  const code = String((cause as { code?: unknown } | undefined)?.code ?? "");
  const message = String((cause as Error | undefined)?.message ?? cause);
  if (code === "SQLITE_CANTOPEN" || code === "ENOENT")
    return new AuditUnreadableError("missing", `${path} cannot be opened (${message})`, { cause });
  if (code === "SQLITE_NOTADB")
    return new AuditUnreadableError("not-sqlite", `${path} is not a SQLite database`, { cause });
  if (code.startsWith("SQLITE_BUSY") || code.startsWith("SQLITE_LOCKED"))
    return new AuditUnreadableError(
      "locked",
      `${path} is locked by another connection or process (${message}); try again once it is released`,
      { cause },
    );
  if (code.startsWith("SQLITE_CORRUPT"))
    return new AuditUnreadableError("corrupt", `${path} is damaged: SQLite reports "${message}"`, { cause });
  return new AuditUnreadableError("unreadable", `${path} cannot be read: ${message}`, { cause });
}
