// Shared fixtures of the kms-local tests: temp data dirs, callers, an open LocalKms, and the check of an AWS error.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, expect } from "vitest";
import { KmsError } from "./errors.js";
import { LocalKms, type LocalKmsOptions } from "./local-kms.js";
import type { Caller } from "./types.js";

export const ACCOUNT = "111122223333";
export const ROOT: Caller = { principal: `arn:aws:iam::${ACCOUNT}:root`, account: ACCOUNT };
export const ALICE: Caller = { principal: `arn:aws:iam::${ACCOUNT}:user/alice`, account: ACCOUNT };
export const BOB: Caller = { principal: `arn:aws:iam::${ACCOUNT}:user/bob`, account: ACCOUNT };
export const MALLORY: Caller = {
  principal: "arn:aws:iam::444455556666:user/mallory",
  account: "444455556666",
};

/** A fresh temp dir, removed by the returned cleanup. */
export function tempDir(): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), "kms-local-"));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A settable clock for rotation and deletion tests. */
export function testClock(start = Date.UTC(2026, 0, 15)): {
  clock: () => Date;
  advanceDays: (d: number) => void;
  now: () => number;
} {
  let t = start;
  return { clock: () => new Date(t), advanceDays: (d) => (t += d * 86_400_000), now: () => t };
}

/** Opens a LocalKms in a fresh temp dir. */
export async function openTemp(
  options: Partial<LocalKmsOptions> = {},
): Promise<{ kms: LocalKms; dir: string; cleanup: () => Promise<void> }> {
  const { dir, cleanup } = tempDir();
  const kms = await LocalKms.open({ dataDir: dir, ...options });
  return {
    kms,
    dir,
    cleanup: async () => {
      await kms.close();
      cleanup();
    },
  };
}

/** Awaits a call that must fail with the AWS error `awsName`, and returns the KmsError. */
export async function rejects(p: Promise<unknown>, awsName: string): Promise<KmsError> {
  try {
    await p;
  } catch (e) {
    expect(KmsError.isInstance(e), String(e)).toBe(true);
    expect((e as KmsError).awsName, (e as Error).message).toBe(awsName);
    return e as KmsError;
  }
  throw new Error(`expected ${awsName}, but the call succeeded`);
}

/**
 * A list of cleanups (closing a LocalKms, removing its dir) run last first after each test of the file that calls
 * this at its top level.
 */
export function cleanupsAfterEach(): (() => Promise<void> | void)[] {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    // Last opened, first closed: a data dir is removed only after every KMS on it is closed.
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });
  return cleanups;
}
