// Tiny argument checks that return their input, in the style of noble: precise TypeError/RangeError messages.

/**
 * Asserts a Uint8Array (optionally of an exact length) over memory that is neither shared nor detached, and returns
 * it.
 *
 * Shared memory is refused because Web Crypto refuses it (so one suite or provider failed where another worked) and
 * because another thread may change it between a check and its use. A view of a detached buffer (transferred to a
 * worker) reads as zero bytes, so it would be taken for empty input.
 * @throws {TypeError} when `value` is not such a Uint8Array
 * @throws {RangeError} when `length` is given and `value` has another length
 */
export function abytes(value: unknown, name: string, length?: number): Uint8Array {
  if (!(value instanceof Uint8Array)) {
    throw new TypeError(`"${name}" expected Uint8Array, got ${describe(value)}`);
  }
  // Realm-independent: a SharedArrayBuffer from another realm (a worker, an iframe) fails instanceof.
  if (Object.prototype.toString.call(value.buffer) === "[object SharedArrayBuffer]") {
    throw new TypeError(
      `"${name}" expected a Uint8Array over an ArrayBuffer, got one over a SharedArrayBuffer (copy it first)`,
    );
  }
  // A view of a detached buffer has length 0, and a new view of that buffer throws (Node 20 lacks `detached`).
  if (value.byteLength === 0) {
    try {
      new Uint8Array(value.buffer, 0, 0);
    } catch {
      throw new TypeError(`"${name}" is a view of a detached ArrayBuffer`);
    }
  }
  if (length !== undefined && value.length !== length) {
    throw new RangeError(`"${name}" expected Uint8Array of length ${length}, got length=${value.length}`);
  }
  return value;
}

/** Asserts an integer within [min, max] and returns it. */
export function aint(value: unknown, name: string, min: number, max: number): number {
  if (typeof value !== "number" || !Number.isInteger(value)) {
    throw new TypeError(`"${name}" expected an integer, got ${describe(value)}`);
  }
  if (value < min || value > max) {
    throw new RangeError(`"${name}" expected an integer from ${min} to ${max}, got ${value}`);
  }
  return value;
}

/** Asserts a string and returns it. */
export function astring(value: unknown, name: string): string {
  if (typeof value !== "string") throw new TypeError(`"${name}" expected a string, got ${describe(value)}`);
  return value;
}

/** Asserts a non-null object and returns it. */
export function aobject<T extends object>(value: unknown, name: string): T {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new TypeError(`"${name}" expected an object, got ${describe(value)}`);
  }
  return value as T;
}

/**
 * Asserts a plain object (any prototype, from any realm) for an encryption context and returns it. Contexts are read
 * with Object.entries, which sees none of a Map's entries: a Map would be taken for the empty context.
 */
export function apairs<T extends object>(value: unknown, name: string): T {
  const pairs = aobject<T>(value, name);
  if (Object.prototype.toString.call(pairs) !== "[object Object]") {
    throw new TypeError(`"${name}" expected a plain object of string pairs, got ${describe(pairs)}`);
  }
  return pairs;
}

/** How a value looks in an error message: its type, never its content (it may be secret). */
export function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  if (value instanceof Uint8Array) return `Uint8Array of length ${value.length}`;
  if (typeof value === "object") return (value as object).constructor?.name ?? "object";
  return typeof value;
}
