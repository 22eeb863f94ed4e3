// Finds a token's slot by label (slot ids change when SoftHSM2 initializes a token) and keeps the library loaded.

import { SealkitError } from "@sealkit/core";
import { ckrName, toSealkitError } from "./pkcs11-error.js";
import {
  acquireLibrary,
  type Handle,
  initializeModule,
  type Pkcs11Module,
  reinitializeLibrary,
  releaseLibrary,
} from "./pkcs11-module.js";

/** Where the token is: a library and a token label or a slot id. */
export interface TokenLocation {
  /** Path of the PKCS#11 library, e.g. /usr/lib/softhsm/libsofthsm2.so or /opt/cloudhsm/lib/libcloudhsm_pkcs11.so. */
  readonly library: string;
  /**
   * The token's label (CK_TOKEN_INFO.label: at most 32 bytes of UTF-8, trailing blanks ignored). Preferred over
   * `slot`. When two present tokens have it, give `slot` as well: a label alone is then refused, never guessed.
   */
  readonly tokenLabel?: string;
  /**
   * The slot id: alone, or with `tokenLabel` to choose among tokens that share a label (the token in that slot
   * must have the label). SoftHSM2 changes slot ids when it initializes a token.
   */
  readonly slot?: number;
  /** For tests only: an object with the pkcs11js method shapes used instead of loading `library`. */
  readonly module?: Pkcs11Module;
}

/** Encodes a slot id the way pkcs11js represents handles (a little-endian CK_ULONG). */
function slotHandle(slot: number): Handle {
  const handle = Buffer.alloc(8);
  handle.writeBigUInt64LE(BigInt(slot));
  return handle;
}

// A lone surrogate reaches the token as U+FFFD (pkcs11js encodes labels as UTF-8) and cannot be percent-encoded into
// the key id: two different strings would name one label, and the key id would throw a URIError.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** True when `value` is well-formed Unicode (no lone surrogate), so it has exactly one UTF-8 encoding. */
export function isWellFormedText(value: string): boolean {
  return !LONE_SURROGATE.test(value);
}

/** The size of CK_TOKEN_INFO.label, in bytes. */
const TOKEN_LABEL_BYTES = 32;

/**
 * A token label as PKCS#11 compares it: CK_TOKEN_INFO.label is blank-padded to 32 bytes, so trailing blanks are
 * padding, whether the token reported them or a configuration included them ("hsm1 " names the token "hsm1").
 */
export function tokenLabelOf(label: string): string {
  return label.trimEnd();
}

/** Checks a TokenLocation given by a caller. */
export function checkLocation(location: TokenLocation): void {
  if (typeof location !== "object" || location === null) throw new TypeError(`"config" expected an object`);
  if (typeof location.library !== "string" || location.library.length === 0) {
    throw new TypeError(`"library" expected a non-empty string (path of the PKCS#11 library)`);
  }
  if (location.tokenLabel === undefined && location.slot === undefined) {
    throw new TypeError(`either "tokenLabel" or "slot" is required`);
  }
  if (location.tokenLabel !== undefined) {
    const label = location.tokenLabel;
    if (typeof label !== "string" || !isWellFormedText(label) || tokenLabelOf(label) === "") {
      throw new TypeError(`"tokenLabel" expected a non-empty string (without lone surrogates)`);
    }
    // CK_TOKEN_INFO.label is 32 bytes of UTF-8, blank-padded: a longer label can never match any token.
    if (Buffer.byteLength(tokenLabelOf(label)) > TOKEN_LABEL_BYTES) {
      throw new TypeError(
        `"tokenLabel" expected at most ${TOKEN_LABEL_BYTES} bytes of UTF-8 (CK_TOKEN_INFO.label), got ${Buffer.byteLength(tokenLabelOf(label))}`,
      );
    }
  }
  if (location.slot !== undefined && (!Number.isSafeInteger(location.slot) || location.slot < 0)) {
    throw new TypeError(`"slot" expected a non-negative integer`);
  }
}

/** A loaded library and the slot of one token on it. */
export class TokenConnection {
  readonly #location: TokenLocation;
  #module: Pkcs11Module | undefined;
  #slot: Handle | undefined;
  #closed = false;

  constructor(location: TokenLocation) {
    checkLocation(location);
    this.#location = location;
  }

  /**
   * The loaded library, loading it on first use.
   * @throws {SealkitError} ERR_PROVIDER_UNAVAILABLE when the library cannot be loaded or initialized
   */
  get module(): Pkcs11Module {
    if (this.#closed) {
      // A call after close() must not load (and keep) the library again: nothing would ever release it.
      throw new SealkitError("ERR_PROVIDER_UNAVAILABLE", "PKCS#11 session pool is closed");
    }
    if (!this.#module) {
      try {
        if (this.#location.module) {
          initializeModule(this.#location.module);
          this.#module = this.#location.module;
        } else {
          this.#module = acquireLibrary(this.#location.library);
        }
      } catch (error) {
        throw toSealkitError(error, `loading ${this.#location.library}`);
      }
    }
    return this.#module;
  }

  /**
   * The token's slot, found by label on first use.
   * @throws {SealkitError} ERR_PROVIDER_UNAVAILABLE when no present token has the label (or the slot is empty)
   * @throws {Error} the library's own error (a pkcs11js Pkcs11Error) when listing slots fails, for the pool to map
   */
  get slot(): Handle {
    if (this.#slot) return this.#slot;
    const module = this.module;
    // Library errors propagate as they are (the pool maps them), so that CKR_CRYPTOKI_NOT_INITIALIZED and other
    // device errors here are recovered from like anywhere else.
    const slots = module.C_GetSlotList(true);
    const { slot } = this.#location;
    const tokenLabel =
      this.#location.tokenLabel === undefined ? undefined : tokenLabelOf(this.#location.tokenLabel);
    const wanted = slot === undefined ? undefined : slotHandle(slot);
    if (tokenLabel !== undefined) {
      // Every present token is looked at: two tokens with one label (SoftHSM2 and most HSMs allow it) must not be
      // told apart by slot order, which can change, or the first one's PIN counter and keys would be used for the
      // other's. With `slot` as well, only that slot is considered, and it must carry the label.
      const matches: Handle[] = [];
      for (const candidate of slots) {
        if (wanted && !candidate.equals(wanted)) continue;
        let label: string;
        try {
          label = tokenLabelOf(module.C_GetTokenInfo(candidate).label);
        } catch (error) {
          // A slot whose token went away is skipped; a library that went away is the pool's to recover.
          const name = ckrName(error);
          if (name === "CKR_CRYPTOKI_NOT_INITIALIZED" || name === "CKR_DEVICE_ERROR") throw error;
          continue;
        }
        if (label === tokenLabel) matches.push(candidate);
      }
      if (matches.length === 1) {
        this.#slot = matches[0]!;
        return this.#slot;
      }
      if (matches.length > 1) {
        throw new SealkitError(
          "ERR_PROVIDER_UNAVAILABLE",
          `PKCS#11 token "${tokenLabel}" is ambiguous: ${matches.length} present tokens have that label ` +
            `(give "slot" as well to choose one)`,
        );
      }
      throw new SealkitError(
        "ERR_PROVIDER_UNAVAILABLE",
        wanted
          ? `PKCS#11 token "${tokenLabel}" not found in slot ${slot}: CKR_TOKEN_NOT_PRESENT (no present token there has that label)`
          : `PKCS#11 token "${tokenLabel}" not found: CKR_TOKEN_NOT_PRESENT (no present token has that label)`,
      );
    }
    if (!wanted || !slots.some((candidate) => candidate.equals(wanted))) {
      throw new SealkitError(
        "ERR_PROVIDER_UNAVAILABLE",
        `PKCS#11 slot ${slot} has no token: CKR_TOKEN_NOT_PRESENT`,
      );
    }
    this.#slot = wanted;
    return wanted;
  }

  /** The token's label, read from the token when only a slot was configured. */
  get tokenLabel(): string {
    if (this.#location.tokenLabel !== undefined) return tokenLabelOf(this.#location.tokenLabel);
    try {
      return tokenLabelOf(this.module.C_GetTokenInfo(this.slot).label);
    } catch (error) {
      throw toSealkitError(error, "C_GetTokenInfo");
    }
  }

  /** Finalizes and re-initializes the library and forgets the slot, after the device went away. */
  async reinitialize(): Promise<void> {
    const module = this.module;
    this.#slot = undefined;
    try {
      await reinitializeLibrary(module);
    } catch (error) {
      throw toSealkitError(error, "C_Initialize");
    }
  }

  /** Releases the library (the last user finalizes it). */
  close(): void {
    this.#closed = true;
    if (!this.#module) return;
    if (this.#location.module) {
      try {
        this.#module.C_Finalize();
      } catch {
        // Already finalized.
      }
    } else {
      releaseLibrary(this.#module);
    }
    this.#module = undefined;
    this.#slot = undefined;
  }
}
