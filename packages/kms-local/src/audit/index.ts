// The tamper-evident, fail-closed audit log of the local KMS: public API.

export {
  AuditUnreadableError,
  type AuditUnreadableReason,
  auditUnavailable,
} from "./audit-error.js";
export { AuditLog } from "./audit-log.js";
export { canonicalEventJson, canonicalJson } from "./canonical-json.js";
export { type AuditDigest, checkDigestSignature, digestSigningInput } from "./digest.js";
export { queryAuditFile } from "./query.js";
export type {
  AuditCaller,
  AuditEvent,
  AuditEventInput,
  AuditLogOptions,
  AuditProblem,
  AuditProblemKind,
  AuditQuery,
  AuditResource,
  AuditStats,
  AuditUserIdentity,
  AuditVerifyReport,
} from "./types.js";
export {
  type AuditVerifyOptions,
  chainHash,
  GENESIS_HASH,
  readAuditDigests,
  verifyAuditFile,
} from "./verify-log.js";
