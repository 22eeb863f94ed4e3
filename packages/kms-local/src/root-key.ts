// Root keys: the KeyWrapper every backing key is wrapped by (a key file, a passphrase, or one given by the caller).

import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import {
  closeSync,
  constants,
  fsyncSync,
  linkSync,
  openSync,
  readFileSync,
  statSync,
  unlinkSync,
  writeSync,
} from "node:fs";
import { dirname } from "node:path";
import { authenticationFailed, concatBytes, type KeyWrapper, SealkitError, wipe } from "@sealkit/core";
import { argon2id } from "hash-wasm";
import { syncDirectory, temporaryPathBeside } from "./durable-file.js";

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

/** A root key file problem: ERR_PROVIDER_UNAVAILABLE with the path and the system's reason, never key bytes. */
function keyFileError(path: string, what: string, cause?: unknown): SealkitError {
  const code = (cause as NodeJS.ErrnoException | undefined)?.code;
  return new SealkitError(
    "ERR_PROVIDER_UNAVAILABLE",
    `root key file ${path}: ${what}${code === undefined ? "" : ` (${code})`}`,
    cause === undefined ? undefined : { cause },
  );
}

/**
 * Creates the key file atomically: the 32 bytes are written and fsync'd under a temporary name, then linked to
 * `path` (which fails if it exists) and the directory is fsync'd. A crash or a full disk at any moment leaves
 * either no key file or a complete one, never an empty or short one that would block every later start.
 */
function createRootKeyFile(path: string): AesKeyWrapper {
  const fresh = randomBytes(32);
  const temp = temporaryPathBeside(path);
  try {
    let fd: number;
    try {
      fd = openSync(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
    } catch (cause) {
      throw keyFileError(path, "cannot be created (is the data dir writable?)", cause);
    }
    try {
      writeSync(fd, fresh);
      fsyncSync(fd);
    } catch (cause) {
      throw keyFileError(path, "cannot be written (is the disk full?)", cause);
    } finally {
      closeSync(fd);
    }
    try {
      linkSync(temp, path);
    } catch (cause) {
      if ((cause as NodeJS.ErrnoException).code === "EEXIST") {
        // Another process created it meanwhile: use theirs, as a later start would.
        return loadRootKeyFile(path, false);
      }
      throw keyFileError(path, "cannot be created", cause);
    }
    // The temporary name goes before the directory is fsync'd: a crash during that fsync would otherwise leave
    // a hidden second name of the root key in the data dir, which stays behind (and in its backups) when
    // root.key itself is moved off it.
    removeTemporary(temp);
    syncDirectory(dirname(path));
    return new AesKeyWrapper(fresh, "file");
  } finally {
    wipe(fresh);
    removeTemporary(temp);
  }
}

/** Removes a temporary key file if it is there. */
function removeTemporary(temp: string): void {
  try {
    unlinkSync(temp);
  } catch {
    // Never created, or already gone.
  }
}

/**
 * Reads a root key file (exactly 32 bytes), or creates one with mode 0600 when `create` is set and it does not
 * exist (atomically: a crash leaves no file or a complete one).
 * @throws {SealkitError} ERR_PROVIDER_UNAVAILABLE when the file is missing (and not to be created), not a regular
 * file, unreadable, of the wrong size, accessible by others than its owner, or cannot be created (read-only or
 * full file system); the message names the file and the reason, never key bytes
 */
export function loadRootKeyFile(path: string, create: boolean): AesKeyWrapper {
  let stats: ReturnType<typeof statSync>;
  try {
    stats = statSync(path);
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code !== "ENOENT") throw keyFileError(path, "cannot be read", cause);
    if (!create) {
      throw new SealkitError(
        "ERR_PROVIDER_UNAVAILABLE",
        `root key file ${path} is missing, but the database already holds keys wrapped by it: restore the file (from the backup of this data dir); a new root key would not open them`,
      );
    }
    return createRootKeyFile(path);
  }
  if (!stats.isFile()) throw keyFileError(path, "is not a regular file");
  const uid = process.geteuid?.();
  if (uid !== undefined && stats.uid !== uid && stats.uid !== 0) {
    // OpenSSH's rule for private keys: another user who owns the file can read the root key, whatever its mode.
    throw new SealkitError(
      "ERR_PROVIDER_UNAVAILABLE",
      `root key file ${path} belongs to user ${stats.uid}, but this process runs as user ${uid}: that user can read the root key. chown it to the user that runs the KMS (or root)`,
    );
  }
  const mode = stats.mode & 0o777;
  if ((mode & 0o077) !== 0) {
    throw new SealkitError(
      "ERR_PROVIDER_UNAVAILABLE",
      `root key file ${path} has mode ${mode.toString(8)}; it must be readable by its owner only (chmod 600)`,
    );
  }
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(readFileSync(path));
  } catch (cause) {
    throw keyFileError(path, "cannot be read", cause);
  }
  if (bytes.length !== 32) {
    const length = bytes.length;
    wipe(bytes);
    throw new SealkitError(
      "ERR_PROVIDER_UNAVAILABLE",
      `root key file ${path} must hold exactly 32 bytes, but holds ${length}${length === 0 ? " (it is empty: if this data dir holds no keys yet, delete it and start again; otherwise restore it from the backup)" : " (it is damaged or not a root key file: restore it from the backup of this data dir)"}`,
    );
  }
  const wrapper = new AesKeyWrapper(bytes, "file");
  wipe(bytes);
  return wrapper;
}

/** Bounds on Argon2id parameters: below them a passphrase is too cheap to guess, above them one open could take minutes or more memory than WebAssembly has. */
export const ARGON2_LIMITS = {
  /** Least memory (KiB) for a new passphrase root key. */
  minNewMemorySize: 8192,
  /** Most memory (KiB): 2 GiB. */
  maxMemorySize: 2 ** 21,
  maxIterations: 1000,
  /** memorySize × iterations at most (KiB): 8 GiB of passes, about 40 times the default. */
  maxWork: 2 ** 23,
  maxParallelism: 16,
} as const;

function saltBytes(salt: unknown): Uint8Array | undefined {
  if (typeof salt !== "string" || !/^[A-Za-z0-9+/]*={0,2}$/.test(salt) || salt.length % 4 !== 0)
    return undefined;
  const bytes = Uint8Array.from(atob(salt), (c) => c.charCodeAt(0));
  return bytes.length >= 16 && bytes.length <= 64 ? bytes : undefined;
}

/** Why `params` are not usable Argon2id parameters within {@link ARGON2_LIMITS}, or undefined when they are. */
function argon2Problem(params: Partial<Record<keyof Argon2Parameters, unknown>>): string | undefined {
  const { memorySize, iterations, parallelism } = params;
  if (
    !Number.isSafeInteger(parallelism) ||
    (parallelism as number) < 1 ||
    (parallelism as number) > ARGON2_LIMITS.maxParallelism
  )
    return `parallelism must be an integer from 1 to ${ARGON2_LIMITS.maxParallelism}, got ${String(parallelism)}`;
  if (
    !Number.isSafeInteger(iterations) ||
    (iterations as number) < 1 ||
    (iterations as number) > ARGON2_LIMITS.maxIterations
  )
    return `iterations must be an integer from 1 to ${ARGON2_LIMITS.maxIterations}, got ${String(iterations)}`;
  if (
    !Number.isSafeInteger(memorySize) ||
    (memorySize as number) < 8 * (parallelism as number) ||
    (memorySize as number) > ARGON2_LIMITS.maxMemorySize
  )
    return `memorySize must be an integer from ${8 * (parallelism as number)} to ${ARGON2_LIMITS.maxMemorySize} KiB, got ${String(memorySize)}`;
  if ((memorySize as number) * (iterations as number) > ARGON2_LIMITS.maxWork)
    return `memorySize × iterations must be at most ${ARGON2_LIMITS.maxWork} KiB, got ${(memorySize as number) * (iterations as number)}`;
  if (saltBytes(params.salt) === undefined) return "salt must be base64 of 16 to 64 bytes";
  return undefined;
}

function storedParametersError(detail: string, cause?: unknown): SealkitError {
  return new SealkitError(
    "ERR_PROVIDER_UNAVAILABLE",
    `the passphrase root key's Argon2id parameters stored in kms.db (meta.argon2) are unusable: ${detail}. The database was damaged or tampered with; restore it from a backup`,
    cause === undefined ? undefined : { cause },
  );
}

/**
 * Parses the Argon2id parameters stored in kms.db (`meta.argon2`), refusing values that are malformed or outside
 * {@link ARGON2_LIMITS} before any work is done: a damaged or tampered database cannot make `open` allocate
 * gigabytes or run for hours. (Weak stored parameters are not refused: they only derive a key that fails the
 * root check, so they cannot lower the cost of guessing the real passphrase.)
 * @throws {SealkitError} ERR_PROVIDER_UNAVAILABLE when the text is not JSON or the parameters are unusable
 */
export function parseArgon2Parameters(text: string): Argon2Parameters {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (cause) {
    throw storedParametersError("not JSON", cause);
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed))
    throw storedParametersError("not an object");
  const problem = argon2Problem(parsed as Record<string, unknown>);
  if (problem !== undefined) throw storedParametersError(problem);
  const p = parsed as Argon2Parameters;
  return { memorySize: p.memorySize, iterations: p.iterations, parallelism: p.parallelism, salt: p.salt };
}

/**
 * Derives a root key from a passphrase with Argon2id (hash-wasm).
 * @throws {TypeError} when `passphrase` is not a non-empty string
 * @throws {SealkitError} ERR_PROVIDER_UNAVAILABLE when `params` are malformed or outside {@link ARGON2_LIMITS}
 */
export async function passphraseWrapper(
  passphrase: string,
  params: Argon2Parameters,
): Promise<AesKeyWrapper> {
  if (typeof passphrase !== "string" || passphrase.length === 0) {
    throw new TypeError(`"passphrase" expected a non-empty string`);
  }
  const problem = params === null || typeof params !== "object" ? "not an object" : argon2Problem(params);
  if (problem !== undefined) throw storedParametersError(problem);
  const key = await argon2id({
    password: passphrase,
    salt: saltBytes(params.salt)!,
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

/**
 * Fresh Argon2id parameters with a random salt.
 * @throws {RangeError} when an override is outside {@link ARGON2_LIMITS} (for a new key, at least 8 MiB of memory)
 */
export function newArgon2Parameters(overrides?: Partial<Omit<Argon2Parameters, "salt">>): Argon2Parameters {
  const given = Object.fromEntries(
    Object.entries(overrides ?? {}).filter(([, value]) => value !== undefined),
  );
  const params = { ...DEFAULT_ARGON2, ...given, salt: btoa(String.fromCharCode(...randomBytes(16))) };
  const problem = argon2Problem(params);
  if (problem !== undefined) throw new RangeError(`"rootKey.argon2": ${problem}`);
  if (params.memorySize < ARGON2_LIMITS.minNewMemorySize) {
    throw new RangeError(
      `"rootKey.argon2": memorySize must be at least ${ARGON2_LIMITS.minNewMemorySize} KiB for a new passphrase root key, got ${params.memorySize}`,
    );
  }
  return params;
}
