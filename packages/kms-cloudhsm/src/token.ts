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
  /** The token's label (CKA_LABEL of the token, trailing blanks ignored). Preferred over `slot`. */
  readonly tokenLabel?: string;
  /** The slot id, when no label is given. SoftHSM2 changes slot ids when it initializes a token. */
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

/** Checks a TokenLocation given by a caller. */
export function checkLocation(location: TokenLocation): void {
  if (typeof location !== "object" || location === null) throw new TypeError(`"config" expected an object`);
  if (typeof location.library !== "string" || location.library.length === 0) {
    throw new TypeError(`"library" expected a non-empty string (path of the PKCS#11 library)`);
  }
  if (location.tokenLabel === undefined && location.slot === undefined) {
    throw new TypeError(`either "tokenLabel" or "slot" is required`);
  }
  if (
    location.tokenLabel !== undefined &&
    (typeof location.tokenLabel !== "string" || location.tokenLabel === "")
  ) {
    throw new TypeError(`"tokenLabel" expected a non-empty string`);
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
    const { tokenLabel, slot } = this.#location;
    if (tokenLabel !== undefined) {
      for (const candidate of slots) {
        let label: string;
        try {
          label = module.C_GetTokenInfo(candidate).label.trimEnd();
        } catch (error) {
          // A slot whose token went away is skipped; a library that went away is the pool's to recover.
          const name = ckrName(error);
          if (name === "CKR_CRYPTOKI_NOT_INITIALIZED" || name === "CKR_DEVICE_ERROR") throw error;
          continue;
        }
        if (label === tokenLabel) {
          this.#slot = candidate;
          return candidate;
        }
      }
      throw new SealkitError(
        "ERR_PROVIDER_UNAVAILABLE",
        `PKCS#11 token "${tokenLabel}" not found: CKR_TOKEN_NOT_PRESENT (no present token has that label)`,
      );
    }
    const wanted = slotHandle(slot!);
    if (!slots.some((candidate) => candidate.equals(wanted))) {
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
    if (this.#location.tokenLabel !== undefined) return this.#location.tokenLabel;
    try {
      return this.module.C_GetTokenInfo(this.slot).label.trimEnd();
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
