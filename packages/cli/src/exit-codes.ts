// Exit codes of the sealkit command and the mapping from errors to codes and to what-to-do hints.

import { SealkitError, type SealkitErrorCode } from "@sealkit/core";
import { escapeControls } from "./output.js";

/** The exit codes of `sealkit`, documented in the README and in `sealkit --help`. */
export const EXIT = Object.freeze({
  OK: 0,
  FAILURE: 1,
  USAGE: 2,
  ENVELOPE: 3,
  ACCESS_DENIED: 4,
  NOT_FOUND: 5,
  KEY_DISABLED: 6,
  NO_KEY: 7,
});

/** The exit code table as shown by `sealkit --help`. */
export const EXIT_CODES_HELP = `Exit codes:
  0  ok
  1  anything else (key service unavailable, I/O error, ...)
  2  usage error (unknown option, missing argument, bad configuration)
  3  the envelope failed to authenticate, was truncated or malformed
  4  access denied (key policy, grants, credentials, HSM login, file permissions)
  5  not found (key, alias, file)
  6  key disabled or pending deletion
  7  encryption context mismatch, or no key here can open the envelope`;

/** A mistake in how the command was called: exit code 2. */
export class UsageError extends Error {
  override readonly name = "UsageError";
}

const ENVELOPE_CODES = new Set<SealkitErrorCode>([
  "ERR_AUTHENTICATION_FAILED",
  "ERR_TRUNCATED",
  "ERR_ENVELOPE_MALFORMED",
  "ERR_UNSUPPORTED_VERSION",
  "ERR_UNSUPPORTED_SUITE",
  "ERR_FRAME_SIZE",
  "ERR_LIMIT_EXCEEDED",
  "ERR_TOO_MANY_ENCRYPTED_DATA_KEYS",
]);

/**
 * The code that explains an error best: ERR_NO_DECRYPTABLE_KEY whose every attempt failed for the same reason
 * (access denied, wrong PIN, key disabled, key not found, service unreachable) is reported as that reason, which is
 * what the user must fix.
 */
export function effectiveCode(error: SealkitError): SealkitErrorCode {
  if (error.code !== "ERR_NO_DECRYPTABLE_KEY") return error.code;
  const cause = error.cause;
  if (!(cause instanceof AggregateError) || cause.errors.length === 0) return error.code;
  const codes = new Set(cause.errors.map((e) => (SealkitError.isInstance(e) ? e.code : undefined)));
  const [only] = codes;
  const reasons = new Set<SealkitErrorCode>([
    "ERR_ACCESS_DENIED",
    "ERR_HSM_LOGIN_FAILED",
    "ERR_KEY_DISABLED",
    "ERR_KEY_NOT_FOUND",
    "ERR_PROVIDER_UNAVAILABLE",
    "ERR_THROTTLED",
  ]);
  if (codes.size === 1 && only !== undefined && reasons.has(only)) return only;
  return error.code;
}

/** The exit code for an error thrown by a command. */
export function exitCodeOf(error: unknown): number {
  if (error instanceof UsageError) return EXIT.USAGE;
  if (SealkitError.isInstance(error)) {
    const code = effectiveCode(error);
    if (ENVELOPE_CODES.has(code)) return EXIT.ENVELOPE;
    if (code === "ERR_ACCESS_DENIED" || code === "ERR_HSM_LOGIN_FAILED") return EXIT.ACCESS_DENIED;
    if (code === "ERR_KEY_NOT_FOUND") return EXIT.NOT_FOUND;
    if (code === "ERR_KEY_DISABLED") return EXIT.KEY_DISABLED;
    if (
      code === "ERR_CONTEXT_MISMATCH" ||
      code === "ERR_NO_DECRYPTABLE_KEY" ||
      code === "ERR_INVALID_CIPHERTEXT"
    ) {
      return EXIT.NO_KEY;
    }
    return EXIT.FAILURE;
  }
  const sys = (error as { code?: unknown })?.code;
  if (sys === "ENOENT") return EXIT.NOT_FOUND;
  if (sys === "EACCES" || sys === "EPERM") return EXIT.ACCESS_DENIED;
  // Caller mistakes the libraries report as TypeError/RangeError (a bad frame size, a bad HSM config file).
  if (error instanceof TypeError || error instanceof RangeError) return EXIT.USAGE;
  return EXIT.FAILURE;
}

/** What the user can do about an error, by Sealkit code. */
function hint(code: string, principal: string | undefined): string | undefined {
  switch (code) {
    case "ERR_ACCESS_DENIED":
      return `check the key policy or grants for ${principal ?? "the caller"} (sealkit policy get, sealkit grants list)`;
    case "ERR_HSM_LOGIN_FAILED":
      return "check the token PIN (SEALKIT_PKCS11_PIN or the HSM config's pinEnv)";
    case "ERR_KEY_NOT_FOUND":
      return "check the key id, ARN or alias (sealkit keys list, sealkit aliases list) and the data dir or endpoint";
    case "ERR_KEY_DISABLED":
      return "enable the key (sealkit keys enable <key>) or cancel its deletion (sealkit keys cancel-deletion <key>)";
    case "ERR_CONTEXT_MISMATCH":
      return "check --expect-context against the envelope's context (sealkit inspect <file>)";
    case "ERR_NO_DECRYPTABLE_KEY":
    case "ERR_INVALID_CIPHERTEXT":
      return "none of the configured keys could open the envelope: see which keys it names with sealkit inspect <file>, and check --provider, --key and the encryption context";
    case "ERR_AUTHENTICATION_FAILED":
      return "the file was altered or is not the envelope you think: restore it from a good copy";
    case "ERR_TRUNCATED":
      return "the envelope is incomplete: restore it from a good copy";
    case "ERR_ENVELOPE_MALFORMED":
    case "ERR_UNSUPPORTED_VERSION":
      return "this is not a Sealkit envelope this version can read";
    case "ERR_PROVIDER_UNAVAILABLE":
      return "check that the key service is reachable (--endpoint, --data-dir, the HSM library and token)";
    case "ERR_THROTTLED":
    case "ERR_RATE_LIMITED":
      return "retry later, or slow down";
    case "ENOENT":
      return "check the path";
    default:
      return undefined;
  }
}

/**
 * The one-line message printed on stderr: `sealkit: <CODE>: <message> — <what to do>`. Never includes a stack
 * (unless SEALKIT_DEBUG=1, handled by the caller) nor key material (errors from the libraries never carry any).
 */
export function describeError(error: unknown, principal?: string): string {
  if (error instanceof UsageError) return `sealkit: usage: ${error.message} (see sealkit --help)`;
  let code: string;
  let message: string;
  // The messages of the attempts behind ERR_NO_DECRYPTABLE_KEY: what the key service said (a bad signature, no
  // credentials, no such token) is in them only.
  let attempts: string[] = [];
  if (SealkitError.isInstance(error)) {
    code = effectiveCode(error);
    if (error.cause instanceof AggregateError)
      attempts = error.cause.errors.map((e) => String((e as Error)?.message ?? e));
    // Every attempt failed for one reason: with one attempt, its own message says why (the summary only named the
    // code, so a wrong AWS secret read as a key policy problem and a missing PKCS#11 token as nothing at all).
    const [only] = attempts;
    message =
      code === error.code
        ? error.message
        : `${attempts.length === 1 && only ? only : error.message} [${error.code}]`;
  } else if (error instanceof Error) {
    const sys = (error as { code?: unknown }).code;
    code =
      typeof sys === "string"
        ? sys
        : error instanceof TypeError || error instanceof RangeError
          ? "ERR_USAGE"
          : "ERR_UNEXPECTED";
    message = error.message;
  } else {
    code = "ERR_UNEXPECTED";
    message = String(error);
  }
  if (message.startsWith(`${code}: `)) message = message.slice(code.length + 2);
  // One line: some libraries quote the input below their message (a YAML seed file); SEALKIT_DEBUG=1 shows it all.
  const newline = message.indexOf("\n");
  if (newline >= 0) message = message.slice(0, newline).replace(/:\s*$/, "");
  // Messages may quote an envelope's key ids or context: its control characters are shown, not sent to the terminal.
  message = escapeControls(message);
  // Some causes are in the message only (the AWS SDK's errors reach us as ERR_PROVIDER_UNAVAILABLE).
  const said = [message, ...attempts].join("\n");
  const what =
    /UnrecognizedClient|InvalidSignature|security token|signature|Could not load credentials/i.test(said)
      ? "check the credentials (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_PROFILE) and the endpoint's credentials file"
      : /Region is missing/i.test(said)
        ? "set the region: --region, AWS_REGION or the profile's region"
        : /^PKCS#11 key .* not found/m.test(said)
          ? "check the key label (--key, --pkcs11-key-label or SEALKIT_PKCS11_KEY_LABEL) and the token (--pkcs11-token)"
          : /is already open \(its lock/.test(said)
            ? "another process holds this data dir (a sealkit kms serve?): wait for it to finish, or use the running server with --endpoint"
            : code === "EADDRINUSE"
              ? "another process listens on that port: pick another with --port (0 picks a free one)"
              : /trailing bytes after the final frame/.test(message)
                ? "the file has bytes after the end of its envelope (appended to or concatenated): restore it from a good copy"
                : hint(code, principal);
  return `sealkit: ${code}: ${message}${what ? ` — ${what}` : ""}`;
}
