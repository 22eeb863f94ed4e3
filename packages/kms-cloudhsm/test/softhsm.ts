// Test helper: a throwaway SoftHSM2 configuration and tokens in a temporary folder (SOFTHSM2_CONF).

import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SealkitError } from "@sealkit/core";
import pkcs11js from "pkcs11js";
import { expect } from "vitest";
import type { Pkcs11Module } from "../src/pkcs11-module.js";

/** Debian's SoftHSM2 library. */
export const SOFTHSM_LIBRARY = process.env.SOFTHSM2_LIBRARY ?? "/usr/lib/softhsm/libsofthsm2.so";

/** True when softhsm2-util and the library are installed (`.ci/run` installs the softhsm2 package). */
export const hasSoftHsm =
  existsSync(SOFTHSM_LIBRARY) && spawnSync("softhsm2-util", ["--version"], { stdio: "ignore" }).status === 0;

// CI installs softhsm2 (.ci/run): there a missing SoftHSM2 is a broken setup, not a reason to skip.
if (!hasSoftHsm && process.env.CI) {
  throw new Error("CI is set but SoftHSM2 is missing: .ci/run should have installed the softhsm2 package");
}

/** Why the suite is skipped, printed once when SoftHSM2 is missing. */
export const SKIP_MESSAGE =
  "SoftHSM2 is not installed (softhsm2-util or /usr/lib/softhsm/libsofthsm2.so missing): skipping the PKCS#11 tests. " +
  "Install it with `apt-get install -y softhsm2` (.ci/run does).";

export interface TestToken {
  readonly label: string;
  readonly pin: string;
  readonly soPin: string;
}

/** The provider and key-wrapper options that reach `token` on SoftHSM2; add `keyLabel` where a key is named. */
export function softHsmOptions(token: TestToken) {
  return { library: SOFTHSM_LIBRARY, tokenLabel: token.label, pin: token.pin, profile: "softhsm" as const };
}

export interface SoftHsm {
  readonly dir: string;
  readonly conf: string;
  /** Removes the token folder. */
  cleanup(): void;
}

/**
 * Writes a SoftHSM2 config whose tokendir is a fresh temp folder, points SOFTHSM2_CONF at it (SoftHSM2 reads
 * it at C_Initialize, so call this before anything loads the library in this process) and initializes each
 * token with `softhsm2-util --init-token --free`.
 */
export function setupSoftHsm(tokens: readonly TestToken[]): SoftHsm {
  const dir = mkdtempSync(join(tmpdir(), "sealkit-softhsm-"));
  const tokendir = join(dir, "tokens");
  mkdirSync(tokendir);
  const conf = join(dir, "softhsm2.conf");
  writeFileSync(
    conf,
    `directories.tokendir = ${tokendir}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n`,
  );
  process.env.SOFTHSM2_CONF = conf;
  for (const token of tokens) {
    const result = spawnSync(
      "softhsm2-util",
      ["--init-token", "--free", "--label", token.label, "--pin", token.pin, "--so-pin", token.soPin],
      { env: { ...process.env, SOFTHSM2_CONF: conf }, encoding: "utf8" },
    );
    if (result.status !== 0) throw new Error(`softhsm2-util --init-token failed: ${result.stderr}`);
  }
  return { dir, conf, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A second, independent handle on the same library, to break things underneath a pool as another app would. */
export function rawModule(): pkcs11js.PKCS11 {
  const module = new pkcs11js.PKCS11();
  module.load(SOFTHSM_LIBRARY);
  try {
    module.C_Initialize({ flags: pkcs11js.CKF_OS_LOCKING_OK });
  } catch (error) {
    if (!/CKR_CRYPTOKI_ALREADY_INITIALIZED/.test((error as Error).message)) throw error;
  }
  return module;
}

/** The slot of the token with the label, found the way the package finds it. */
export function slotOf(module: pkcs11js.PKCS11, label: string): Buffer {
  for (const slot of module.C_GetSlotList(true)) {
    if (module.C_GetTokenInfo(slot).label.trimEnd() === label) return slot;
  }
  throw new Error(`no token ${label}`);
}

/** Replaces one C_* call in {@link recordingSoftHsm}: it is given the original call and the call's arguments. */
export type Pkcs11Hook = (original: (...args: unknown[]) => unknown, ...args: unknown[]) => unknown;

/**
 * SoftHSM2's real module ({@link rawModule}) behind a proxy that records the name of every C_* call in `calls` and
 * lets a test replace one by setting `hooks[name]`.
 */
export function recordingSoftHsm(): {
  module: Pkcs11Module;
  calls: string[];
  hooks: Record<string, Pkcs11Hook>;
} {
  const target = rawModule();
  const calls: string[] = [];
  const hooks: Record<string, Pkcs11Hook> = {};
  const module = new Proxy(target, {
    get(object, property) {
      const value = Reflect.get(object, property) as unknown;
      if (typeof value !== "function") return value;
      const original = (...args: unknown[]) => (value as (...a: unknown[]) => unknown).apply(object, args);
      if (typeof property !== "string" || !property.startsWith("C_")) return original;
      return (...args: unknown[]) => {
        calls.push(property);
        const hook = hooks[property];
        return hook ? hook(original, ...args) : original(...args);
      };
    },
  }) as unknown as Pkcs11Module;
  return { module, calls, hooks };
}

/** The SealkitError `promise` rejects with (the test fails if it resolves or rejects with anything else). */
export async function errorOf(promise: Promise<unknown>): Promise<SealkitError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(SealkitError.isInstance(error), `expected a SealkitError, got ${String(error)}`).toBe(true);
  return error as SealkitError;
}
