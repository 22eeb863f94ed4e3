// @sealkit/kms-local: an AWS KMS-compatible key management service that runs in process, on SQLite.

export {
  type AuditDigest,
  type AuditEvent,
  type AuditEventInput,
  AuditLog,
  type AuditLogOptions,
  type AuditQuery,
  AuditUnreadableError,
  type AuditUnreadableReason,
  type AuditVerifyOptions,
  type AuditVerifyReport,
  queryAuditFile,
  readAuditDigests,
  verifyAuditFile,
} from "./audit/index.js";
export {
  BLOB_HEADER_LENGTH,
  BLOB_TAG_LENGTH,
  BLOB_VERSION,
  MAX_BLOB_LENGTH,
  readBlobHeader,
} from "./ciphertext-blob.js";
export {
  accessDenied,
  invalidCiphertext,
  invalidState,
  KmsError,
  type KmsErrorName,
  kmsHttpStatus,
  kmsSealkitCode,
  notFound,
  validation,
} from "./errors.js";
export { aliasArn, type KmsLocation, keyArn, parseKeyId } from "./key-id.js";
export { type AuditSink, LocalKms, type LocalKmsOptions } from "./local-kms.js";
export { AWS_KMS_PROVIDER_ID, type LocalKmsProviderOptions, localKmsProvider } from "./provider.js";
export { AesKeyWrapper, type Argon2Parameters, DEFAULT_ARGON2 } from "./root-key.js";
// server
export {
  AuthError,
  applySeed,
  checkCors,
  checkSeed,
  createKmsServer,
  DEFAULT_QUOTAS,
  deriveSigningKey,
  ERROR_STATUS,
  type KmsBackend,
  type KmsCaller,
  type KmsServer,
  type KmsServerCors,
  type KmsServerLimits,
  type KmsServerOptions,
  loadCredentialsFile,
  loadSeedFile,
  OPERATION_MODELS,
  parseCredentials,
  principalAccount,
  type RejectedRequest,
  type ResolvedCredential,
  rejectedToAuditInput,
  type Seed,
  type SeedKey,
  type SeedResult,
  type ServerCredential,
  type ServeUntilSignalOptions,
  SigV4Verifier,
  type StartedKmsServer,
  type StartKmsServerOptions,
  type StopSignal,
  seedSummary,
  serveUntilSignal,
  startKmsServer,
  Throttle,
  type ThrottleOptions,
  WireError,
  type WireErrorName,
} from "./server/index.js";
export { SCHEMA_VERSION } from "./store.js";
export type * from "./types.js";
export { AWS_KMS_PRICES, type UsageReport } from "./usage-report.js";
