// Canonical JSON of audit events (a fixed top-level key order, JSON.stringify below it) and of digests (sorted keys).

import type { AuditEvent } from "./types.js";

/**
 * The top-level keys of a stored event in the order they are hashed. `hash` is never part of it.
 * A fixed order avoids sorting keys per event on the hot path; `sequence` and `prevHash` come last so that
 * the group commit can finish an event's text by appending them to a prefix built at append time.
 */
const EVENT_KEYS = [
  "eventVersion",
  "userIdentity",
  "eventTime",
  "eventSource",
  "eventName",
  "awsRegion",
  "sourceIPAddress",
  "userAgent",
  "requestParameters",
  "responseElements",
  "errorCode",
  "errorMessage",
  "requestID",
  "eventID",
  "readOnly",
  "resources",
  "eventType",
  "managementEvent",
  "eventCategory",
  "recipientAccountId",
  "keyId",
  "sequence",
  "prevHash",
] as const satisfies readonly (keyof AuditEvent)[];

/**
 * Serializes any JSON value with object keys sorted (UTF-16 code unit order) and no whitespace.
 * `undefined` members are left out, as JSON.stringify does; values with `toJSON` (Date) are converted first.
 *
 * @throws TypeError for values JSON cannot represent faithfully (bigint, functions, symbols).
 */
export function canonicalJson(value: unknown): string {
  if (value === null) return "null";
  switch (typeof value) {
    case "string":
      return JSON.stringify(value);
    case "number":
      return Number.isFinite(value) ? JSON.stringify(value) : "null";
    case "boolean":
      return value ? "true" : "false";
    case "object": {
      const withToJson = value as { toJSON?: () => unknown };
      if (typeof withToJson.toJSON === "function") return canonicalJson(withToJson.toJSON());
      if (Array.isArray(value)) {
        let out = "[";
        for (let i = 0; i < value.length; i++) {
          if (i > 0) out += ",";
          const item = value[i];
          out += item === undefined ? "null" : canonicalJson(item);
        }
        return out + "]";
      }
      const record = value as Record<string, unknown>;
      const keys = Object.keys(record).sort();
      let out = "{";
      let first = true;
      for (const key of keys) {
        const item = record[key];
        if (item === undefined) continue;
        if (!first) out += ",";
        first = false;
        out += JSON.stringify(key) + ":" + canonicalJson(item);
      }
      return out + "}";
    }
    default:
      throw new TypeError(`audit event: cannot serialize a value of type ${typeof value}`);
  }
}

/**
 * The canonical JSON of an event without its `hash`: the text the chain hash covers (after `prevHash`), and the
 * text stored. Top-level members in the fixed order of {@link CANONICAL_EVENT_KEYS} (absent ones left out);
 * below that, JSON.stringify in the member order the event has. That order survives a JSON round trip
 * (JSON.stringify(JSON.parse(t)) === t for any t JSON.stringify produced), so an event read back from the
 * log, or from a copy of it, serializes to exactly the text that was hashed.
 */
export function canonicalEventJson(event: Omit<AuditEvent, "hash"> | AuditEvent): string {
  const record = event as unknown as Record<string, unknown>;
  const ordered: Record<string, unknown> = {};
  for (const key of EVENT_KEYS) {
    const item = record[key];
    if (item !== undefined) ordered[key] = item;
  }
  return JSON.stringify(ordered);
}

/** Top-level keys a stored event may have besides `hash`; anything else means the row was edited. */
export const CANONICAL_EVENT_KEYS: ReadonlySet<string> = new Set(EVENT_KEYS);

/** The top-level keys in hashing order, for building events in that order. */
export const EVENT_KEY_ORDER: readonly string[] = EVENT_KEYS;
