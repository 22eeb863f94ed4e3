// Typed errors for every Sealkit package: a stable `code` from a closed union, `cause` for the underlying error.

/**
 * Every error code Sealkit throws. Codes are API: adding one is a minor change, renaming one is major.
 * See docs/ERRORS.md for when each is thrown.
 */
export type SealkitErrorCode =
  // The envelope cannot be parsed: bad magic, a length that runs past the end, trailing bytes, a non-canonical field.
  | "ERR_ENVELOPE_MALFORMED"
  // The envelope names a format version this library does not implement.
  | "ERR_UNSUPPORTED_VERSION"
  // The envelope (or the caller) names a suite this library does not implement.
  | "ERR_UNSUPPORTED_SUITE"
  // The frame size in an envelope or in the options is outside the documented bounds.
  | "ERR_FRAME_SIZE"
  // A documented limit was exceeded: header size, context size, frame count, message size.
  | "ERR_LIMIT_EXCEEDED"
  // More encrypted data keys than the caller allows (`maxEncryptedDataKeys`).
  | "ERR_TOO_MANY_ENCRYPTED_DATA_KEYS"
  // Key commitment, header tag or a frame tag did not verify. Always the same message, whatever failed.
  | "ERR_AUTHENTICATION_FAILED"
  // The envelope ended before its final frame: it was truncated.
  | "ERR_TRUNCATED"
  // The envelope's encryption context lacks a pair the caller required (`expectContext`).
  | "ERR_CONTEXT_MISMATCH"
  // None of the caller's providers could open any of the envelope's encrypted data keys.
  | "ERR_NO_DECRYPTABLE_KEY"
  // A key service refused the caller.
  | "ERR_ACCESS_DENIED"
  // The master key exists but is disabled or pending deletion.
  | "ERR_KEY_DISABLED"
  // The master key does not exist (or not in a place the provider may look).
  | "ERR_KEY_NOT_FOUND"
  // The key service is throttling the caller.
  | "ERR_THROTTLED"
  // The key service rejected an encrypted data key as invalid for that key and context.
  | "ERR_INVALID_CIPHERTEXT"
  // The key service or device is unreachable, misconfigured or failed in a way the caller cannot fix by input.
  | "ERR_PROVIDER_UNAVAILABLE"
  // The HSM refused the PIN or the login.
  | "ERR_HSM_LOGIN_FAILED"
  // A request to a Sealkit server was invalid or refused for a reason with no more precise code.
  | "ERR_REQUEST_INVALID"
  // A rate limit refused the request.
  | "ERR_RATE_LIMITED";

const MARKER = Symbol.for("sealkit.error");

/** The one message for every authentication failure, so that failures cannot be told apart by their text. */
export const AUTHENTICATION_FAILED_MESSAGE = "decryption failed: the envelope did not authenticate";

/**
 * The base class of every error Sealkit throws for bad data or a refusing key service.
 * Caller mistakes (a wrong argument type, a value out of range) are TypeError or RangeError instead.
 *
 * `SealkitError.isInstance(e)` works across duplicate installs, where `instanceof` would not.
 */
export class SealkitError extends Error {
  readonly [MARKER] = true;
  override readonly name: string = "SealkitError";
  readonly code: SealkitErrorCode;

  constructor(code: SealkitErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }

  /** True when `value` is a SealkitError from any copy of this package (optionally with the given code). */
  static isInstance(value: unknown, code?: SealkitErrorCode): value is SealkitError {
    return (
      typeof value === "object" &&
      value !== null &&
      (value as Record<symbol, unknown>)[MARKER] === true &&
      (code === undefined || (value as SealkitError).code === code)
    );
  }
}

/** The error for every failed tag, commitment or header check: one code, one message. */
export function authenticationFailed(cause?: unknown): SealkitError {
  return new SealkitError(
    "ERR_AUTHENTICATION_FAILED",
    AUTHENTICATION_FAILED_MESSAGE,
    cause ? { cause } : undefined,
  );
}

/** A malformed-envelope error naming the field at fault. */
export function malformed(detail: string): SealkitError {
  return new SealkitError("ERR_ENVELOPE_MALFORMED", `malformed envelope: ${detail}`);
}
