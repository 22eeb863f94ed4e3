// @sealkit/kms-local: an AWS KMS-compatible key management service that runs in process, on SQLite.

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
