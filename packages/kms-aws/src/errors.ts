// Maps AWS KMS SDK errors to Sealkit errors with stable codes, keeping the SDK error as `cause`.

import { SealkitError, type SealkitErrorCode } from "@sealkit/core";

// By AWS exception name. The names kms-local's own table also has (docs/ERRORS.md) get the same code there and
// here, so one failure has one code whether kms-local is called in process or over HTTP through this provider.
const CODES: Record<string, SealkitErrorCode> = {
  AccessDeniedException: "ERR_ACCESS_DENIED",
  // Credentials or signature refused: a configuration the caller fixes, not an outage.
  UnrecognizedClientException: "ERR_ACCESS_DENIED",
  InvalidSignatureException: "ERR_ACCESS_DENIED",
  IncompleteSignatureException: "ERR_ACCESS_DENIED",
  MissingAuthenticationTokenException: "ERR_ACCESS_DENIED",
  ExpiredTokenException: "ERR_ACCESS_DENIED",
  DisabledException: "ERR_KEY_DISABLED",
  KMSInvalidStateException: "ERR_KEY_DISABLED",
  NotFoundException: "ERR_KEY_NOT_FOUND",
  ThrottlingException: "ERR_THROTTLED",
  InvalidCiphertextException: "ERR_INVALID_CIPHERTEXT",
  IncorrectKeyException: "ERR_INVALID_CIPHERTEXT",
  // The request itself was refused (a context KMS will not take, a key of the wrong usage or spec, a malformed
  // identifier): retrying it as it is cannot succeed, so it must not read as an outage (ERR_PROVIDER_UNAVAILABLE).
  ValidationException: "ERR_REQUEST_INVALID",
  SerializationException: "ERR_REQUEST_INVALID",
  InvalidKeyUsageException: "ERR_REQUEST_INVALID",
  InvalidArnException: "ERR_REQUEST_INVALID",
  DryRunOperationException: "ERR_REQUEST_INVALID",
  InvalidGrantTokenException: "ERR_REQUEST_INVALID",
  // A resource quota (grants, tags, keys): retrying does not help, unlike ThrottlingException.
  LimitExceededException: "ERR_REQUEST_INVALID",
  // Names of KMS's management operations (this provider does not call them; a client passed in may have).
  AlreadyExistsException: "ERR_REQUEST_INVALID",
  ConflictException: "ERR_REQUEST_INVALID",
  InvalidAliasNameException: "ERR_REQUEST_INVALID",
  InvalidGrantIdException: "ERR_REQUEST_INVALID",
  InvalidMarkerException: "ERR_REQUEST_INVALID",
  MalformedPolicyDocumentException: "ERR_REQUEST_INVALID",
  TagException: "ERR_REQUEST_INVALID",
  UnsupportedOperationException: "ERR_REQUEST_INVALID",
};

// What an SDK service exception keeps: its name and message and the SDK's own fields. The SDK copies every other
// field of an error body onto the exception as it came, so an error status on a body holding a GenerateDataKey or
// Decrypt answer (a proxy that kept the body, a broken endpoint) put the data key on the cause as `Plaintext`.
const SERVICE_ERROR_FIELDS = new Set([
  "name",
  "message",
  "Message",
  "stack",
  "cause",
  "$fault",
  "$retryable",
  "$metadata",
]);

/** Removes the fields a service exception took from the error body, other than its name and message. */
function withoutBodyFields(error: unknown): void {
  if (typeof error !== "object" || error === null || !("$fault" in error)) return;
  for (const field of Object.keys(error)) {
    if (!SERVICE_ERROR_FIELDS.has(field)) delete (error as Record<string, unknown>)[field];
  }
}

/**
 * Wraps any error from the SDK in a SealkitError whose code comes from the AWS exception name (see the table in
 * the README, "Errors"); network failures and unknown names are ERR_PROVIDER_UNAVAILABLE. The SDK error stays
 * reachable as `cause`, without the fields the SDK copied onto it from the error body other than its message (a
 * body may hold a data key), except for an answer that is not valid JSON (ERR_PROVIDER_UNAVAILABLE with no cause:
 * the parser's message quotes the body). A SealkitError is returned as it is.
 */
export function fromKmsError(error: unknown, operation: string, keyId: string): SealkitError {
  if (SealkitError.isInstance(error)) return error;
  // A call about no key in particular (ListKeys, ListAliases, CreateKey) is named by its operation alone.
  const what = keyId === "" ? `AWS KMS ${operation}` : `AWS KMS ${operation} with key ${keyId}`;
  const name = (error as { name?: unknown })?.name;
  if (name === "SyntaxError") {
    // The SDK could not parse the answer. JSON.parse's message (and so the error's stack) quotes the body around
    // the fault, and the body of a GenerateDataKey or Decrypt answer holds the data key: keep neither.
    const status = (error as { $response?: { statusCode?: unknown } }).$response?.statusCode;
    return new SealkitError(
      "ERR_PROVIDER_UNAVAILABLE",
      `${what} failed: the answer${typeof status === "number" ? ` (HTTP ${status})` : ""} was not valid JSON`,
    );
  }
  withoutBodyFields(error);
  const code = (typeof name === "string" && CODES[name]) || "ERR_PROVIDER_UNAVAILABLE";
  const message = (error as { message?: unknown })?.message;
  return new SealkitError(
    code,
    `${what} failed: ${typeof name === "string" ? name : "error"}${
      typeof message === "string" && message ? `: ${message}` : ""
    }`,
    { cause: error },
  );
}
