// KmsError: the local KMS's errors, each with AWS KMS's exception name, its HTTP status and a Sealkit code.

import { SealkitError, type SealkitErrorCode } from "@sealkit/core";

/**
 * The AWS KMS exception names the local KMS throws (AWS's spelling, as in the `__type` of a JSON error).
 * HTTP statuses follow AWS's service model (`@aws-sdk/client-kms`): 404 NotFound, 409 AlreadyExists, Disabled,
 * KMSInvalidState and Conflict, 412 DryRunOperation, 500 KMSInternal and KeyUnavailable, 503 DependencyTimeout, 400
 * for the rest.
 */
export type KmsErrorName =
  | "AccessDeniedException"
  | "AlreadyExistsException"
  | "ConflictException"
  | "DependencyTimeoutException"
  | "DisabledException"
  | "DryRunOperationException"
  | "IncorrectKeyException"
  | "InvalidAliasNameException"
  | "InvalidArnException"
  | "InvalidCiphertextException"
  | "InvalidGrantIdException"
  | "InvalidGrantTokenException"
  | "InvalidKeyUsageException"
  | "InvalidMarkerException"
  | "KeyUnavailableException"
  | "KMSInternalException"
  | "KMSInvalidStateException"
  | "LimitExceededException"
  | "MalformedPolicyDocumentException"
  | "NotFoundException"
  | "TagException"
  | "ThrottlingException"
  | "UnsupportedOperationException"
  | "ValidationException";

const HTTP_STATUS: Record<KmsErrorName, number> = {
  AccessDeniedException: 400,
  AlreadyExistsException: 409,
  ConflictException: 409,
  DependencyTimeoutException: 503,
  DisabledException: 409,
  DryRunOperationException: 412,
  IncorrectKeyException: 400,
  InvalidAliasNameException: 400,
  InvalidArnException: 400,
  InvalidCiphertextException: 400,
  InvalidGrantIdException: 400,
  InvalidGrantTokenException: 400,
  InvalidKeyUsageException: 400,
  InvalidMarkerException: 400,
  KeyUnavailableException: 500,
  KMSInternalException: 500,
  KMSInvalidStateException: 409,
  LimitExceededException: 400,
  MalformedPolicyDocumentException: 400,
  NotFoundException: 404,
  TagException: 400,
  ThrottlingException: 400,
  UnsupportedOperationException: 400,
  ValidationException: 400,
};

const SEALKIT_CODE: Partial<Record<KmsErrorName, SealkitErrorCode>> = {
  AccessDeniedException: "ERR_ACCESS_DENIED",
  NotFoundException: "ERR_KEY_NOT_FOUND",
  DisabledException: "ERR_KEY_DISABLED",
  KMSInvalidStateException: "ERR_KEY_DISABLED",
  InvalidCiphertextException: "ERR_INVALID_CIPHERTEXT",
  IncorrectKeyException: "ERR_INVALID_CIPHERTEXT",
  ThrottlingException: "ERR_THROTTLED",
  KMSInternalException: "ERR_PROVIDER_UNAVAILABLE",
  KeyUnavailableException: "ERR_PROVIDER_UNAVAILABLE",
  DependencyTimeoutException: "ERR_PROVIDER_UNAVAILABLE",
};

const MARKER = Symbol.for("sealkit.kms-local.error");

/** The HTTP status AWS KMS answers with for an exception name. */
export function kmsHttpStatus(awsName: KmsErrorName): number {
  return HTTP_STATUS[awsName];
}

/** The Sealkit code an AWS KMS exception maps to (ERR_REQUEST_INVALID for validation-type errors). */
export function kmsSealkitCode(awsName: KmsErrorName): SealkitErrorCode {
  return SEALKIT_CODE[awsName] ?? "ERR_REQUEST_INVALID";
}

/**
 * An error of the local KMS. `awsName` is AWS KMS's exception name, `httpStatus` the status AWS answers with,
 * and `code` (from SealkitError) the matching Sealkit code, so providers can pass it on unchanged.
 * Messages never contain plaintext or key material.
 */
export class KmsError extends SealkitError {
  readonly [MARKER] = true;
  override readonly name: string = "KmsError";
  readonly awsName: KmsErrorName;
  readonly httpStatus: number;

  constructor(awsName: KmsErrorName, message: string, options?: { cause?: unknown }) {
    super(kmsSealkitCode(awsName), message, options);
    this.awsName = awsName;
    this.httpStatus = HTTP_STATUS[awsName];
  }

  /** True when `value` is a KmsError from any copy of this package (optionally with the given AWS name). */
  static override isInstance(value: unknown, awsName?: KmsErrorName | SealkitErrorCode): value is KmsError {
    if (typeof value !== "object" || value === null) return false;
    if ((value as Record<symbol, unknown>)[MARKER] !== true) return false;
    if (awsName === undefined) return true;
    const e = value as KmsError;
    return e.awsName === awsName || e.code === awsName;
  }
}

/** NotFoundException naming what was not found (an id or alias the caller gave, never key material). */
export function notFound(what: string): KmsError {
  return new KmsError("NotFoundException", `${what} is not found.`);
}

/** NotFoundException for a key id or ARN that names no key here, in AWS KMS's words. */
export function keyNotFound(keyIdOrArn: string): KmsError {
  return new KmsError("NotFoundException", `Key '${keyIdOrArn}' does not exist`);
}

/** ValidationException with a message in AWS's style. */
export function validation(message: string): KmsError {
  return new KmsError("ValidationException", message);
}

/** KMSInvalidStateException for a key whose state does not allow the operation. */
export function invalidState(keyArn: string, state: string): KmsError {
  return new KmsError("KMSInvalidStateException", `${keyArn} is ${state}.`);
}

/** InvalidCiphertextException: one message, whatever failed (tampering, wrong context, unknown version). */
export function invalidCiphertext(cause?: unknown): KmsError {
  return new KmsError(
    "InvalidCiphertextException",
    "The ciphertext is invalid or was not encrypted under this key and context.",
    cause ? { cause } : undefined,
  );
}

/** AccessDeniedException in AWS's wording. */
export function accessDenied(principal: string, action: string, resource: string): KmsError {
  return new KmsError(
    "AccessDeniedException",
    `User: ${principal} is not authorized to perform: ${action} on resource: ${resource} because no resource-based policy allows the ${action} action`,
  );
}
