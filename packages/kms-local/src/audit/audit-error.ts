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
