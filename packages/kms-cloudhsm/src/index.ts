// @sealkit/kms-cloudhsm: master keys that never leave a PKCS#11 token (AWS CloudHSM, SoftHSM2, other HSMs).

export { IV_LENGTH, SEALED_OVERHEAD, SEALED_VERSION, TAG_LENGTH } from "./gcm.js";
export { type Pkcs11ConfigFile, parsePkcs11Config } from "./hsm-config.js";
export { DEFAULT_POOL_SIZE, type HsmKeyConfig } from "./hsm-key.js";
export {
  createAesKey,
  describeKey,
  findKey,
  type KeyDescription,
  type Pkcs11SessionConfig,
} from "./key-admin.js";
export {
  MAX_WRAP_PLAINTEXT,
  PKCS11_WRAP_AAD_PREFIX,
  type Pkcs11KeyWrapper,
  type Pkcs11KeyWrapperConfig,
  type Pkcs11WrapOptions,
  pkcs11KeyWrapper,
} from "./key-wrapper.js";
export type { Handle, MechanismSpec, Pkcs11Module, TemplateAttribute } from "./pkcs11-module.js";
export {
  PKCS11_AAD_PREFIX,
  type Pkcs11Provider,
  type Pkcs11ProviderConfig,
  pkcs11Provider,
} from "./pkcs11-provider.js";
export {
  CKM_CLOUDHSM_AES_GCM,
  CKM_CLOUDHSM_AES_KEY_WRAP_NO_PAD,
  CKM_CLOUDHSM_AES_KEY_WRAP_PKCS5_PAD,
  CKM_CLOUDHSM_AES_KEY_WRAP_ZERO_PAD,
  type Pkcs11Profile,
  PROFILES,
  type ProfileName,
  profileByName,
} from "./profiles.js";
export type { SessionPoolStats } from "./session-pool.js";
export type { TokenLocation } from "./token.js";
