// Shared pieces of the reliability suites (property-based round trips, envelope mutations, key commitment):
// providers with a chosen data key, stream drivers with a given chunking, and the run counts.

import {
  concatBytes,
  type DataKey,
  type EncryptionContext,
  type KeyProvider,
  rawKeyProvider,
  SealkitError,
  type SealkitErrorCode,
} from "@sealkit/core";

/**
 * Every code a decryptor may give for a damaged envelope (docs/FORMAT.md sections 12 and 16). Without
 * `expectContext`, ERR_CONTEXT_MISMATCH cannot occur, so it is not in the set.
 */
export const ENVELOPE_CODES: ReadonlySet<SealkitErrorCode> = new Set<SealkitErrorCode>([
  "ERR_ENVELOPE_MALFORMED",
  "ERR_UNSUPPORTED_VERSION",
  "ERR_UNSUPPORTED_SUITE",
  "ERR_FRAME_SIZE",
  "ERR_LIMIT_EXCEEDED",
  "ERR_TOO_MANY_ENCRYPTED_DATA_KEYS",
  "ERR_AUTHENTICATION_FAILED",
  "ERR_TRUNCATED",
  "ERR_NO_DECRYPTABLE_KEY",
]);

const env = (name: string): string | undefined =>
  (globalThis as { process?: { env: Record<string, string | undefined> } }).process?.env[name];

/**
 * fast-check parameters of a property: `base` runs, multiplied by 25 with SEALKIT_SOAK=1 (by n with
 * SEALKIT_SOAK=<n>); SEALKIT_FC_SEED=<seed> replays the seed a failure printed.
 */
export function runs(base: number): { numRuns: number; seed?: number } {
  const soak = env("SEALKIT_SOAK");
  const factor = !soak ? 1 : soak === "1" ? 25 : Number(soak);
  const numRuns = Number.isFinite(factor) && factor > 0 ? Math.round(base * factor) : base;
  const seed = Number(env("SEALKIT_FC_SEED"));
  return env("SEALKIT_FC_SEED") && Number.isInteger(seed) ? { numRuns, seed } : { numRuns };
}

/** A deterministic 32-byte key from a small seed (test keys, not secrets). */
export function testKey(seed: number): Uint8Array {
  const key = new Uint8Array(32);
  for (let i = 0; i < 32; i++) key[i] = (seed * 131 + i * 7 + 1) & 0xff;
  return key;
}

/** A raw recipient: a fresh provider object each call, so that decryption uses nothing kept from encryption. */
export function rawRecipient(seed: number, keyId = `raw-key-${seed}`): KeyProvider {
  return rawKeyProvider({ keyId, key: testKey(seed) });
}

/**
 * A provider that always "generates" the given data key and wraps it with `wrapper`. Two messages encrypted with
 * it share one data key, which is what splicing and header-swapping attacks need.
 */
export function fixedDataKeyProvider(wrapper: KeyProvider, dataKey: Uint8Array): KeyProvider {
  return {
    providerId: wrapper.providerId,
    async generateDataKey(request): Promise<DataKey> {
      const plaintext = dataKey.slice();
      const encryptedDataKeys = await wrapper.encryptDataKey({ context: request.context, plaintext });
      return { plaintext, encryptedDataKeys };
    },
    encryptDataKey: (request) => wrapper.encryptDataKey(request),
    decryptDataKey: (request) => wrapper.decryptDataKey(request),
    canDecrypt: (edk) => wrapper.canDecrypt(edk),
  };
}

/** Splits `bytes` into chunks whose sizes cycle through `sizes` (each at least 1). */
export function chunk(bytes: Uint8Array, sizes: readonly number[]): Uint8Array[] {
  const out: Uint8Array[] = [];
  let offset = 0;
  let i = 0;
  while (offset < bytes.length) {
    const size = Math.max(1, sizes.length === 0 ? bytes.length : (sizes[i++ % sizes.length] as number));
    out.push(bytes.slice(offset, offset + size));
    offset += size;
  }
  return out;
}

/** What a transform released before it ended, and the error it ended with (undefined when it finished). */
export interface StreamOutcome {
  readonly released: Uint8Array;
  readonly error: unknown;
}

/** Writes `input` in the given chunking through `transform` and collects everything it released. */
export async function runTransform(
  transform: TransformStream<Uint8Array, Uint8Array>,
  input: Uint8Array,
  sizes: readonly number[],
): Promise<StreamOutcome> {
  const chunks = chunk(input, sizes);
  const source = new ReadableStream<Uint8Array>({
    pull(controller) {
      const next = chunks.shift();
      if (next) controller.enqueue(next);
      else controller.close();
    },
  });
  const reader = source.pipeThrough(transform).getReader();
  const parts: Uint8Array[] = [];
  let error: unknown;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      parts.push(value);
    }
  } catch (e) {
    error = e;
  }
  return { released: concatBytes(...parts), error };
}

/** The error's code when it is a SealkitError, else a description (for assertion messages). */
export function describe(error: unknown): string {
  if (SealkitError.isInstance(error)) return error.code;
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return String(error);
}

/** True when `a` is a prefix of `b`. */
export function isPrefix(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length > b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Counts of cases tried, per attack kind, printed at the end of a suite (the figures in docs/RELIABILITY.md). */
export class Tally {
  readonly counts = new Map<string, number>();
  add(kind: string, n = 1): void {
    this.counts.set(kind, (this.counts.get(kind) ?? 0) + n);
  }
  get(kind: string): number {
    return this.counts.get(kind) ?? 0;
  }
  report(title: string): string {
    const lines = [...this.counts].map(([k, n]) => `  ${k}: ${n}`);
    return `${title}\n${lines.join("\n")}`;
  }
}

export type { EncryptionContext };

/** Per-test timeout: two minutes, an hour under SEALKIT_SOAK. */
export const TEST_TIMEOUT: number = env("SEALKIT_SOAK") ? 3_600_000 : 120_000;
