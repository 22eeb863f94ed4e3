// Maps PKCS#11 return values (CKR_*) raised by pkcs11js to Sealkit errors with stable codes.

import { AUTHENTICATION_FAILED_MESSAGE, SealkitError, type SealkitErrorCode } from "@sealkit/core";

/** The CKR_* name of a pkcs11js error (`Pkcs11Error.message`), or undefined for anything else. */
export function ckrName(error: unknown): string | undefined {
  if (typeof error !== "object" || error === null) return undefined;
  const message = (error as { message?: unknown }).message;
  if (typeof message !== "string") return undefined;
  return /\b(CKR_[A-Z0-9_]+)\b/.exec(message)?.[1];
}

/**
 * The session is gone or unusable; a fresh session may succeed. CKR_OPERATION_ACTIVE: an operation was left open in
 * the session (a C_FindObjectsFinal or C_Encrypt that failed midway, as a busy HSM may answer); it would fail every
 * later call the session is lent to, and closing the session is the one way to end an operation of unknown kind.
 */
const SESSION_LOST = new Set([
  "CKR_SESSION_HANDLE_INVALID",
  "CKR_SESSION_CLOSED",
  "CKR_USER_NOT_LOGGED_IN",
  "CKR_OPERATION_ACTIVE",
]);

/** The token or the library is gone; re-initializing the library may succeed. */
const DEVICE_LOST = new Set([
  "CKR_DEVICE_REMOVED",
  "CKR_TOKEN_NOT_PRESENT",
  "CKR_DEVICE_ERROR",
  "CKR_CRYPTOKI_NOT_INITIALIZED",
  "CKR_TOKEN_NOT_RECOGNIZED",
]);

const LOGIN_FAILED = new Set([
  "CKR_PIN_INCORRECT",
  "CKR_PIN_INVALID",
  "CKR_PIN_LEN_RANGE",
  "CKR_PIN_LOCKED",
  "CKR_PIN_EXPIRED",
  "CKR_USER_TYPE_INVALID",
  "CKR_USER_PIN_NOT_INITIALIZED",
]);

/** True when the token refused the PIN or the user (CKR_PIN_INCORRECT, CKR_PIN_LOCKED, ...). */
export function isLoginFailure(error: unknown): boolean {
  const name = ckrName(error);
  return name !== undefined && LOGIN_FAILED.has(name);
}

/**
 * What a pool does with a failed call: `session` discards the session and retries once, `device` also
 * re-initializes the library, `none` passes the error on.
 */
export function recoveryFor(error: unknown): "session" | "device" | "none" {
  // Only errors the library raised: a SealkitError (a token label not found, a key missing) is a
  // configuration problem, and re-initializing a library every other provider shares would not fix it.
  if (SealkitError.isInstance(error)) return "none";
  const name = ckrName(error);
  if (name === undefined) return "none";
  if (DEVICE_LOST.has(name)) return "device";
  if (SESSION_LOST.has(name)) return "session";
  return "none";
}

/** True when the error is a PKCS#11 key-handle error: the key was deleted or the handle is stale. */
export function isKeyHandleError(error: unknown): boolean {
  const name = ckrName(error);
  return name === "CKR_KEY_HANDLE_INVALID" || name === "CKR_OBJECT_HANDLE_INVALID";
}

/**
 * Converts anything a PKCS#11 call threw into a SealkitError naming the CKR value, with the original as `cause`.
 * SealkitErrors, TypeErrors and RangeErrors pass through unchanged.
 */
export function toSealkitError(error: unknown, operation: string): Error {
  if (SealkitError.isInstance(error) || error instanceof TypeError || error instanceof RangeError) {
    return error as Error;
  }
  const name = ckrName(error);
  let code: SealkitErrorCode = "ERR_PROVIDER_UNAVAILABLE";
  if (name !== undefined && LOGIN_FAILED.has(name)) code = "ERR_HSM_LOGIN_FAILED";
  else if (name === "CKR_KEY_HANDLE_INVALID" || name === "CKR_OBJECT_HANDLE_INVALID")
    code = "ERR_KEY_NOT_FOUND";
  const detail = name ?? (error instanceof Error ? error.message : String(error));
  return new SealkitError(code, `PKCS#11 ${operation} failed: ${detail}`, { cause: error });
}

/**
 * The error for a GCM tag that did not verify (SoftHSM2 reports it as CKR_GENERAL_ERROR, the standard as
 * CKR_ENCRYPTED_DATA_INVALID): ERR_INVALID_CIPHERTEXT with the one fixed authentication message.
 */
export function invalidCiphertext(cause?: unknown): SealkitError {
  return new SealkitError(
    "ERR_INVALID_CIPHERTEXT",
    AUTHENTICATION_FAILED_MESSAGE,
    cause ? { cause } : undefined,
  );
}

/**
 * CKR values a C_Decrypt of AES-GCM returns when the tag, IV, AAD or ciphertext do not match: the standard's
 * CKR_ENCRYPTED_DATA_INVALID / _LEN_RANGE, and SoftHSM2's CKR_GENERAL_ERROR. Not CKR_FUNCTION_FAILED: AWS CloudHSM
 * client SDK 5 reports a busy (throttled) HSM with it, also from AES-GCM decryption ("HSM throttling" in AWS's
 * CloudHSM user guide), and a valid data key must not be reported as a forged one.
 */
export function isDecryptFailure(error: unknown): boolean {
  const name = ckrName(error);
  return (
    name === "CKR_GENERAL_ERROR" ||
    name === "CKR_ENCRYPTED_DATA_INVALID" ||
    name === "CKR_ENCRYPTED_DATA_LEN_RANGE"
  );
}
