// @sealkit/cipher: envelope encryption on WebAssembly (XChaCha20-Poly1305) and Web Crypto (AES-256-GCM).

export { type Aead, aes256gcm, chacha20poly1305, xchacha20poly1305 } from "./aead.js";
export { type DecryptOptions, type DecryptResult, decrypt } from "./decrypt.js";
export { type DecryptRangeOptions, type DecryptRangeResult, decryptRange } from "./decrypt-range.js";
export { type DecryptStreamOptions, decryptStream } from "./decrypt-stream.js";
export { type EncryptOptions, encrypt } from "./encrypt.js";
export { encryptStream } from "./encrypt-stream.js";
export { deriveMessageKeys, type MessageKeys } from "./lib/key-schedule.js";
export { type ByteSource, bytesSource, type FetchSourceOptions, fetchSource } from "./sources.js";
