// Errors the KMS server answers before a request reaches the local KMS: authentication, framing, limits, throttling.

import { SealkitError, type SealkitErrorCode } from "@sealkit/core";

/** AWS exception names the server itself produces, with the status AWS answers with. */
export const WIRE_ERROR_STATUS = {
  MissingAuthenticationTokenException: 400,
  IncompleteSignatureException: 400,
  InvalidSignatureException: 400,
  UnrecognizedClientException: 400,
  AccessDeniedException: 400,
  SerializationException: 400,
  ValidationException: 400,
  UnsupportedOperationException: 400,
  UnknownOperationException: 400,
  ThrottlingException: 400,
  RequestEntityTooLargeException: 413,
  RequestTimeoutException: 408,
  RequestHeaderFieldsTooLargeException: 431,
  ServiceUnavailableException: 503,
  KMSInternalException: 500,
  NotFoundException: 404,
} as const;

/** One of the names in {@link WIRE_ERROR_STATUS}. */
export type WireErrorName = keyof typeof WIRE_ERROR_STATUS;

const CODES: Partial<Record<WireErrorName, SealkitErrorCode>> = {
  ThrottlingException: "ERR_THROTTLED",
  KMSInternalException: "ERR_PROVIDER_UNAVAILABLE",
  ServiceUnavailableException: "ERR_PROVIDER_UNAVAILABLE",
  AccessDeniedException: "ERR_ACCESS_DENIED",
  NotFoundException: "ERR_KEY_NOT_FOUND",
};

/**
 * An error the server answers itself, as AWS would: `awsName` goes into the JSON `__type`, `httpStatus` is the
 * response status. Its Sealkit `code` is ERR_REQUEST_INVALID unless a more precise one fits.
 */
export class WireError extends SealkitError {
  override readonly name: string = "WireError";
  readonly awsName: WireErrorName;
  readonly httpStatus: number;

  constructor(awsName: WireErrorName, message: string, options?: { cause?: unknown }) {
    super(CODES[awsName] ?? "ERR_REQUEST_INVALID", message, options);
    this.awsName = awsName;
    this.httpStatus = WIRE_ERROR_STATUS[awsName];
  }
}

/** A refused SigV4 check (the request never reaches the local KMS). */
export class AuthError extends WireError {
  override readonly name: string = "AuthError";
}
