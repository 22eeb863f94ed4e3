// Root keys: the KeyWrapper every backing key is wrapped by (a key file, a passphrase, or one given by the caller).

import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { closeSync, constants, fsyncSync, openSync, readFileSync, statSync, writeSync } from "node:fs";
import { authenticationFailed, concatBytes, type KeyWrapper, SealkitError, wipe } from "@sealkit/core";
import { argon2id } from "hash-wasm";

/** Argon2id parameters of a passphrase root key, stored in the database with its salt. */
export interface Argon2Parameters {
  /** Memory in KiB. */
  readonly memorySize: number;
  readonly iterations: number;
  readonly parallelism: number;
  /** Base64 of 16 random bytes. */
  readonly salt: string;
}

/** RFC 9106's second recommended option: 64 MiB, 3 passes, 1 lane. */
export const DEFAULT_ARGON2 = { memorySize: 65536, iterations: 3, parallelism: 1 } as const;

/** A KeyWrapper over a 32-byte AES-256-GCM key held in memory: wrapped = IV (12) || ciphertext || tag (16). */
export class AesKeyWrapper implements KeyWrapper {
  readonly description: string;
  #key: Uint8Array;

  /**
   * Copies `key`; the caller may wipe its copy.
   * @throws {RangeError} when `key` is not 32 bytes
   */
  constructor(key: Uint8Array, description: string) {
    if (key.length !== 32) throw new RangeError(`root key expected 32 bytes, got length=${key.length}`);
    this.#key = new Uint8Array(key);
    this.description = description;
  }

  /** AES-256-GCM with a random IV, binding `aad`. */
  async wrap(plaintext: Uint8Array, aad: Uint8Array): Promise<Uint8Array> {
    const iv = randomBytes(12);
    const cipher = createCipheriv("aes-256-gcm", this.#key, iv);
    cipher.setAAD(aad);
    return concatBytes(iv, cipher.update(plaintext), cipher.final(), cipher.getAuthTag());
  }

  /**
   * Opens what `wrap` returned for the same `aad`.
   * @throws {SealkitError} ERR_AUTHENTICATION_FAILED for altered bytes, another aad or another key
   */
  async unwrap(wrapped: Uint8Array, aad: Uint8Array): Promise<Uint8Array> {
    if (wrapped.length < 28) throw authenticationFailed();
    try {
      const decipher = createDecipheriv("aes-256-gcm", this.#key, wrapped.subarray(0, 12), {
        authTagLength: 16,
      });
      decipher.setAAD(aad);
      decipher.setAuthTag(wrapped.subarray(wrapped.length - 16));
      const head = decipher.update(wrapped.subarray(12, wrapped.length - 16));
      const tail = decipher.final();
      const out = concatBytes(head, tail);
      wipe(head, tail);
      return out;
    } catch (cause) {
      throw authenticationFailed(cause);
    }
  }

  /** Wipes the key; the wrapper is unusable afterwards. */
  async close(): Promise<void> {
    wipe(this.#key);
  }
}

/**
 * Reads a root key file (exactly 32 bytes), or creates one with mode 0600 when `create` is set and it does not exist.
 * @throws {SealkitError} ERR_PROVIDER_UNAVAILABLE when the file is missing (and not to be created), unreadable,
 * of the wrong size, or readable by others than its owner
 */
export function loadRootKeyFile(path: string, create: boolean): AesKeyWrapper {
  try {
    statSync(path);
  } catch {
    if (!create) {
      throw new SealkitError(
        "ERR_PROVIDER_UNAVAILABLE",
        `root key file ${path} is missing, but the database already holds keys wrapped by it: restore the file (from the backup of this data dir); a new root key would not open them`,
      );
    }
    const fresh = randomBytes(32);
    const fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
    try {
      writeSync(fd, fresh);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    const wrapper = new AesKeyWrapper(fresh, "file");
    wipe(fresh);
    return wrapper;
  }
  const mode = statSync(path).mode & 0o777;
  if ((mode & 0o077) !== 0) {
    throw new SealkitError(
      "ERR_PROVIDER_UNAVAILABLE",
      `root key file ${path} has mode ${mode.toString(8)}; it must be readable by its owner only (chmod 600)`,
    );
  }
  const bytes = new Uint8Array(readFileSync(path));
  if (bytes.length !== 32) {
    wipe(bytes);
    throw new SealkitError("ERR_PROVIDER_UNAVAILABLE", `root key file ${path} must hold exactly 32 bytes`);
  }
  const wrapper = new AesKeyWrapper(bytes, "file");
  wipe(bytes);
  return wrapper;
}

/** Derives a root key from a passphrase with Argon2id (hash-wasm). */
export async function passphraseWrapper(
  passphrase: string,
  params: Argon2Parameters,
): Promise<AesKeyWrapper> {
  if (typeof passphrase !== "string" || passphrase.length === 0) {
    throw new TypeError(`"passphrase" expected a non-empty string`);
  }
  const key = await argon2id({
    password: passphrase,
    salt: Uint8Array.from(atob(params.salt), (c) => c.charCodeAt(0)),
    memorySize: params.memorySize,
    iterations: params.iterations,
    parallelism: params.parallelism,
    hashLength: 32,
    outputType: "binary",
  });
  const wrapper = new AesKeyWrapper(key, "passphrase");
  wipe(key);
  return wrapper;
}

/** Fresh Argon2id parameters with a random salt. */
export function newArgon2Parameters(overrides?: Partial<Omit<Argon2Parameters, "salt">>): Argon2Parameters {
  return { ...DEFAULT_ARGON2, ...overrides, salt: btoa(String.fromCharCode(...randomBytes(16))) };
}
