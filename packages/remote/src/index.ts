// @sealkit/remote: server-issued data keys. A fetch handler for servers and edge, a KeyProvider for browsers.

export {
  type Authorization,
  type AuthorizeDetails,
  createDataKeyHandler,
  type DataKeyEvent,
  type DataKeyHandlerOptions,
} from "./data-key-handler.js";
export {
  type DecryptRequestBody,
  type DecryptResponseBody,
  type ErrorBody,
  type GenerateRequestBody,
  type GenerateResponseBody,
  LIMITS,
  REQUEST_HEADER,
  ROUTES,
  type WireEncryptedDataKey,
} from "./protocol.js";
export { createRateLimiter, type RateLimit } from "./rate-limiter.js";
export { type RemoteProviderOptions, remoteProvider } from "./remote-provider.js";
