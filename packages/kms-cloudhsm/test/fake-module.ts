// A fake PKCS#11 module with pkcs11js's method shapes that records every call: for the cloudhsm profile
// (no CloudHSM is reachable from CI) and for faults SoftHSM2 cannot show, such as CKR_DEVICE_REMOVED.

import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import pkcs11js from "pkcs11js";
import type { Handle, MechanismSpec, Pkcs11Module, TemplateAttribute } from "../src/pkcs11-module.js";
import { pkcs11Provider } from "../src/pkcs11-provider.js";

export interface FakeCall {
  readonly fn: string;
  readonly args: unknown[];
}

export interface FakeOptions {
  /** "hsm": behave like CloudHSM and write a generated IV into CK_GCM_PARAMS.pIv, ignoring the caller's. */
  readonly ivSource: "caller" | "hsm";
  /** Throw this CKR name from the next C_Encrypt/C_EncryptAsync (once). */
  failNextEncrypt?: string;
  /** With ivSource "hsm": forget to write the IV back (a mis-configured profile). */
  readonly dropIv?: boolean;
  readonly pin?: string;
  /** The "master" key is extractable and not sensitive (a key that could leave the token). */
  readonly extractable?: boolean;
}

const handle = (n: number): Handle => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(n));
  return b;
};

function ckr(name: string): Error {
  return Object.assign(new Error(`${name}:${(pkcs11js as unknown as Record<string, number>)[name] ?? 0}`), {
    name: "Pkcs11Error",
  });
}

/** A token with one AES-256 key labelled "master" in slot 1, label "fake". */
export class FakeModule implements Pkcs11Module {
  readonly calls: FakeCall[] = [];
  readonly key = randomBytes(32);
  readonly options: FakeOptions;
  #sessions = new Set<number>();
  #nextSession = 1;
  #initialized = false;
  #loggedIn = false;
  /** Asynchronous calls running "on the thread pool" right now, and how many there were at each C_Finalize. */
  pending = 0;
  readonly pendingAtFinalize: number[] = [];
  // The operation each session initialized (C_EncryptInit/C_DecryptInit), as a real token keeps it per session.
  #ops = new Map<number, { kind: "encrypt" | "decrypt"; iv: Buffer; aad: Buffer; ivBits: number }>();

  constructor(options: FakeOptions) {
    this.options = options;
  }

  #record(fn: string, ...args: unknown[]): void {
    this.calls.push({ fn, args });
    if (fn !== "C_Initialize" && fn !== "C_Finalize" && !this.#initialized)
      throw ckr("CKR_CRYPTOKI_NOT_INITIALIZED");
  }

  #session(session: Handle): void {
    if (!this.#sessions.has(Number(session.readBigUInt64LE()))) throw ckr("CKR_SESSION_HANDLE_INVALID");
  }

  /** How many times a function was called. */
  count(fn: string): number {
    return this.calls.filter((c) => c.fn === fn).length;
  }

  /** Kills every session, as a cluster failover would. */
  dropSessions(): void {
    this.#sessions.clear();
    this.#loggedIn = false;
  }

  C_Initialize(options?: { flags?: number }): void {
    this.#record("C_Initialize", options);
    if (this.#initialized) throw ckr("CKR_CRYPTOKI_ALREADY_INITIALIZED");
    this.#initialized = true;
  }
  C_Finalize(): void {
    this.#record("C_Finalize");
    this.pendingAtFinalize.push(this.pending);
    this.#initialized = false;
    this.dropSessions();
  }
  C_GetSlotList(): Handle[] {
    this.#record("C_GetSlotList");
    return [handle(1)];
  }
  C_GetTokenInfo(slot: Handle): { label: string } {
    this.#record("C_GetTokenInfo", slot);
    return { label: "fake".padEnd(32, " ") };
  }
  C_OpenSession(slot: Handle, flags: number): Handle {
    this.#record("C_OpenSession", slot, flags);
    const n = this.#nextSession++;
    this.#sessions.add(n);
    return handle(n);
  }
  C_CloseSession(session: Handle): void {
    this.#record("C_CloseSession", session);
    this.#session(session);
    this.#sessions.delete(Number(session.readBigUInt64LE()));
  }
  C_Login(session: Handle, userType: number, pin?: string): void {
    this.#record("C_Login", session, userType, pin);
    this.#session(session);
    if (this.#loggedIn) throw ckr("CKR_USER_ALREADY_LOGGED_IN");
    if (pin !== (this.options.pin ?? "crypto_user:password")) throw ckr("CKR_PIN_INCORRECT");
    this.#loggedIn = true;
  }
  C_GetSessionInfo(session: Handle): { state: number } {
    this.#record("C_GetSessionInfo", session);
    this.#session(session);
    return { state: this.#loggedIn ? 3 : 2 };
  }
  C_FindObjectsInit(session: Handle, template: TemplateAttribute[]): void {
    this.#record("C_FindObjectsInit", session, template);
    this.#session(session);
  }
  C_FindObjects(session: Handle): Handle[] {
    this.#record("C_FindObjects", session);
    const init = this.calls.filter((c) => c.fn === "C_FindObjectsInit").at(-1)!;
    const label = (init.args[1] as TemplateAttribute[]).find((a) => a.type === pkcs11js.CKA_LABEL)?.value;
    return label === "master" ? [handle(100)] : [];
  }
  C_FindObjectsFinal(session: Handle): void {
    this.#record("C_FindObjectsFinal", session);
  }
  C_GetAttributeValue(
    session: Handle,
    object: Handle,
    template: TemplateAttribute[],
  ): { type: number; value?: Buffer }[] {
    this.#record("C_GetAttributeValue", session, object, template);
    this.#session(session);
    return template.map(({ type }) => {
      if (type === pkcs11js.CKA_EXTRACTABLE)
        return { type, value: Buffer.from([this.options.extractable ? 1 : 0]) };
      if (type === pkcs11js.CKA_SENSITIVE)
        return { type, value: Buffer.from([this.options.extractable ? 0 : 1]) };
      if (type === pkcs11js.CKA_DECRYPT) return { type, value: Buffer.from([1]) };
      if (type === pkcs11js.CKA_KEY_TYPE || type === pkcs11js.CKA_VALUE_LEN) {
        const value = Buffer.alloc(8);
        value.writeBigUInt64LE(BigInt(type === pkcs11js.CKA_KEY_TYPE ? pkcs11js.CKK_AES : 32));
        return { type, value };
      }
      throw ckr("CKR_ATTRIBUTE_TYPE_INVALID");
    });
  }
  C_GenerateKey(): Handle {
    throw ckr("CKR_FUNCTION_NOT_SUPPORTED");
  }
  C_GenerateRandom(session: Handle, buffer: Buffer): Buffer {
    this.#record("C_GenerateRandom", session, buffer.length);
    this.#session(session);
    randomBytes(buffer.length).copy(buffer);
    return buffer;
  }
  C_EncryptInit(session: Handle, mechanism: MechanismSpec, key: Handle): void {
    this.#record("C_EncryptInit", session, mechanism, key);
    this.#session(session);
    const p = mechanism.parameter as unknown as { iv: Buffer; aad: Buffer; ivBits: number };
    this.#ops.set(Number(session.readBigUInt64LE()), {
      kind: "encrypt",
      iv: p.iv,
      aad: p.aad,
      ivBits: p.ivBits,
    });
  }
  C_Encrypt(session: Handle, input: Buffer, output: Buffer): Buffer {
    this.#record("C_Encrypt", session, input.length);
    return this.#encrypt(session, input, output);
  }
  C_EncryptAsync(session: Handle, input: Buffer, output: Buffer): Promise<Buffer> {
    this.#record("C_EncryptAsync", session, input.length);
    this.pending++;
    return new Promise((resolve, reject) =>
      setImmediate(() => {
        this.pending--;
        try {
          resolve(this.#encrypt(session, input, output));
        } catch (error) {
          reject(error);
        }
      }),
    );
  }
  #encrypt(session: Handle, input: Buffer, output: Buffer): Buffer {
    this.#session(session);
    const failure = this.options.failNextEncrypt;
    if (failure) {
      this.options.failNextEncrypt = undefined;
      throw ckr(failure);
    }
    const op = this.#ops.get(Number(session.readBigUInt64LE()))!;
    if (this.options.ivSource === "hsm" && input.length + 16 > 16 * 1024) throw ckr("CKR_DATA_LEN_RANGE");
    let iv = op.iv;
    if (this.options.ivSource === "hsm") {
      // CloudHSM: the caller's IV is ignored; the generated one is written into the caller's pIv buffer.
      iv = randomBytes(12);
      if (!this.options.dropIv) iv.copy(op.iv);
    }
    const cipher = createCipheriv("aes-256-gcm", this.key, iv);
    cipher.setAAD(op.aad);
    const sealed = Buffer.concat([cipher.update(input), cipher.final(), cipher.getAuthTag()]);
    sealed.copy(output);
    return output.subarray(0, sealed.length);
  }
  C_DecryptInit(session: Handle, mechanism: MechanismSpec, key: Handle): void {
    this.#record("C_DecryptInit", session, mechanism, key);
    this.#session(session);
    const p = mechanism.parameter as unknown as { iv: Buffer; aad: Buffer; ivBits: number };
    this.#ops.set(Number(session.readBigUInt64LE()), {
      kind: "decrypt",
      iv: Buffer.from(p.iv),
      aad: p.aad,
      ivBits: p.ivBits,
    });
  }
  C_Decrypt(session: Handle, input: Buffer, output: Buffer): Buffer {
    this.#record("C_Decrypt", session, input.length);
    return this.#decrypt(session, input, output);
  }
  C_DecryptAsync(session: Handle, input: Buffer, output: Buffer): Promise<Buffer> {
    this.#record("C_DecryptAsync", session, input.length);
    return new Promise((resolve, reject) =>
      setImmediate(() => {
        try {
          resolve(this.#decrypt(session, input, output));
        } catch (error) {
          reject(error);
        }
      }),
    );
  }
  #decrypt(session: Handle, input: Buffer, output: Buffer): Buffer {
    this.#session(session);
    const op = this.#ops.get(Number(session.readBigUInt64LE()))!;
    const decipher = createDecipheriv("aes-256-gcm", this.key, op.iv);
    decipher.setAAD(op.aad);
    decipher.setAuthTag(input.subarray(input.length - 16));
    try {
      const plain = Buffer.concat([decipher.update(input.subarray(0, input.length - 16)), decipher.final()]);
      plain.copy(output);
      return output.subarray(0, plain.length);
    } catch {
      throw ckr("CKR_ENCRYPTED_DATA_INVALID");
    }
  }
}

/**
 * A provider with the cloudhsm profile over a fake module: key "master" on token "fake", the fake's default PIN.
 * `extra` adds or overrides provider options (poolSize, pin, ...).
 */
export function cloudhsmProvider(fake: FakeModule, extra: Record<string, unknown> = {}) {
  return pkcs11Provider({
    library: "/opt/cloudhsm/lib/libcloudhsm_pkcs11.so",
    tokenLabel: "fake",
    pin: "crypto_user:password",
    keyLabel: "master",
    profile: "cloudhsm",
    module: fake,
    ...extra,
  });
}
