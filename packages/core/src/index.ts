// @sealkit/core: the types, envelope codec and errors every Sealkit package shares.

export { untilAborted } from "./abort.js";
export { abytes, aint, aobject, apairs, astring } from "./assert.js";
export {
  concatBytes,
  equalBytes,
  fromBase64,
  fromHex,
  fromUtf8,
  randomBytes,
  toBase64,
  toHex,
  utf8,
  wipe,
} from "./bytes.js";
export { CACHING_DEFAULTS, type CachingProviderOptions, cachingProvider } from "./caching-provider.js";
export { contextContains, decodeContext, encodeContext, MAX_CONTEXT_BYTES } from "./context.js";
export {
  type DataKeyCache,
  type DataKeyCacheEntry,
  DEFAULT_CACHE_CAPACITY,
  type MemoryDataKeyCacheOptions,
  memoryDataKeyCache,
} from "./data-key-cache.js";
export {
  DATA_KEY_LENGTH,
  type GenerateEnvelopeDataKeyOptions,
  generateEnvelopeDataKey,
  type OpenEnvelopeDataKeyOptions,
  type OpenedDataKey,
  openEnvelopeDataKey,
} from "./data-keys.js";
export {
  AUTHENTICATION_FAILED_MESSAGE,
  authenticationFailed,
  malformed,
  SealkitError,
  type SealkitErrorCode,
} from "./errors.js";
export {
  type BodyLayout,
  bodyLayout,
  encryptedBodyLength,
  FINAL_FRAME_OVERHEAD,
  FIRST_FRAME_INDEX,
  FRAME_FINAL,
  FRAME_REGULAR,
  frameAad,
  frameNonce,
  MAX_FRAME_INDEX,
  REGULAR_FRAME_OVERHEAD,
} from "./frames.js";
export {
  COMMITMENT_LENGTH,
  checkFrameSize,
  DEFAULT_FRAME_SIZE,
  DEFAULT_MAX_ENCRYPTED_DATA_KEYS,
  type EnvelopeHeader,
  encodeAuthenticatedHeader,
  encodeEncryptedDataKeys,
  encodeHeader,
  FORMAT_VERSION,
  HEADER_TAG_LENGTH,
  type HeaderFields,
  type HeaderParseResult,
  headerAad,
  MAGIC,
  MAX_FRAME_SIZE,
  MAX_HEADER_BYTES,
  MESSAGE_ID_LENGTH,
  MIN_FRAME_SIZE,
  type ParseHeaderOptions,
  parseHeader,
  replaceEncryptedDataKeys,
  tryParseHeader,
} from "./header.js";
export {
  COMMITMENT_INFO,
  CONTENT_KEY_INFO,
  deriveMessageKeys,
  keyScheduleInfo,
  type MessageKeys,
} from "./key-schedule.js";
export {
  RAW_PROVIDER_ID,
  RAW_UNWRAP_FAILED_MESSAGE,
  RAW_WRAP_LABEL,
  RAW_WRAP_NONCE_LENGTH,
  RAW_WRAPPED_KEY_LENGTH,
  type RawKeyProviderOptions,
  rawKeyProvider,
  rawWrapAad,
} from "./raw-provider.js";
export { type ReadAtMostOptions, readAtMost } from "./read-stream.js";
export { type RewrapOptions, type RewrapResult, rewrapEnvelopeHeader } from "./rewrap.js";
export {
  AES_256_GCM,
  DEFAULT_SUITE,
  SUITES,
  type Suite,
  type SuiteName,
  suiteById,
  suiteByName,
  XCHACHA20_POLY1305,
} from "./suites.js";
export type {
  DataKey,
  EncryptedDataKey,
  EncryptionContext,
  GenerateDataKeyRequest,
  KeyProvider,
  KeyWrapper,
  ProviderCallOptions,
} from "./types.js";
