// Grant tokens: opaque base64url strings carrying a grant id, so a new grant is usable before it is listed.

import { randomBytes } from "node:crypto";
import { KmsError, validation } from "../errors.js";

/** Version 1: magic, version byte 1, the grant id. Still accepted; no longer issued. */
const MAGIC_V1 = Buffer.from("skgt\u0001", "latin1");
/** Version 2: magic, version byte 2, a 12-byte random nonce, the grant id: every token differs. */
const MAGIC_V2 = Buffer.from("skgt\u0002", "latin1");
const NONCE_LENGTH = 12;
const GRANT_ID = /^[A-Za-z0-9-]{1,128}$/;
const BASE64URL = /^[A-Za-z0-9_-]+$/;
/** The most grant tokens a request may carry (AWS's limit). */
export const MAX_GRANT_TOKENS = 10;
/** The longest grant token, in characters (AWS's limit). */
export const MAX_GRANT_TOKEN_LENGTH = 8192;

function invalidToken(): KmsError {
  return new KmsError("InvalidGrantTokenException", "The grant token is invalid.");
}

/** A new grant id: 64 hex digits, as AWS's. */
export function newGrantId(): string {
  return randomBytes(32).toString("hex");
}

/**
 * Encodes a new grant token for a grant id. A token only names the grant: the grant must still exist and name
 * the caller as grantee, so a token grants nothing by itself (as with AWS, where tokens only bridge eventual
 * consistency). Each call returns a different token (a random nonce), as AWS KMS returns a new token with every
 * CreateGrant, even a retry that returns an existing grant; all tokens of a grant work interchangeably.
 *
 * @throws TypeError when `grantId` is not 1 to 128 of `A-Z a-z 0-9 -`.
 */
export function encodeGrantToken(grantId: string): string {
  if (typeof grantId !== "string" || !GRANT_ID.test(grantId)) {
    throw new TypeError(
      `"grantId" expected 1 to 128 letters, digits or dashes, got ${JSON.stringify(grantId)}`,
    );
  }
  return Buffer.concat([MAGIC_V2, randomBytes(NONCE_LENGTH), Buffer.from(grantId, "latin1")]).toString(
    "base64url",
  );
}

/**
 * Decodes a grant token to the grant id it carries.
 * @throws KmsError InvalidGrantTokenException when the token was not made by `encodeGrantToken`.
 */
export function decodeGrantToken(token: string): string {
  if (
    typeof token !== "string" ||
    token.length === 0 ||
    token.length > MAX_GRANT_TOKEN_LENGTH ||
    !BASE64URL.test(token)
  ) {
    throw invalidToken();
  }
  const bytes = Buffer.from(token, "base64url");
  // Reject non-canonical encodings (stray trailing bits) so each grant has exactly one token.
  if (bytes.toString("base64url") !== token) throw invalidToken();
  let start: number;
  if (bytes.length > MAGIC_V1.length && bytes.subarray(0, MAGIC_V1.length).equals(MAGIC_V1)) {
    start = MAGIC_V1.length;
  } else if (
    bytes.length > MAGIC_V2.length + NONCE_LENGTH &&
    bytes.subarray(0, MAGIC_V2.length).equals(MAGIC_V2)
  ) {
    start = MAGIC_V2.length + NONCE_LENGTH;
  } else {
    throw invalidToken();
  }
  const grantId = bytes.subarray(start).toString("latin1");
  if (!GRANT_ID.test(grantId)) throw invalidToken();
  return grantId;
}

/**
 * Validates a request's GrantTokens and returns the grant ids they carry.
 * @throws KmsError ValidationException for more than 10 tokens or a non-list; InvalidGrantTokenException for a
 *   token that does not decode.
 */
export function decodeGrantTokens(tokens: unknown): string[] {
  if (tokens === undefined || tokens === null) return [];
  if (!Array.isArray(tokens)) throw validation("GrantTokens must be a list of strings");
  if (tokens.length > MAX_GRANT_TOKENS) {
    throw validation(
      `1 validation error detected: Value at 'grantTokens' failed to satisfy constraint: Member must have length less than or equal to ${MAX_GRANT_TOKENS}`,
    );
  }
  return tokens.map((t) => decodeGrantToken(t as string));
}
