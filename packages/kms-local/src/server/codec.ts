// JSON ↔ API objects for the awsJson1_1 protocol: base64 blobs, epoch-second timestamps, strict member types.

import { isUtf8 } from "node:buffer";
import type { OperationModel, Shape } from "./model.generated.js";
import { WireError } from "./wire-errors.js";

// Strict base64 (RFC 4648 §4, with padding), as AWS's JSON protocol sends blobs.
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * Parses a request body into the API request of an operation. Members the model does not know are ignored, as AWS
 * ignores them; null members count as absent.
 * @throws {WireError} SerializationException for a body that is not UTF-8, JSON that does not parse, a member of the
 *   wrong type or invalid base64; ValidationException for a missing required member.
 */
export function decodeRequest(model: OperationModel, body: Uint8Array): Record<string, unknown> {
  let json: unknown;
  if (body.length === 0) {
    json = {};
  } else {
    const bytes = body instanceof Buffer ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
    // JSON text is UTF-8 (RFC 8259 §8.1). Decoding alone would read every invalid byte as U+FFFD, so that
    // {"a":"\xff"}, {"a":"\xfe"} and {"a":"\ufffd"} named one encryption context: refused instead.
    if (!isUtf8(bytes)) {
      throw new WireError("SerializationException", "Request body is not valid JSON: it is not UTF-8.");
    }
    try {
      json = JSON.parse(bytes.toString("utf8"));
    } catch {
      throw new WireError("SerializationException", "Request body is not valid JSON.");
    }
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    throw new WireError(
      "SerializationException",
      "Start of structure expected: the request body must be a JSON object.",
    );
  }
  const request = decodeStructure(model.input, json as Record<string, unknown>, "");
  let missing: string[] | undefined;
  for (const m of model.required) {
    if (request[m] !== undefined) continue;
    if (missing === undefined) missing = [];
    missing.push(m);
  }
  if (missing !== undefined) {
    throw new WireError(
      "ValidationException",
      `${missing.length} validation error${missing.length > 1 ? "s" : ""} detected: ${missing
        .map(
          (m) =>
            `Value null at '${m.charAt(0).toLowerCase()}${m.slice(1)}' failed to satisfy constraint: Member must not be null`,
        )
        .join("; ")}`,
    );
  }
  return request;
}

// Paths name members in error messages ("EncryptionContext.tenant", "GrantTokens[0]"). They are built only for
// containers and errors: a scalar member costs no string.
function pathOf(parent: string, key: string | number): string {
  return typeof key === "number" ? `${parent}[${key}]` : parent === "" ? key : `${parent}.${key}`;
}

function decodeStructure(
  members: { readonly [m: string]: Shape },
  json: Record<string, unknown>,
  path: string,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const name in json) {
    // Own members only: the model's tables are plain objects, where "toString", "constructor" or "__proto__" would
    // find Object.prototype's (decoded as structures, and "__proto__" then replaced the request's prototype).
    if (!Object.hasOwn(members, name)) continue;
    const shape = members[name] as Shape;
    const value = json[name];
    if (value === null || value === undefined) continue;
    out[name] = decodeValue(shape, value, path, name);
  }
  return out;
}

function decodeValue(shape: Shape, value: unknown, parent: string, key: string | number): unknown {
  switch (shape) {
    case "s":
      if (typeof value !== "string") throw typeError(pathOf(parent, key), "a string", value);
      return value;
    case "n":
      if (typeof value !== "number" || !Number.isFinite(value))
        throw typeError(pathOf(parent, key), "a number", value);
      return value;
    case "b":
      if (typeof value !== "boolean") throw typeError(pathOf(parent, key), "a boolean", value);
      return value;
    case "B": {
      if (typeof value !== "string") throw typeError(pathOf(parent, key), "a base64 string", value);
      if (!BASE64.test(value)) {
        throw new WireError(
          "SerializationException",
          `Value of '${pathOf(parent, key)}' is not valid base64.`,
        );
      }
      const buf = Buffer.from(value, "base64");
      return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
    }
    case "t":
      if (typeof value !== "number" || !Number.isFinite(value))
        throw typeError(pathOf(parent, key), "a timestamp in epoch seconds", value);
      return new Date(value * 1000);
  }
  const path = pathOf(parent, key);
  if (Array.isArray(shape)) {
    const [kind, inner] = shape as readonly ["l" | "m", Shape];
    if (kind === "l") {
      if (!Array.isArray(value)) throw typeError(path, "a list", value);
      return value.map((v, i) => {
        if (v === null) throw typeError(`${path}[${i}]`, "a list member", v);
        return decodeValue(inner, v, path, i);
      });
    }
    if (typeof value !== "object" || value === null || Array.isArray(value))
      throw typeError(path, "a map", value);
    const out: Record<string, unknown> = {};
    for (const k in value as Record<string, unknown>) {
      const v = (value as Record<string, unknown>)[k];
      if (v === null) throw typeError(`${path}.${k}`, "a map value", v);
      const decoded = decodeValue(inner, v, path, k);
      if (k === "__proto__") {
        // A "__proto__" key (legal in an encryption context) must stay data, never become the object's prototype.
        Object.defineProperty(out, k, {
          value: decoded,
          enumerable: true,
          writable: true,
          configurable: true,
        });
      } else {
        out[k] = decoded;
      }
    }
    return out;
  }
  if (typeof value !== "object" || value === null || Array.isArray(value))
    throw typeError(path, "a structure", value);
  return decodeStructure(shape as { readonly [m: string]: Shape }, value as Record<string, unknown>, path);
}

function typeError(path: string, expected: string, value: unknown): WireError {
  const got =
    value === null
      ? "null"
      : Array.isArray(value)
        ? "a list"
        : typeof value === "object"
          ? "a structure"
          : typeof value;
  return new WireError("SerializationException", `Value of '${path}' must be ${expected}, got ${got}.`);
}

/**
 * Serializes an API response to the JSON body AWS would send: only members the model knows, blobs in base64,
 * dates as epoch seconds. Plaintext blobs are wiped once encoded.
 */
export function encodeResponse(model: OperationModel, response: unknown): string {
  if (response === undefined || response === null) return "{}";
  return encodeStructure(model.output, response as Record<string, unknown>);
}

// The JSON text is written directly: member names are identifiers from the model, base64 needs no escaping, so only
// strings and map keys go through JSON.stringify. The output is what JSON.stringify of the encoded object gave.
function encodeStructure(members: { readonly [m: string]: Shape }, value: Record<string, unknown>): string {
  let out = "";
  for (const name in members) {
    const v = value[name];
    if (v === undefined || v === null) continue;
    const json = encodeValue(members[name] as Shape, v, name);
    if (json === undefined) continue;
    out += out === "" ? `{"${name}":${json}` : `,"${name}":${json}`;
  }
  return out === "" ? "{}" : `${out}}`;
}

function encodeValue(shape: Shape, value: unknown, name: string): string | undefined {
  switch (shape) {
    case "s":
    case "n":
    case "b":
      return JSON.stringify(value);
    case "B": {
      const bytes = value as Uint8Array;
      const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64");
      // Data keys and decrypted plaintext leave memory as soon as they are on the wire.
      if (name === "Plaintext") bytes.fill(0);
      return `"${text}"`;
    }
    case "t":
      return JSON.stringify(
        value instanceof Date
          ? value.getTime() / 1000
          : typeof value === "number"
            ? value
            : Date.parse(String(value)) / 1000,
      );
  }
  if (Array.isArray(shape)) {
    const [kind, inner] = shape as readonly ["l" | "m", Shape];
    if (kind === "l") {
      let out = "";
      for (const v of value as unknown[]) {
        const json = v === undefined || v === null ? "null" : (encodeValue(inner, v, name) ?? "null");
        out += out === "" ? `[${json}` : `,${json}`;
      }
      return out === "" ? "[]" : `${out}]`;
    }
    let out = "";
    for (const k in value as Record<string, unknown>) {
      const v = (value as Record<string, unknown>)[k];
      if (v === undefined) continue;
      const json = v === null ? "null" : encodeValue(inner, v, name);
      if (json === undefined) continue;
      out += `${out === "" ? "{" : ","}${JSON.stringify(k)}:${json}`;
    }
    return out === "" ? "{}" : `${out}}`;
  }
  return encodeStructure(shape as { readonly [m: string]: Shape }, value as Record<string, unknown>);
}
