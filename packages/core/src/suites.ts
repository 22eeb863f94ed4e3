// The algorithm suites of the envelope format (docs/FORMAT.md section "Suites"), as data.

import { SealkitError } from "./errors.js";

/** The name callers use to choose a suite. */
export type SuiteName = "XCHACHA20_POLY1305" | "AES_256_GCM";

/** Fixed parameters of a suite. Both derive keys with HKDF-SHA-256 and commit to the data key. */
export interface Suite {
  /** The two-byte id in the header. */
  readonly id: number;
  readonly name: SuiteName;
  /** Data key and content key length in bytes. */
  readonly keyLength: 32;
  /** AEAD nonce length in bytes. */
  readonly nonceLength: number;
  /** AEAD tag length in bytes. */
  readonly tagLength: 16;
  /** Commitment length in bytes. */
  readonly commitmentLength: 32;
}

export const XCHACHA20_POLY1305: Suite = Object.freeze({
  id: 0x0001,
  name: "XCHACHA20_POLY1305",
  keyLength: 32,
  nonceLength: 24,
  tagLength: 16,
  commitmentLength: 32,
});

export const AES_256_GCM: Suite = Object.freeze({
  id: 0x0002,
  name: "AES_256_GCM",
  keyLength: 32,
  nonceLength: 12,
  tagLength: 16,
  commitmentLength: 32,
});

/** Every suite, by name. The first is the default for encryption. */
export const SUITES: Readonly<Record<SuiteName, Suite>> = Object.freeze({
  XCHACHA20_POLY1305,
  AES_256_GCM,
});

export const DEFAULT_SUITE: Suite = XCHACHA20_POLY1305;

/**
 * The suite with this header id.
 * @throws {SealkitError} ERR_UNSUPPORTED_SUITE
 */
export function suiteById(id: number): Suite {
  if (id === XCHACHA20_POLY1305.id) return XCHACHA20_POLY1305;
  if (id === AES_256_GCM.id) return AES_256_GCM;
  throw new SealkitError(
    "ERR_UNSUPPORTED_SUITE",
    `unsupported suite id 0x${id.toString(16).padStart(4, "0")}`,
  );
}

/**
 * The suite with this name.
 * @throws {SealkitError} ERR_UNSUPPORTED_SUITE
 */
export function suiteByName(name: string): Suite {
  const suite = Object.hasOwn(SUITES, name) ? SUITES[name as SuiteName] : undefined;
  if (!suite) {
    throw new SealkitError(
      "ERR_UNSUPPORTED_SUITE",
      `unsupported suite "${name}"; expected one of ${Object.keys(SUITES).join(", ")}`,
    );
  }
  return suite;
}
