// The KMS server's public API: createKmsServer, credentials and seed files, SigV4 verification, quotas.

export { decodeRequest, encodeResponse } from "./codec.js";
export { checkCors, type KmsServerCors } from "./cors.js";
export {
  loadCredentialsFile,
  parseCredentials,
  principalAccount,
  type ResolvedCredential,
  type ServerCredential,
} from "./credentials.js";
export { ServerMetrics } from "./metrics.js";
export { ERROR_STATUS, OPERATION_MODELS, type OperationModel, type Shape } from "./model.generated.js";
export {
  applySeed,
  checkSeed,
  loadSeedFile,
  type Seed,
  type SeedKey,
  type SeedResult,
  seedSummary,
} from "./seed.js";
export {
  createKmsServer,
  type KmsBackend,
  type KmsCaller,
  type KmsServer,
  type KmsServerLimits,
  type KmsServerOptions,
  type RejectedRequest,
  rejectedToAuditInput,
} from "./server.js";
export {
  deriveSigningKey,
  type SignedRequestParts,
  SigV4Verifier,
  type SigV4VerifierOptions,
  type VerifiedSignature,
} from "./sigv4.js";
export {
  type ServeUntilSignalOptions,
  type StartedKmsServer,
  type StartKmsServerOptions,
  type StopSignal,
  serveUntilSignal,
  startKmsServer,
} from "./start.js";
export { DEFAULT_QUOTAS, quotaClass, Throttle, type ThrottleOptions } from "./throttle.js";
export { AuthError, WireError, type WireErrorName } from "./wire-errors.js";
