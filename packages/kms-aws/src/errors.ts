// Maps AWS KMS SDK errors to Sealkit errors with stable codes, keeping the SDK error as `cause`.

import { SealkitError, type SealkitErrorCode } from "@sealkit/core";

const CODES: Record<string, SealkitErrorCode> = {
  AccessDeniedException: "ERR_ACCESS_DENIED",
  UnrecognizedClientException: "ERR_ACCESS_DENIED",
  InvalidSignatureException: "ERR_ACCESS_DENIED",
  DisabledException: "ERR_KEY_DISABLED",
  KMSInvalidStateException: "ERR_KEY_DISABLED",
  NotFoundException: "ERR_KEY_NOT_FOUND",
  ThrottlingException: "ERR_THROTTLED",
  LimitExceededException: "ERR_THROTTLED",
  InvalidCiphertextException: "ERR_INVALID_CIPHERTEXT",
  IncorrectKeyException: "ERR_INVALID_CIPHERTEXT",
  InvalidGrantTokenException: "ERR_ACCESS_DENIED",
};

/** Wraps any error from the SDK in a SealkitError; the SDK error stays reachable as `cause`. */
export function fromKmsError(error: unknown, operation: string, keyId: string): SealkitError {
  if (SealkitError.isInstance(error)) return error;
  const name = (error as { name?: unknown })?.name;
  const code = (typeof name === "string" && CODES[name]) || "ERR_PROVIDER_UNAVAILABLE";
  const message = (error as { message?: unknown })?.message;
  return new SealkitError(
    code,
    `AWS KMS ${operation} with key ${keyId} failed: ${typeof name === "string" ? name : "error"}${
      typeof message === "string" && message ? `: ${message}` : ""
    }`,
    { cause: error },
  );
}
