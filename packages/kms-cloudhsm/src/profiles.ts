// What differs between PKCS#11 tokens: who generates the AES-GCM IV, call size limits, wrap mechanisms, sessions.

import { ck } from "./pkcs11-module.js";

/** The profile names `pkcs11Provider` and `pkcs11KeyWrapper` accept. */
export type ProfileName = "softhsm" | "cloudhsm" | "generic";

/** The differences between HSMs this package handles, as data. */
export interface Pkcs11Profile {
  readonly name: ProfileName;
  /** Where the vendor installs the library, when there is one usual place. */
  readonly defaultLibrary: string | undefined;
  /**
   * Who chooses the 12-byte AES-GCM IV. `caller`: this package draws it at random and passes it in
   * CK_GCM_PARAMS.pIv. `hsm`: the HSM ignores the caller's IV and writes the one it generated into the
   * pIv buffer (AWS CloudHSM, CKM_AES_GCM); this package passes a zeroed 12-byte buffer and reads it back.
   */
  readonly ivSource: "caller" | "hsm";
  /** CK_GCM_PARAMS.ulIvBits for encryption: 96 by the standard; 0 as AWS's CloudHSM examples pass it. */
  readonly encryptIvBits: number;
  /**
   * CK_GCM_PARAMS.ulIvBits for decryption (ulIvLen is 12 either way): 96 by the standard; 0 for CloudHSM, as AWS's
   * own sample decrypts (aws-cloudhsm-pkcs11-examples, src/encrypt/aes_gcm.c, reuses the encryption parameters).
   */
  readonly decryptIvBits: number;
  /** The largest input of one C_Encrypt/C_Decrypt with CKM_AES_GCM, in bytes (CloudHSM: 16 KB with the tag). */
  readonly maxGcmInput: number;
  /** The mechanism to wrap keys under an AES key on this token (documented; the envelope path does not wrap). */
  readonly keyWrapMechanism: number;
  /** The name of that mechanism. */
  readonly keyWrapMechanismName: string;
  /** Most sessions one application may open (CloudHSM: 1,024). The pool size is capped at it. */
  readonly maxSessions: number;
  /** Whether the provider uses pkcs11js's asynchronous C_Encrypt/C_Decrypt by default (see BENCHMARKS.md). */
  readonly asyncByDefault: boolean;
  /** Checks the PIN's format for this token. @throws {TypeError} */
  checkPin(pin: string): void;
}

/** AWS CloudHSM's vendor mechanisms (CKM_VENDOR_DEFINED | ...), from /opt/cloudhsm/include/pkcs11t.h. */
export const CKM_CLOUDHSM_AES_GCM = 0x80001087;
export const CKM_CLOUDHSM_AES_KEY_WRAP_NO_PAD = 0x80002109;
export const CKM_CLOUDHSM_AES_KEY_WRAP_PKCS5_PAD = 0x8000210a;
export const CKM_CLOUDHSM_AES_KEY_WRAP_ZERO_PAD = 0x8000216f;

const anyPin = (pin: string): void => {
  if (typeof pin !== "string" || pin.length === 0) throw new TypeError(`"pin" expected a non-empty string`);
};

/** Every profile, by name. */
export const PROFILES: Readonly<Record<ProfileName, Pkcs11Profile>> = {
  softhsm: {
    name: "softhsm",
    defaultLibrary: "/usr/lib/softhsm/libsofthsm2.so",
    ivSource: "caller",
    encryptIvBits: 96,
    decryptIvBits: 96,
    maxGcmInput: Number.MAX_SAFE_INTEGER,
    keyWrapMechanism: ck.CKM_AES_KEY_WRAP_PAD!,
    keyWrapMechanismName: "CKM_AES_KEY_WRAP_PAD",
    maxSessions: 1024,
    // Measured in BENCHMARKS.md: even in-process, the thread-pool calls keep the event loop more responsive
    // (and were not slower) than synchronous calls with a setImmediate between them.
    asyncByDefault: true,
    checkPin: anyPin,
  },
  cloudhsm: {
    name: "cloudhsm",
    defaultLibrary: "/opt/cloudhsm/lib/libcloudhsm_pkcs11.so",
    ivSource: "hsm",
    encryptIvBits: 0,
    decryptIvBits: 0,
    maxGcmInput: 16 * 1024,
    keyWrapMechanism: CKM_CLOUDHSM_AES_KEY_WRAP_PKCS5_PAD,
    keyWrapMechanismName: "CKM_CLOUDHSM_AES_KEY_WRAP_PKCS5_PAD",
    maxSessions: 1024,
    // Every call is a network round trip to the cluster: never block the event loop on it.
    asyncByDefault: true,
    checkPin(pin) {
      anyPin(pin);
      if (!/^[^:]+:.+$/s.test(pin)) {
        throw new TypeError(`"pin" for the cloudhsm profile expected "<crypto-user>:<password>"`);
      }
    },
  },
  generic: {
    name: "generic",
    defaultLibrary: undefined,
    ivSource: "caller",
    encryptIvBits: 96,
    decryptIvBits: 96,
    maxGcmInput: Number.MAX_SAFE_INTEGER,
    keyWrapMechanism: ck.CKM_AES_KEY_WRAP_PAD!,
    keyWrapMechanismName: "CKM_AES_KEY_WRAP_PAD",
    maxSessions: 1024,
    asyncByDefault: true,
    checkPin: anyPin,
  },
};

/**
 * The profile of a name.
 * @throws {TypeError} for an unknown name
 */
export function profileByName(name: unknown): Pkcs11Profile {
  if (typeof name !== "string" || !Object.hasOwn(PROFILES, name)) {
    throw new TypeError(`"profile" expected "softhsm", "cloudhsm" or "generic", got ${JSON.stringify(name)}`);
  }
  return PROFILES[name as ProfileName];
}
