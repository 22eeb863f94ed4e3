// The monthly usage report: key-months and requests of one month, priced as AWS KMS lists them.

import type Database from "better-sqlite3";

/**
 * AWS KMS list prices used for the estimate (us-east-1, as published when this was written):
 * $1 per customer managed key-month, $1 more per key-month for each of the first two rotations (versions 2 and 3;
 * later rotations are free), AWS managed keys free, 20,000 free requests a month, then $0.03 per 10,000 requests.
 */
export const AWS_KMS_PRICES = {
  customerManagedKeyMonthUsd: 1,
  rotationKeyMonthUsd: 1,
  billedRotationsPerKey: 2,
  awsManagedKeyMonthUsd: 0,
  freeRequestsPerMonth: 20_000,
  symmetricRequestsPer10kUsd: 0.03,
} as const;

/**
 * The usage counter of a ReEncrypt on its destination key (the same request is counted as `ReEncrypt` on its source
 * key): it makes the call a use of the destination key for GetKeyLastUsage, and is not a request of its own.
 */
export const REENCRYPT_TO = "ReEncryptTo";

/** Requests AWS KMS does not charge for. */
export const FREE_OPERATIONS: ReadonlySet<string> = new Set(["CreateKey", "ScheduleKeyDeletion"]);

/** A month's usage and its AWS KMS price. Key-months are prorated by the hours a key existed in the month. */
export interface UsageReport {
  /** "YYYY-MM" (UTC). */
  Month: string;
  Region: string;
  /** True when the month is not over: counted up to now, not projected. */
  Partial: boolean;
  Keys: {
    CustomerManaged: { Count: number; KeyMonths: number; RotationKeyMonths: number };
    AwsManaged: { Count: number; KeyMonths: number };
  };
  Requests: {
    /** Billed symmetric requests (every operation except CreateKey and ScheduleKeyDeletion). */
    Symmetric: number;
    /** CreateKey and ScheduleKeyDeletion. */
    Free: number;
    Total: number;
    ByOperation: Record<string, number>;
  };
  EstimatedCostUsd: { Keys: number; Rotations: number; Requests: number; Total: number };
  Prices: typeof AWS_KMS_PRICES;
}

/**
 * Builds the report of `month` from kms.db's key history (kept after keys are destroyed) and usage counters.
 * @throws {RangeError} when `month` is not `YYYY-MM`
 */
export function buildUsageReport(
  db: Database.Database,
  month: unknown,
  now: number,
  region: string,
): UsageReport {
  if (typeof month !== "string" || !/^\d{4}-(0[1-9]|1[0-2])$/.test(month)) {
    throw new RangeError(
      `"month" expected YYYY-MM, got ${typeof month === "string" ? JSON.stringify(month) : typeof month}`,
    );
  }
  const [y, m] = month.split("-").map(Number) as [number, number];
  const start = Date.UTC(y, m - 1, 1);
  const end = Date.UTC(y, m, 1);
  const until = Math.min(end, now);
  const length = end - start;
  const history = db
    .prepare(
      "SELECT key_id, version, kind, created_at, destroyed_at FROM key_history WHERE kind != 'owned' AND created_at < ? AND (destroyed_at IS NULL OR destroyed_at > ?)",
    )
    .all(until, start) as {
    key_id: string;
    version: number;
    kind: string;
    created_at: number;
    destroyed_at: number | null;
  }[];
  const round = (x: number) => Math.round(x * 1e6) / 1e6;
  const customer = new Set<string>();
  const aws = new Set<string>();
  let customerMonths = 0;
  let rotationMonths = 0;
  let awsMonths = 0;
  for (const h of history) {
    const fraction =
      Math.max(0, Math.min(until, h.destroyed_at ?? until) - Math.max(start, h.created_at)) / length;
    if (h.kind === "aws") {
      aws.add(h.key_id);
      if (h.version === 1) awsMonths += fraction;
    } else {
      customer.add(h.key_id);
      if (h.version === 1) customerMonths += fraction;
      else if (h.version <= 1 + AWS_KMS_PRICES.billedRotationsPerKey) rotationMonths += fraction;
    }
  }
  const usage = db
    .prepare(
      "SELECT operation, sum(count) AS n FROM usage WHERE month = ? GROUP BY operation ORDER BY operation",
    )
    .all(month) as {
    operation: string;
    n: number;
  }[];
  const byOperation: Record<string, number> = {};
  let billed = 0;
  let free = 0;
  for (const u of usage) {
    if (u.operation === REENCRYPT_TO) continue;
    byOperation[u.operation] = u.n;
    if (FREE_OPERATIONS.has(u.operation)) free += u.n;
    else billed += u.n;
  }
  const keysUsd = customerMonths * AWS_KMS_PRICES.customerManagedKeyMonthUsd;
  const rotationsUsd = rotationMonths * AWS_KMS_PRICES.rotationKeyMonthUsd;
  const requestsUsd =
    (Math.max(0, billed - AWS_KMS_PRICES.freeRequestsPerMonth) / 10_000) *
    AWS_KMS_PRICES.symmetricRequestsPer10kUsd;
  return {
    Month: month,
    Region: region,
    Partial: now < end,
    Keys: {
      CustomerManaged: {
        Count: customer.size,
        KeyMonths: round(customerMonths),
        RotationKeyMonths: round(rotationMonths),
      },
      AwsManaged: { Count: aws.size, KeyMonths: round(awsMonths) },
    },
    Requests: { Symmetric: billed, Free: free, Total: billed + free, ByOperation: byOperation },
    EstimatedCostUsd: {
      Keys: round(keysUsd),
      Rotations: round(rotationsUsd),
      Requests: round(requestsUsd),
      Total: round(keysUsd + rotationsUsd + requestsUsd),
    },
    Prices: AWS_KMS_PRICES,
  };
}
