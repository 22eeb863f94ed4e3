// The JSON wire format between remoteProvider (browser) and createDataKeyHandler (server); see openapi.yaml.

import {
  type EncryptedDataKey,
  type EncryptionContext,
  encodeContext,
  fromBase64,
  SealkitError,
  suiteByName,
  toBase64,
} from "@sealkit/core";

/** The header every request must carry: a custom header forces a CORS preflight, which is the CSRF defence. */
export const REQUEST_HEADER = "x-sealkit-request";

/** Paths below the handler's base path. */
export const ROUTES = { generate: "/data-keys", decrypt: "/data-keys/decrypt" } as const;

/** The operations `authorize` is asked about. */
export type RemoteOperation = "generate" | "decrypt";

/** An encrypted data key as JSON. */
export interface WireEncryptedDataKey {
  readonly providerId: string;
  readonly keyId: string;
  /** Standard base64. */
  readonly ciphertext: string;
}

export interface GenerateRequestBody {
  readonly context: EncryptionContext;
  /** Defaults to 32. */
  readonly length?: number;
  readonly suite?: string;
}

export interface GenerateResponseBody {
  readonly plaintext: string;
  readonly encryptedDataKeys: WireEncryptedDataKey[];
}

export interface DecryptRequestBody {
  readonly context: EncryptionContext;
  readonly encryptedDataKey: WireEncryptedDataKey;
}

export interface DecryptResponseBody {
  readonly plaintext: string;
}

/** An error body: a stable code and a message fit to show a person. */
export interface ErrorBody {
  readonly error: { readonly code: string; readonly message: string };
}

// Limits on what a request may carry: far above real use, far below what could hurt the server.
export const LIMITS = {
  contextPairs: 64,
  contextStringLength: 1024,
  idLength: 2048,
  ciphertextBytes: 8192,
  minLength: 16,
  maxLength: 64,
} as const;

/** Why a body was refused; becomes a 400 with code ERR_REQUEST_INVALID. */
export class InvalidBody extends Error {}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

// A lone surrogate has no UTF-8 form: encoders replace it with U+FFFD, so two strings would bind as one.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * The first member name given twice in one object of `text`, which must already have passed JSON.parse. JSON.parse
 * keeps the last of two; a gateway, WAF or other parser in front of the handler may keep the first, and would then
 * have checked another request than the one served. RFC 7493 (I-JSON): names MUST be unique.
 */
export function duplicateMemberName(text: string): string | undefined {
  // One set of names per open object, undefined per open array.
  const open: (Set<string> | undefined)[] = [];
  let expectName = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      // A string: find its closing quote (a backslash always escapes the next character in valid JSON).
      let end = i + 1;
      while (text.charCodeAt(end) !== 0x22) end += text.charCodeAt(end) === 0x5c ? 2 : 1;
      if (expectName) {
        const name = JSON.parse(text.slice(i, end + 1)) as string; // "\u0074" and "t" are one name
        const names = open[open.length - 1]!;
        if (names.has(name)) return name;
        names.add(name);
        expectName = false;
      }
      i = end;
    } else if (c === 0x7b) {
      open.push(new Set());
      expectName = true;
    } else if (c === 0x5b) {
      open.push(undefined);
    } else if (c === 0x7d || c === 0x5d) {
      open.pop();
      expectName = false;
    } else if (c === 0x2c) {
      expectName = open[open.length - 1] !== undefined;
    }
  }
  return undefined;
}

function onlyKeys(value: Record<string, unknown>, allowed: readonly string[], where: string): void {
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key)) throw new InvalidBody(`unknown field "${key}" in ${where}`);
  }
}

/**
 * Validates an encryption context from JSON: an object of at most 64 string pairs of at most 1,024 characters,
 * well-formed Unicode, whose canonical encoding fits 65,535 bytes (so the provider binds exactly these pairs).
 */
export function readContext(value: unknown): EncryptionContext {
  if (!isPlainObject(value)) throw new InvalidBody(`"context" must be an object of strings`);
  const entries = Object.entries(value);
  if (entries.length > LIMITS.contextPairs)
    throw new InvalidBody(`"context" has more than ${LIMITS.contextPairs} pairs`);
  for (const [key, item] of entries) {
    if (typeof item !== "string") throw new InvalidBody(`"context.${key}" must be a string`);
    if (
      key.length === 0 ||
      key.length > LIMITS.contextStringLength ||
      item.length > LIMITS.contextStringLength
    ) {
      throw new InvalidBody(
        `"context" keys must be 1 to ${LIMITS.contextStringLength} characters, values at most that`,
      );
    }
    if (LONE_SURROGATE.test(key) || LONE_SURROGATE.test(item)) {
      throw new InvalidBody(`"context" must be well-formed Unicode (it has a lone surrogate)`);
    }
  }
  // fromEntries defines own properties: assigning to a plain object would turn a "__proto__" key into a
  // prototype change and drop the pair from the context the provider binds.
  const context: Record<string, string> = Object.fromEntries(entries as [string, string][]);
  try {
    encodeContext(context);
  } catch (error) {
    if (SealkitError.isInstance(error, "ERR_LIMIT_EXCEEDED")) {
      throw new InvalidBody(`"context" encodes to more than 65,535 bytes`);
    }
    throw error;
  }
  return context;
}

/** Validates an encrypted data key from JSON. */
export function readEncryptedDataKey(value: unknown): EncryptedDataKey {
  if (!isPlainObject(value)) throw new InvalidBody(`"encryptedDataKey" must be an object`);
  onlyKeys(value, ["providerId", "keyId", "ciphertext"], "encryptedDataKey");
  const { providerId, keyId, ciphertext } = value;
  for (const [name, field] of [
    ["providerId", providerId],
    ["keyId", keyId],
  ] as const) {
    if (
      typeof field !== "string" ||
      field.length === 0 ||
      field.length > LIMITS.idLength ||
      LONE_SURROGATE.test(field)
    ) {
      throw new InvalidBody(
        `"encryptedDataKey.${name}" must be well-formed Unicode of 1 to ${LIMITS.idLength} characters`,
      );
    }
  }
  const bytes = typeof ciphertext === "string" ? fromBase64(ciphertext) : undefined;
  if (!bytes || bytes.length === 0 || bytes.length > LIMITS.ciphertextBytes) {
    throw new InvalidBody(
      `"encryptedDataKey.ciphertext" must be base64 of 1 to ${LIMITS.ciphertextBytes} bytes`,
    );
  }
  return { providerId: providerId as string, keyId: keyId as string, ciphertext: bytes };
}

/**
 * Validates a generate request body.
 * @throws {InvalidBody} for a malformed body
 * @throws {SealkitError} ERR_UNSUPPORTED_SUITE for a suite name Sealkit does not implement
 */
export function readGenerateBody(value: unknown): {
  context: EncryptionContext;
  length: number;
  suite?: string;
} {
  if (!isPlainObject(value)) throw new InvalidBody("body must be a JSON object");
  onlyKeys(value, ["context", "length", "suite"], "body");
  const length = value.length ?? 32;
  if (
    typeof length !== "number" ||
    !Number.isInteger(length) ||
    length < LIMITS.minLength ||
    length > LIMITS.maxLength
  ) {
    throw new InvalidBody(`"length" must be an integer from ${LIMITS.minLength} to ${LIMITS.maxLength}`);
  }
  if (value.suite !== undefined && (typeof value.suite !== "string" || value.suite.length > 64)) {
    throw new InvalidBody(`"suite" must be a suite name`);
  }
  if (value.suite !== undefined) suiteByName(value.suite as string);
  return {
    context: readContext(value.context ?? {}),
    length,
    ...(value.suite !== undefined ? { suite: value.suite as string } : {}),
  };
}

/** Validates a decrypt request body. */
export function readDecryptBody(value: unknown): {
  context: EncryptionContext;
  encryptedDataKey: EncryptedDataKey;
} {
  if (!isPlainObject(value)) throw new InvalidBody("body must be a JSON object");
  onlyKeys(value, ["context", "encryptedDataKey"], "body");
  return {
    context: readContext(value.context ?? {}),
    encryptedDataKey: readEncryptedDataKey(value.encryptedDataKey),
  };
}

/** An encrypted data key as JSON. */
export function writeEncryptedDataKey(key: EncryptedDataKey): WireEncryptedDataKey {
  return { providerId: key.providerId, keyId: key.keyId, ciphertext: toBase64(key.ciphertext) };
}
