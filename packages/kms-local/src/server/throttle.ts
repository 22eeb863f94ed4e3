// Token-bucket request quotas per operation class, shaped after AWS KMS's default request quotas.

/** Requests per second by quota class. Symmetric cryptographic operations share one bucket, as in AWS KMS. */
export const DEFAULT_QUOTAS: Readonly<Record<string, number>> = {
  // AWS: "Cryptographic operations (symmetric) request rate", shared, 5,500 to 100,000 by region; 10,000 here.
  cryptographic: 10_000,
  CancelKeyDeletion: 5,
  CreateAlias: 5,
  CreateGrant: 50,
  CreateKey: 50,
  DeleteAlias: 15,
  DescribeKey: 2_000,
  DisableKey: 5,
  DisableKeyRotation: 5,
  EnableKey: 5,
  EnableKeyRotation: 5,
  GetKeyLastUsage: 1_000,
  GetKeyPolicy: 1_000,
  GetKeyRotationStatus: 1_000,
  ListAliases: 500,
  ListGrants: 100,
  ListKeyPolicies: 100,
  ListKeyRotations: 100,
  ListKeys: 500,
  ListResourceTags: 2_000,
  ListRetirableGrants: 100,
  PutKeyPolicy: 15,
  RetireGrant: 30,
  RevokeGrant: 30,
  RotateKeyOnDemand: 5,
  ScheduleKeyDeletion: 15,
  TagResource: 10,
  UntagResource: 5,
  UpdateAlias: 5,
  UpdateKeyDescription: 5,
};

const CRYPTOGRAPHIC = new Set([
  "Encrypt",
  "Decrypt",
  "ReEncrypt",
  "GenerateDataKey",
  "GenerateDataKeyWithoutPlaintext",
  "GenerateRandom",
]);

/** The quota class of an operation: "cryptographic" for the shared symmetric bucket, else the operation's name. */
export function quotaClass(operation: string): string {
  return CRYPTOGRAPHIC.has(operation) ? "cryptographic" : operation;
}

/**
 * Throttling options: quotas in requests per second by class (merged over {@link DEFAULT_QUOTAS}): "cryptographic"
 * for the shared symmetric quota, else an operation's name.
 */
export interface ThrottleOptions {
  readonly quotas?: Readonly<Record<string, number>>;
  /** Seconds of quota a bucket can hold for bursts (default 1). */
  readonly burstSeconds?: number;
}

interface Bucket {
  tokens: number;
  last: number;
  readonly rate: number;
  readonly capacity: number;
}

/**
 * A set of token buckets, one per caller account and quota class: AWS KMS calculates each quota "independently for
 * each Region of each AWS account" and throttles the account that makes a request (for a cross-account request, the
 * caller's, not the key owner's).
 */
export class Throttle {
  /** Account, then quota class. Accounts are those of verified callers (the credentials file), so few. */
  readonly #buckets = new Map<string, Map<string, Bucket>>();
  readonly #quotas: Readonly<Record<string, number>>;
  readonly #burst: number;
  readonly #now: () => number;

  /**
   * @throws {RangeError} for a quota or burst that is not a positive finite number, or a quota named neither
   *   "cryptographic" nor an operation of {@link DEFAULT_QUOTAS} (a symmetric operation's own name included: it
   *   counts against "cryptographic").
   */
  constructor(options: ThrottleOptions = {}, now: () => number = () => performance.now()) {
    // A quota under a name no request is counted against would be ignored without a word: refused instead.
    for (const k of Object.keys(options.quotas ?? {})) {
      if (CRYPTOGRAPHIC.has(k))
        throw new RangeError(
          `quota "${k}": ${k} shares the "cryptographic" quota with the other symmetric operations`,
        );
      if (!Object.hasOwn(DEFAULT_QUOTAS, k))
        throw new RangeError(
          `unknown quota "${k}": expected "cryptographic" or an operation name (DEFAULT_QUOTAS)`,
        );
    }
    this.#quotas = { ...DEFAULT_QUOTAS, ...options.quotas };
    for (const [k, v] of Object.entries(this.#quotas)) {
      if (!(typeof v === "number" && v > 0 && Number.isFinite(v)))
        throw new RangeError(`quota "${k}" expected a positive number, got ${v}`);
    }
    this.#burst = options.burstSeconds ?? 1;
    if (!(this.#burst > 0 && Number.isFinite(this.#burst)))
      throw new RangeError(`"burstSeconds" expected a positive number, got ${this.#burst}`);
    this.#now = now;
  }

  /**
   * Takes one token for an operation from the caller account's bucket of its class; false when that bucket is out of
   * tokens (answer ThrottlingException).
   */
  take(operation: string, account = ""): boolean {
    const cls = quotaClass(operation);
    let buckets = this.#buckets.get(account);
    if (buckets === undefined) {
      buckets = new Map();
      this.#buckets.set(account, buckets);
    }
    let bucket = buckets.get(cls);
    const now = this.#now();
    if (bucket === undefined) {
      const rate = this.#quotas[cls] ?? 100;
      const capacity = Math.max(1, rate * this.#burst);
      bucket = { tokens: capacity, last: now, rate, capacity };
      buckets.set(cls, bucket);
    } else {
      bucket.tokens = Math.min(bucket.capacity, bucket.tokens + ((now - bucket.last) / 1000) * bucket.rate);
      bucket.last = now;
    }
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    return true;
  }
}
