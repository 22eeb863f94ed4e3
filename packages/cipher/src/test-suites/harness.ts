// A tiny runtime-neutral test harness: suites are lists of named async cases that Node (vitest), Chromium
// (vitest browser mode) and workerd (a Miniflare worker) all run the same way.

import { SealkitError, type SealkitErrorCode } from "@sealkit/core";
import type * as CipherModule from "../index.js";

/** The implementation under test: the package's sources in Node and Chromium, its built dist in workerd. */
export type Cipher = typeof CipherModule;

export interface TestCase {
  readonly name: string;
  run(): Promise<void>;
}

export class AssertionFailed extends Error {
  override name = "AssertionFailed";
}

export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new AssertionFailed(message);
}

export function assertEqualBytes(actual: Uint8Array, expected: Uint8Array, message: string): void {
  assert(actual instanceof Uint8Array, `${message}: expected a Uint8Array`);
  if (actual.length !== expected.length) {
    throw new AssertionFailed(`${message}: length ${actual.length} != ${expected.length}`);
  }
  for (let i = 0; i < actual.length; i++) {
    if (actual[i] !== expected[i]) throw new AssertionFailed(`${message}: differs at byte ${i}`);
  }
}

/** Runs `fn` and returns what it threw (failing when it did not throw). */
export async function thrown(fn: () => unknown, message: string): Promise<unknown> {
  try {
    await fn();
  } catch (error) {
    return error;
  }
  throw new AssertionFailed(`${message}: expected an error, none was thrown`);
}

function describeError(error: unknown): string {
  if (SealkitError.isInstance(error)) return `SealkitError ${error.code}: ${error.message}`;
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return String(error);
}

/** Expects `fn` to fail with a SealkitError of exactly `code`. */
export async function expectCode(fn: () => unknown, code: SealkitErrorCode, message: string): Promise<void> {
  const error = await thrown(fn, message);
  if (!SealkitError.isInstance(error, code)) {
    throw new AssertionFailed(`${message}: expected ${code}, got ${describeError(error)}`);
  }
}

/** Expects `fn` to fail with a SealkitError of any code. */
export async function expectSealkitError(fn: () => unknown, message: string): Promise<SealkitError> {
  const error = await thrown(fn, message);
  if (!SealkitError.isInstance(error)) {
    throw new AssertionFailed(`${message}: expected a SealkitError, got ${describeError(error)}`);
  }
  return error;
}

/** Expects `fn` to fail with an error of the given class (TypeError, RangeError). */
export async function expectThrows(
  fn: () => unknown,
  type: new (...args: never[]) => Error,
  message: string,
  pattern?: RegExp,
): Promise<void> {
  const error = await thrown(fn, message);
  if (!(error instanceof type)) {
    throw new AssertionFailed(`${message}: expected ${type.name}, got ${describeError(error)}`);
  }
  if (pattern && !pattern.test(error.message)) {
    throw new AssertionFailed(`${message}: message "${error.message}" does not match ${pattern}`);
  }
}

/** Deterministic pseudo-random bytes for test inputs (not for keys that matter). */
export function testBytes(length: number, seed = 1): Uint8Array {
  const out = new Uint8Array(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/** The result of running one case, as a worker reports it. */
export interface CaseResult {
  readonly suite: string;
  readonly name: string;
  readonly ok: boolean;
  readonly error?: string;
}

/** Runs every case of every suite in order and reports each (for runtimes without vitest). */
export async function runAll(suites: Record<string, readonly TestCase[]>): Promise<CaseResult[]> {
  const results: CaseResult[] = [];
  for (const [suite, cases] of Object.entries(suites)) {
    for (const c of cases) {
      try {
        await c.run();
        results.push({ suite, name: c.name, ok: true });
      } catch (error) {
        results.push({ suite, name: c.name, ok: false, error: describeError(error) });
      }
    }
  }
  return results;
}
