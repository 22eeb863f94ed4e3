// Key administration: create a non-extractable, sensitive AES-256 token key by label, find it, describe it.

import { SealkitError, toHex } from "@sealkit/core";
import { ckrName, toSealkitError } from "./pkcs11-error.js";
import { ck, type Handle, type Pkcs11Module } from "./pkcs11-module.js";
import { type ProfileName, profileByName } from "./profiles.js";
import { SessionPool } from "./session-pool.js";
import { isWellFormedText, TokenConnection, type TokenLocation } from "./token.js";

/** How to reach and log in to a token. */
export interface Pkcs11SessionConfig extends TokenLocation {
  /** The user PIN; for CloudHSM "<crypto-user>:<password>". */
  readonly pin: string;
  /** Token profile, for the PIN format check. Default "generic". */
  readonly profile?: ProfileName;
}

/** A key's attributes, as the token reports them (never its value). */
export interface KeyDescription {
  readonly label: string;
  /** CKA_ID in hex ("" when empty). */
  readonly id: string;
  /** "CKO_SECRET_KEY" for keys this package creates. */
  readonly class: string;
  /** "CKK_AES" for keys this package creates. */
  readonly keyType: string;
  /** CKA_VALUE_LEN in bytes (32 for AES-256). */
  readonly length: number;
  readonly sensitive: boolean;
  readonly extractable: boolean;
  readonly token: boolean;
  /** Generated on the token (CKA_LOCAL). */
  readonly local: boolean;
  readonly neverExtractable: boolean;
  readonly alwaysSensitive: boolean;
  /** CKA_WRAP and CKA_UNWRAP: whether the key may wrap or unwrap other keys (createAesKey: only with `wrap: true`). */
  readonly wrap: boolean;
  readonly unwrap: boolean;
}

/**
 * The handles of secret keys with the given CKA_LABEL; with `privateOnly`, of private ones only (CKA_PRIVATE true).
 * @throws PKCS#11 errors from pkcs11js
 */
export function findKeyHandles(
  module: Pkcs11Module,
  session: Handle,
  label: string,
  privateOnly = false,
): Handle[] {
  module.C_FindObjectsInit(session, [
    { type: ck.CKA_CLASS!, value: ck.CKO_SECRET_KEY! },
    { type: ck.CKA_LABEL!, value: label },
    ...(privateOnly ? [{ type: ck.CKA_PRIVATE!, value: true }] : []),
  ]);
  try {
    return module.C_FindObjects(session, 16);
  } finally {
    module.C_FindObjectsFinal(session);
  }
}

/**
 * The one secret key with the given label; with `privateOnly`, the one private secret key (see `findKeyHandles`).
 * @throws {SealkitError} ERR_KEY_NOT_FOUND when no key or more than one key has the label
 */
export function findOneKey(
  module: Pkcs11Module,
  session: Handle,
  label: string,
  privateOnly = false,
): Handle {
  const handles = findKeyHandles(module, session, label, privateOnly);
  if (handles.length === 1) return handles[0]!;
  throw new SealkitError(
    "ERR_KEY_NOT_FOUND",
    handles.length === 0
      ? `PKCS#11 key "${label}" not found: no secret key on the token has that CKA_LABEL` +
          (privateOnly ? " and CKA_PRIVATE true (public keys are never used: anyone may create one)" : "")
      : `PKCS#11 key "${label}" is ambiguous: ${handles.length} secret keys have that CKA_LABEL` +
          (privateOnly ? " and CKA_PRIVATE true" : ""),
  );
}

function nameOf(prefix: string, value: number): string {
  for (const [name, constant] of Object.entries(ck)) {
    if (name.startsWith(prefix) && constant === value) return name;
  }
  return `${prefix}0x${value.toString(16)}`;
}

/** Reads a key's attributes one at a time, so that a token lacking one attribute still describes the rest. */
export function readKeyDescription(module: Pkcs11Module, session: Handle, key: Handle): KeyDescription {
  const read = (type: number): Buffer | undefined => {
    try {
      return module.C_GetAttributeValue(session, key, [{ type }])[0]?.value;
    } catch (error) {
      if (ckrName(error) === "CKR_ATTRIBUTE_TYPE_INVALID") return undefined;
      throw error;
    }
  };
  const bool = (type: number): boolean => (read(type)?.[0] ?? 0) !== 0;
  const ulong = (type: number): number => {
    const value = read(type);
    if (!value || value.length === 0) return -1;
    return value.length >= 8 ? Number(value.readBigUInt64LE(0)) : value.readUInt32LE(0);
  };
  return {
    label: read(ck.CKA_LABEL!)?.toString("utf8") ?? "",
    id: toHex(read(ck.CKA_ID!) ?? new Uint8Array()),
    class: nameOf("CKO_", ulong(ck.CKA_CLASS!)),
    keyType: nameOf("CKK_", ulong(ck.CKA_KEY_TYPE!)),
    length: ulong(ck.CKA_VALUE_LEN!),
    sensitive: bool(ck.CKA_SENSITIVE!),
    extractable: bool(ck.CKA_EXTRACTABLE!),
    token: bool(ck.CKA_TOKEN!),
    local: bool(ck.CKA_LOCAL!),
    neverExtractable: bool(ck.CKA_NEVER_EXTRACTABLE!),
    alwaysSensitive: bool(ck.CKA_ALWAYS_SENSITIVE!),
    wrap: bool(ck.CKA_WRAP!),
    unwrap: bool(ck.CKA_UNWRAP!),
  };
}

function checkLabel(label: unknown): string {
  if (
    typeof label !== "string" ||
    label.length === 0 ||
    Buffer.byteLength(label) > 255 ||
    !isWellFormedText(label)
  ) {
    throw new TypeError(`"label" expected a non-empty string of at most 255 bytes (without lone surrogates)`);
  }
  return label;
}

async function withSession<T>(
  config: Pkcs11SessionConfig,
  operation: string,
  fn: (session: Handle, module: Pkcs11Module) => T,
): Promise<T> {
  const profile = profileByName(config.profile ?? "generic");
  profile.checkPin(config.pin);
  const connection = new TokenConnection(config);
  const pool = new SessionPool(connection, config.pin, 1);
  try {
    return await pool.run(operation, fn);
  } finally {
    await pool.close();
    connection.close();
  }
}

/**
 * Generates an AES-256 key inside the token (CKM_AES_KEY_GEN): a token object, sensitive, not extractable,
 * private, allowed to encrypt and decrypt. It may wrap and unwrap other keys only with `wrap: true`: a key that can
 * both wrap and decrypt lets anyone logged in read out every extractable key of the token (C_WrapKey it under this
 * key, then C_Decrypt the result), and the envelope path never wraps. Refuses to create a second key with the same
 * label.
 * The check and the creation are two PKCS#11 calls: do not create the same label from two processes at once.
 * @throws {TypeError} for a bad config or label
 * @throws {SealkitError} ERR_REQUEST_INVALID when a key with the label exists (it is left as it is),
 * ERR_HSM_LOGIN_FAILED, ERR_PROVIDER_UNAVAILABLE
 */
export async function createAesKey(
  config: Pkcs11SessionConfig,
  options: { readonly label: string; readonly id?: Uint8Array; readonly wrap?: boolean },
): Promise<KeyDescription> {
  const label = checkLabel(options?.label);
  if (options.wrap !== undefined && typeof options.wrap !== "boolean")
    throw new TypeError(`"wrap" expected a boolean`);
  const wrap = options.wrap === true;
  const id = options.id === undefined ? undefined : Buffer.from(options.id);
  return withSession(config, "createAesKey", (session, module) => {
    if (findKeyHandles(module, session, label).length > 0) {
      throw new SealkitError(
        "ERR_REQUEST_INVALID",
        `PKCS#11 key "${label}" already exists; refusing to create another key with that label`,
      );
    }
    const template = [
      { type: ck.CKA_CLASS!, value: ck.CKO_SECRET_KEY! },
      { type: ck.CKA_KEY_TYPE!, value: ck.CKK_AES! },
      { type: ck.CKA_VALUE_LEN!, value: 32 },
      { type: ck.CKA_LABEL!, value: label },
      { type: ck.CKA_TOKEN!, value: true },
      { type: ck.CKA_PRIVATE!, value: true },
      { type: ck.CKA_SENSITIVE!, value: true },
      { type: ck.CKA_EXTRACTABLE!, value: false },
      { type: ck.CKA_ENCRYPT!, value: true },
      { type: ck.CKA_DECRYPT!, value: true },
      { type: ck.CKA_WRAP!, value: wrap },
      { type: ck.CKA_UNWRAP!, value: wrap },
      ...(id ? [{ type: ck.CKA_ID!, value: id }] : []),
    ];
    let key: Handle;
    try {
      key = module.C_GenerateKey(session, { mechanism: ck.CKM_AES_KEY_GEN! }, template);
    } catch (error) {
      throw toSealkitError(error, "C_GenerateKey");
    }
    return readKeyDescription(module, session, key);
  });
}

/**
 * Describes the secret key with the label, or returns undefined when there is none.
 * @throws {SealkitError} ERR_KEY_NOT_FOUND when several keys share the label, ERR_HSM_LOGIN_FAILED,
 * ERR_PROVIDER_UNAVAILABLE
 */
export async function findKey(
  config: Pkcs11SessionConfig,
  options: { readonly label: string },
): Promise<KeyDescription | undefined> {
  const label = checkLabel(options?.label);
  return withSession(config, "findKey", (session, module) => {
    const handles = findKeyHandles(module, session, label);
    if (handles.length === 0) return undefined;
    return readKeyDescription(module, session, findOneKey(module, session, label));
  });
}

/**
 * Describes the secret key with the label: label, id, class, key type, length and the security attributes.
 * @throws {SealkitError} ERR_KEY_NOT_FOUND, ERR_HSM_LOGIN_FAILED, ERR_PROVIDER_UNAVAILABLE
 */
export async function describeKey(
  config: Pkcs11SessionConfig,
  options: { readonly label: string },
): Promise<KeyDescription> {
  const label = checkLabel(options?.label);
  return withSession(config, "describeKey", (session, module) =>
    readKeyDescription(module, session, findOneKey(module, session, label)),
  );
}
