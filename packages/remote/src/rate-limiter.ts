// A token bucket per principal, bounded in memory, for the data-key handler's rate limit.

import { aint } from "@sealkit/core";

/** Requests allowed per principal: `burst` at once, refilled at `perSecond`. */
export interface RateLimit {
  readonly perSecond: number;
  readonly burst: number;
  /** Principals tracked at once; the least recently seen are forgotten first. Default 10,000. */
  readonly maxPrincipals?: number;
}

interface Bucket {
  tokens: number;
  updated: number;
}

/**
 * Takes one token for `principal`; returns 0 when allowed, else the seconds until a token is available.
 * @throws {RangeError} when perSecond is not above 0, burst is below 1, or maxPrincipals is not from 1 to 2^31 - 1
 * @throws {TypeError} when maxPrincipals is not an integer
 */
export function createRateLimiter(
  limit: RateLimit,
  now: () => number = Date.now,
): (principal: string) => number {
  const { perSecond, burst, maxPrincipals = 10_000 } = limit;
  if (!(perSecond > 0) || !(burst >= 1))
    throw new RangeError(`rate limit needs perSecond > 0 and burst >= 1`);
  // NaN (an unset environment variable through Number) would never evict: memory growing with every principal.
  aint(maxPrincipals, "maxPrincipals", 1, 2 ** 31 - 1);
  const buckets = new Map<string, Bucket>();
  return (principal) => {
    const time = now();
    let bucket = buckets.get(principal);
    if (bucket) {
      buckets.delete(principal); // re-inserted below: Map order is recency order
      // A clock that steps back (NTP) refills nothing; it must not drain the bucket and lock the principal out.
      const elapsed = Math.max(0, time - bucket.updated);
      bucket.tokens = Math.min(burst, bucket.tokens + (elapsed / 1000) * perSecond);
      bucket.updated = time;
    } else {
      bucket = { tokens: burst, updated: time };
      if (buckets.size >= maxPrincipals) buckets.delete(buckets.keys().next().value as string);
    }
    buckets.set(principal, bucket);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return 0;
    }
    return Math.ceil((1 - bucket.tokens) / perSecond);
  };
}
