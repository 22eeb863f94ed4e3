// One AES key on one token, used through a session pool: the shared engine of the provider and the key wrapper.

import { SealkitError } from "@sealkit/core";
import { type GcmCall, openInHsm, sealInHsm } from "./gcm.js";
import { findOneKey, type Pkcs11SessionConfig } from "./key-admin.js";
import { ckrName, isKeyHandleError } from "./pkcs11-error.js";
import { ck, type Handle, type Pkcs11Module } from "./pkcs11-module.js";
import { type Pkcs11Profile, profileByName } from "./profiles.js";
import { SessionPool, type SessionPoolStats } from "./session-pool.js";
import { isWellFormedText, TokenConnection } from "./token.js";

/** Options shared by the provider and the key wrapper. */
export interface HsmKeyConfig extends Pkcs11SessionConfig {
  /** CKA_LABEL of the AES-256 key inside the token. */
  readonly keyLabel: string;
  /** Token profile (required): "softhsm", "cloudhsm" or "generic". */
  readonly profile: "softhsm" | "cloudhsm" | "generic";
  /** Most sessions to open (default 8; at most the profile's limit, 1,024 for CloudHSM). */
  readonly poolSize?: number;
  /** Use pkcs11js's thread-pool C_Encrypt/C_Decrypt. Default: the profile's choice (see BENCHMARKS.md). */
  readonly async?: boolean;
  /**
   * With synchronous calls: give the event loop a turn (setImmediate) before every `yieldEvery`-th call, so a
   * burst of calls chained by promises cannot starve timers and I/O. Default 1; 0 never yields.
   */
  readonly yieldEvery?: number;
  /**
   * Accept a key whose value could leave the token (CKA_EXTRACTABLE true or CKA_SENSITIVE false). Default false:
   * such a key is refused with ERR_PROVIDER_UNAVAILABLE, since the point of the HSM is that it cannot.
   */
  readonly allowExtractableKey?: boolean;
}

/** Default number of sessions in a pool. */
export const DEFAULT_POOL_SIZE = 8;

/** Percent-encodes a PKCS#11 URI attribute value (RFC 7512). */
function uriValue(value: string): string {
  return encodeURIComponent(value).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

/** An HSM key reached through a pool of logged-in sessions. */
export class HsmKey {
  readonly profile: Pkcs11Profile;
  readonly keyLabel: string;
  readonly #connection: TokenConnection;
  readonly #pool: SessionPool;
  readonly #async: boolean;
  readonly #yieldEvery: number;
  readonly #allowExtractable: boolean;
  #calls = 0;
  #closing: Promise<void> | undefined;
  // The key's handle in each pooled session (keyed by the session's handle Buffer, which the pool keeps for the
  // session's life). Object handles belong to a session: AWS CloudHSM client SDK 5 hands out a different handle for
  // the same key in every session, so a handle found in one session must never be passed to another.
  #handles = new WeakMap<Handle, { generation: number; handle: Handle }>();

  /**
   * Checks the config; loads nothing until the first call (except to read the token label when only a slot
   * was given).
   * @throws {TypeError} for a bad config
   * @throws {RangeError} for a pool size outside 1 to the profile's session limit
   */
  constructor(config: HsmKeyConfig) {
    if (typeof config !== "object" || config === null) throw new TypeError(`"config" expected an object`);
    this.profile = profileByName(config.profile);
    this.profile.checkPin(config.pin);
    if (
      typeof config.keyLabel !== "string" ||
      config.keyLabel.length === 0 ||
      !isWellFormedText(config.keyLabel)
    ) {
      throw new TypeError(`"keyLabel" expected a non-empty string (without lone surrogates)`);
    }
    this.keyLabel = config.keyLabel;
    const size = config.poolSize ?? DEFAULT_POOL_SIZE;
    if (!Number.isInteger(size) || size < 1 || size > this.profile.maxSessions) {
      throw new RangeError(
        `"poolSize" expected an integer from 1 to ${this.profile.maxSessions}, got ${size}`,
      );
    }
    if (config.async !== undefined && typeof config.async !== "boolean") {
      throw new TypeError(`"async" expected a boolean`);
    }
    this.#async = config.async ?? this.profile.asyncByDefault;
    const yieldEvery = config.yieldEvery ?? 1;
    if (!Number.isInteger(yieldEvery) || yieldEvery < 0) {
      throw new RangeError(`"yieldEvery" expected a non-negative integer, got ${yieldEvery}`);
    }
    this.#yieldEvery = yieldEvery;
    this.#allowExtractable = config.allowExtractableKey === true;
    this.#connection = new TokenConnection(config);
    this.#pool = new SessionPool(this.#connection, config.pin, size);
  }

  /** The token's label (read from the token when only a slot was configured). */
  get tokenLabel(): string {
    return this.#connection.tokenLabel;
  }

  /** `pkcs11:token=<token label>;object=<key label>` (RFC 7512 syntax). */
  get uri(): string {
    return `pkcs11:token=${uriValue(this.tokenLabel)};object=${uriValue(this.keyLabel)}`;
  }

  /** Pool counters. */
  stats(): SessionPoolStats {
    return this.#pool.stats();
  }

  /**
   * Runs `fn` on a pooled session with that session's handle of the key, finding the key again if its handle went
   * stale. `signal` is checked before every HSM call sequence (after each wait) and takes the call out of the
   * pool's queue at once; the call then rejects with `signal.reason`.
   * @throws {SealkitError} ERR_KEY_NOT_FOUND, ERR_HSM_LOGIN_FAILED, ERR_PROVIDER_UNAVAILABLE, or what `fn` throws
   * @throws the signal's reason when `signal` aborts before the HSM call
   */
  async run<T>(
    operation: string,
    fn: (call: GcmCall, module: Pkcs11Module) => Promise<T>,
    signal?: AbortSignal,
  ): Promise<T> {
    if (!this.#async && this.#yieldEvery > 0 && ++this.#calls % this.#yieldEvery === 0) {
      // Synchronous PKCS#11 calls resolve in microtasks; without a macrotask hop a burst never lets I/O in.
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    checkSignal(signal);
    return this.#pool.run(
      operation,
      async (session, module) => {
        for (let attempt = 0; ; attempt++) {
          checkSignal(signal);
          const generation = this.#pool.generation;
          let key = this.#handles.get(session);
          if (!key || key.generation !== generation) {
            const handle = this.#findKey(module, session);
            this.#checkKey(module, session, handle);
            key = { generation, handle };
            this.#handles.set(session, key);
          }
          const call: GcmCall = {
            module,
            session,
            key: key.handle,
            profile: this.profile,
            async: this.#async,
          };
          try {
            return await fn(call, module);
          } catch (error) {
            if (!isKeyHandleError(error) || attempt > 0) throw error;
            this.#handles.delete(session); // deleted and re-created, or a stale handle: look it up again
          }
        }
      },
      signal,
    );
  }

  /**
   * Finds the key by label in this session. A private key is invisible to a session that is no longer logged in
   * (someone called C_Logout, or the HSM ended the login): that is reported as CKR_USER_NOT_LOGGED_IN, which makes
   * the pool discard its logged-out sessions and log in again, not as a missing key.
   */
  #findKey(module: Pkcs11Module, session: Handle): Handle {
    try {
      // Private keys only: a public key (CKA_PRIVATE false) needs no login to create or to see, so under the master
      // key's label it would make the label ambiguous, or, in a session logged out underneath, be the one key found.
      return findOneKey(module, session, this.keyLabel, true);
    } catch (error) {
      // Gone or now ambiguous (a second key took the label): every session's handle is suspect, not just this one's.
      if (SealkitError.isInstance(error, "ERR_KEY_NOT_FOUND")) this.#handles = new WeakMap();
      if (SealkitError.isInstance(error, "ERR_KEY_NOT_FOUND") && !isLoggedIn(module, session)) {
        throw Object.assign(
          new Error("CKR_USER_NOT_LOGGED_IN (the session was logged out underneath the pool)"),
          { cause: error },
        );
      }
      throw error;
    }
  }

  /**
   * Refuses a key that cannot serve as this package's master key: not AES, not 256 bits, not allowed to decrypt
   * (everything sealed under it could never be opened again), or able to leave the token (unless allowed).
   * A key that may not encrypt is left to the token (CKR_KEY_FUNCTION_NOT_PERMITTED): it still opens old values.
   */
  #checkKey(module: Pkcs11Module, session: Handle, key: Handle): void {
    let attributes: { type: number; value?: Buffer }[];
    try {
      attributes = module.C_GetAttributeValue(session, key, [
        { type: ck.CKA_KEY_TYPE! },
        { type: ck.CKA_VALUE_LEN! },
        { type: ck.CKA_DECRYPT! },
        { type: ck.CKA_EXTRACTABLE! },
        { type: ck.CKA_SENSITIVE! },
      ]);
    } catch (error) {
      // AWS CloudHSM client SDK 5 returns CKR_DEVICE_ERROR from a throttled C_GetAttributeValue (known issue
      // ki-pkcs11-15). Taken as a lost device, it would finalize and re-initialize the library (reconnecting to the
      // cluster, ending every session of the process) for a busy HSM: this call fails instead, to be retried later.
      if (this.profile.name === "cloudhsm" && ckrName(error) === "CKR_DEVICE_ERROR") {
        throw new SealkitError(
          "ERR_PROVIDER_UNAVAILABLE",
          "PKCS#11 C_GetAttributeValue failed: CKR_DEVICE_ERROR (AWS CloudHSM reports a throttled HSM this way; retry later)",
          { cause: error },
        );
      }
      throw error;
    }
    const [keyType, valueLength, decrypt, extractable, sensitive] = attributes;
    const type = ulongOf(keyType?.value);
    const length = ulongOf(valueLength?.value);
    if (type !== ck.CKK_AES || length !== 32) {
      throw new SealkitError(
        "ERR_PROVIDER_UNAVAILABLE",
        `PKCS#11 key "${this.keyLabel}" is not an AES-256 key (${keyTypeName(type)}, CKA_VALUE_LEN ${length ?? "unknown"}): ` +
          "refusing it as a master key (create one with createAesKey)",
      );
    }
    if (decrypt?.value?.[0] !== 1) {
      throw new SealkitError(
        "ERR_PROVIDER_UNAVAILABLE",
        `PKCS#11 key "${this.keyLabel}" has CKA_DECRYPT false: nothing sealed under it could be opened again, ` +
          "so it is refused as a master key",
      );
    }
    if (!this.#allowExtractable && (extractable?.value?.[0] !== 0 || sensitive?.value?.[0] !== 1)) {
      throw new SealkitError(
        "ERR_PROVIDER_UNAVAILABLE",
        `PKCS#11 key "${this.keyLabel}" can leave the token (CKA_EXTRACTABLE true or CKA_SENSITIVE false): ` +
          "refusing it as a master key (create one with createAesKey, or set allowExtractableKey)",
      );
    }
  }

  /** AES-GCM encrypts inside the HSM: version || IV || ciphertext || tag. @throws as `run` */
  seal(
    plaintext: Uint8Array,
    aad: Uint8Array,
    operation = "encrypt",
    signal?: AbortSignal,
  ): Promise<Uint8Array> {
    return this.run(operation, (call) => sealInHsm(call, plaintext, aad), signal);
  }

  /** Opens a sealed value inside the HSM. @throws ERR_INVALID_CIPHERTEXT, or as `run` */
  open(
    sealed: Uint8Array,
    aad: Uint8Array,
    operation = "decrypt",
    signal?: AbortSignal,
  ): Promise<Uint8Array> {
    return this.run(operation, (call) => openInHsm(call, sealed, aad), signal);
  }

  /** Closes the pool's sessions once calls in flight finish, then releases the library. */
  close(): Promise<void> {
    // Every caller waits for the same close: a second close() must not release the library while the first
    // one still waits for calls in flight on the thread pool.
    this.#closing ??= (async () => {
      await this.#pool.close();
      this.#connection.close();
    })();
    return this.#closing;
  }
}

// CKS_RO_USER_FUNCTIONS and CKS_RW_USER_FUNCTIONS: the session is logged in as the normal user.
function isLoggedIn(module: Pkcs11Module, session: Handle): boolean {
  try {
    const { state } = module.C_GetSessionInfo(session);
    return state === 1 || state === 3;
  } catch {
    return true; // the session's own error, if any, surfaces on the next call
  }
}

/** A CK_ULONG attribute value (4 or 8 bytes, little-endian as pkcs11js returns it), or undefined. */
function ulongOf(value: Buffer | undefined): number | undefined {
  if (!value || (value.length !== 4 && value.length !== 8)) return undefined;
  return value.length === 8 ? Number(value.readBigUInt64LE(0)) : value.readUInt32LE(0);
}

function keyTypeName(type: number | undefined): string {
  if (type === undefined) return "key type unknown";
  for (const [name, constant] of Object.entries(ck)) {
    if (name.startsWith("CKK_") && constant === type) return name;
  }
  return `CKK 0x${type.toString(16)}`;
}

/** Throws the signal's reason when it is already aborted. */
export function checkSignal(signal: AbortSignal | undefined): void {
  if (signal?.aborted) {
    throw signal.reason ?? new SealkitError("ERR_PROVIDER_UNAVAILABLE", "PKCS#11 call aborted");
  }
}
