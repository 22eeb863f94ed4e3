// The PKCS#11 functions this package calls (the pkcs11js shapes), and the per-process registry of loaded libraries.

import { realpathSync } from "node:fs";
import pkcs11js from "pkcs11js";

/** A PKCS#11 handle as pkcs11js represents it: a CK_ULONG in a Buffer. */
export type Handle = Buffer;

/** One attribute of a template, as pkcs11js takes it. */
export interface TemplateAttribute {
  type: number;
  value?: number | boolean | string | Buffer;
}

/** A mechanism with its parameter, as pkcs11js takes it. */
export interface MechanismSpec {
  mechanism: number;
  parameter?: Buffer | number | { type: number; [field: string]: unknown };
}

/**
 * The subset of pkcs11js's `PKCS11` class this package uses. A real `PKCS11` satisfies it; tests of the
 * cloudhsm profile pass a small fake with the same shapes, since no CloudHSM is reachable from CI.
 */
export interface Pkcs11Module {
  C_Initialize(options?: { flags?: number }): void;
  C_Finalize(): void;
  C_GetSlotList(tokenPresent?: boolean): Handle[];
  C_GetTokenInfo(slot: Handle): { label: string };
  C_OpenSession(slot: Handle, flags: number): Handle;
  C_CloseSession(session: Handle): void;
  C_Login(session: Handle, userType: number, pin?: string): void;
  C_GetSessionInfo(session: Handle): { state: number };
  C_FindObjectsInit(session: Handle, template: TemplateAttribute[]): void;
  C_FindObjects(session: Handle, maxObjectCount: number): Handle[];
  C_FindObjectsFinal(session: Handle): void;
  C_GetAttributeValue(
    session: Handle,
    object: Handle,
    template: TemplateAttribute[],
  ): { type: number; value?: Buffer }[];
  C_GenerateKey(session: Handle, mechanism: MechanismSpec, template: TemplateAttribute[]): Handle;
  C_GenerateRandom(session: Handle, buffer: Buffer): Buffer;
  C_EncryptInit(session: Handle, mechanism: MechanismSpec, key: Handle): void;
  C_Encrypt(session: Handle, input: Buffer, output: Buffer): Buffer;
  C_EncryptAsync(session: Handle, input: Buffer, output: Buffer): Promise<Buffer>;
  C_DecryptInit(session: Handle, mechanism: MechanismSpec, key: Handle): void;
  C_Decrypt(session: Handle, input: Buffer, output: Buffer): Buffer;
  C_DecryptAsync(session: Handle, input: Buffer, output: Buffer): Promise<Buffer>;
}

/** The pkcs11js constants (CKA_*, CKM_*, CKR_* ...). */
export const ck = pkcs11js as unknown as Record<string, number>;

// One library is one process-wide state: C_Finalize through any handle ends every session of every user,
// so every provider and wrapper of this process shares one loaded module per library path.
const loaded = new Map<string, { module: pkcs11js.PKCS11; refs: number }>();

/**
 * Initializes the library; returns false when another component of the process had initialized it already
 * (CKR_CRYPTOKI_ALREADY_INITIALIZED), in which case finalizing it is that component's business, not ours.
 */
function initialize(module: Pkcs11Module): boolean {
  try {
    // CKF_OS_LOCKING_OK: the async calls run on libuv's thread pool, so the library must lock for itself.
    module.C_Initialize({ flags: ck.CKF_OS_LOCKING_OK });
    return true;
  } catch (error) {
    if (!/CKR_CRYPTOKI_ALREADY_INITIALIZED/.test(String((error as Error)?.message))) throw error;
    return false;
  }
}

/**
 * The key of a library in the registry: its real path, so that two spellings of one file (a symlink such as
 * Debian's /usr/lib/softhsm/libsofthsm2.so, a relative path) share one state. The dynamic loader maps one file
 * once whatever it is called, so two registry entries would finalize each other's library.
 */
function libraryKey(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return path; // missing: loading it fails with the loader's message
  }
}

/**
 * Loads and initializes the PKCS#11 library at `path` once per process (per real file) and counts its users.
 * @throws {Error} from pkcs11js when the file is missing or is not a PKCS#11 library (callers map it)
 */
export function acquireLibrary(path: string): Pkcs11Module {
  const key = libraryKey(path);
  let entry = loaded.get(key);
  if (!entry) {
    const module = new pkcs11js.PKCS11();
    module.load(path);
    entry = { module, refs: 0 };
    try {
      stateOf(module).initializedHere = initialize(module);
    } catch (error) {
      module.close();
      throw error;
    }
    loaded.set(key, entry);
  }
  entry.refs++;
  return entry.module as unknown as Pkcs11Module;
}

/** Drops one user of a library `acquireLibrary` returned; the last one finalizes and unloads it. */
export function releaseLibrary(module: Pkcs11Module): void {
  let key: string | undefined;
  for (const [candidate, entry] of loaded) {
    if ((entry.module as unknown) === module) key = candidate;
  }
  const entry = key === undefined ? undefined : loaded.get(key);
  if (!entry || key === undefined) return;
  entry.refs--;
  if (entry.refs > 0) return;
  loaded.delete(key);
  // A library another component of the process initialized stays initialized: C_Finalize would end its sessions.
  if (stateOf(entry.module).initializedHere) {
    try {
      entry.module.C_Finalize();
    } catch {
      // Already finalized underneath us: nothing left to release.
    }
  }
  entry.module.close();
}

// Per loaded library: its generation (bumped at every re-initialization: sessions and object handles from an
// older generation are invalid, and their numbers may have been reused, so they must never be passed to the
// library again), the calls in flight, and a gate closed while the library is being re-initialized.
interface LibraryState {
  generation: number;
  /** This package's C_Initialize started the library (not CKR_CRYPTOKI_ALREADY_INITIALIZED): it finalizes it. */
  initializedHere: boolean;
  inFlight: number;
  idle: (() => void) | undefined;
  gate: Promise<void> | undefined;
}
const states = new WeakMap<Pkcs11Module, LibraryState>();

function stateOf(module: Pkcs11Module): LibraryState {
  let state = states.get(module);
  if (!state) {
    state = { generation: 0, initializedHere: false, inFlight: 0, idle: undefined, gate: undefined };
    states.set(module, state);
  }
  return state;
}

/** The library's generation: it changes whenever anyone in the process re-initializes the library. */
export function libraryGeneration(module: Pkcs11Module): number {
  return stateOf(module).generation;
}

/**
 * Runs one use of a session (which may be an asynchronous call on libuv's thread pool) while counting it, so
 * that a re-initialization waits for it: PKCS#11 leaves C_Finalize undefined while other threads are inside
 * the library. Waits first if the library is being re-initialized.
 */
export async function withLibraryCall<T>(module: Pkcs11Module, fn: () => Promise<T> | T): Promise<T> {
  const state = stateOf(module);
  while (state.gate) await state.gate;
  state.inFlight++;
  try {
    return await fn();
  } finally {
    state.inFlight--;
    if (state.inFlight === 0) state.idle?.();
  }
}

/**
 * Finalizes and re-initializes a library after a device error, so that the token's slot is scanned again,
 * once the calls in flight have returned. Every session of the process on that library is gone afterwards;
 * other pools notice the new generation and recover on their next call. A second caller while one
 * re-initialization runs just waits for it.
 */
export async function reinitializeLibrary(module: Pkcs11Module): Promise<void> {
  const state = stateOf(module);
  if (state.gate) {
    await state.gate;
    return;
  }
  let open!: () => void;
  state.gate = new Promise<void>((resolve) => (open = resolve));
  try {
    if (state.inFlight > 0) await new Promise<void>((resolve) => (state.idle = resolve));
    state.idle = undefined;
    state.generation++;
    try {
      module.C_Finalize();
    } catch {
      // CKR_CRYPTOKI_NOT_INITIALIZED: someone finalized it already.
    }
    // Whoever initialized it before, this package started it again now, so it finalizes it at the end.
    state.initializedHere = initialize(module) || state.initializedHere;
  } finally {
    state.gate = undefined;
    open();
  }
}

/** Initializes an injected module (tests), ignoring CKR_CRYPTOKI_ALREADY_INITIALIZED. */
export function initializeModule(module: Pkcs11Module): void {
  stateOf(module).initializedHere = initialize(module);
}
