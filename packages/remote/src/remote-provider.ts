// The browser half: a KeyProvider that asks the application server for data keys, so @sealkit/cipher's
// encrypt, decrypt and streams work in a page that never holds a master key or KMS credentials.

import {
  type DataKey,
  type EncryptedDataKey,
  fromBase64,
  type KeyProvider,
  SealkitError,
  type SealkitErrorCode,
  wipe,
} from "@sealkit/core";
import {
  type DecryptRequestBody,
  type GenerateRequestBody,
  InvalidBody,
  REQUEST_HEADER,
  ROUTES,
  readEncryptedDataKey,
  writeEncryptedDataKey,
} from "./protocol.js";

export interface RemoteProviderOptions {
  /** The handler's base URL, e.g. "/api/keys" or "https://app.example/api/keys". */
  readonly endpoint: string;
  /** The provider id of the server's KMS provider, written in the envelopes it issues. Default "aws-kms". */
  readonly providerId?: string;
  /** Only these key ids are sent to the server for decryption; default any key of `providerId`. */
  readonly keyIds?: readonly string[];
  /** fetch to use (default the global one). */
  readonly fetch?: typeof fetch;
  /** Extra headers on every request, e.g. an Authorization bearer token. */
  readonly headers?:
    | Record<string, string>
    | (() => Record<string, string> | Promise<Record<string, string>>);
  /** Cookie policy; default "same-origin". */
  readonly credentials?: RequestCredentials;
}

const KNOWN_CODES = new Set<SealkitErrorCode>([
  "ERR_ACCESS_DENIED",
  "ERR_KEY_DISABLED",
  "ERR_KEY_NOT_FOUND",
  "ERR_THROTTLED",
  "ERR_INVALID_CIPHERTEXT",
  "ERR_PROVIDER_UNAVAILABLE",
  "ERR_REQUEST_INVALID",
  "ERR_RATE_LIMITED",
  "ERR_UNSUPPORTED_SUITE",
]);

/**
 * A KeyProvider backed by a server running `createDataKeyHandler`. Wrap it in core's `cachingProvider` to reuse
 * an issued data key for several envelopes within limits.
 *
 * It cannot wrap an existing data key for itself (the server only issues fresh ones), so put it first in
 * `providers`.
 */
export function remoteProvider(options: RemoteProviderOptions): KeyProvider {
  const { providerId = "aws-kms", keyIds, credentials = "same-origin" } = options;
  if (typeof options.endpoint !== "string" || options.endpoint.length === 0) {
    throw new TypeError(`"endpoint" expected a URL string`);
  }
  const endpoint = options.endpoint.replace(/\/+$/, "");
  const doFetch = options.fetch ?? ((input: RequestInfo | URL, init?: RequestInit) => fetch(input, init));

  const call = async (
    route: string,
    body: unknown,
    signal?: AbortSignal,
  ): Promise<Record<string, unknown>> => {
    const extra = typeof options.headers === "function" ? await options.headers() : (options.headers ?? {});
    let response: Response;
    try {
      response = await doFetch(`${endpoint}${route}`, {
        method: "POST",
        credentials,
        headers: { ...extra, "content-type": "application/json", [REQUEST_HEADER]: "1" },
        body: JSON.stringify(body),
        ...(signal ? { signal } : {}),
      });
    } catch (error) {
      throw new SealkitError("ERR_PROVIDER_UNAVAILABLE", `data-key server unreachable at ${endpoint}`, {
        cause: error,
      });
    }
    let json: unknown;
    try {
      json = await response.json();
    } catch (error) {
      throw new SealkitError(
        "ERR_PROVIDER_UNAVAILABLE",
        `data-key server answered ${response.status} without JSON`,
        {
          cause: error,
        },
      );
    }
    if (!response.ok) {
      const error = (json as { error?: { code?: string; message?: string } })?.error;
      const code = KNOWN_CODES.has(error?.code as SealkitErrorCode)
        ? (error!.code as SealkitErrorCode)
        : "ERR_PROVIDER_UNAVAILABLE";
      throw new SealkitError(
        code,
        `data-key server refused (${response.status}): ${error?.message ?? "no reason"}`,
      );
    }
    if (typeof json !== "object" || json === null) {
      throw new SealkitError("ERR_PROVIDER_UNAVAILABLE", "data-key server answered with a malformed body");
    }
    return json as Record<string, unknown>;
  };

  const readKey = (value: unknown, length?: number): Uint8Array => {
    const bytes = typeof value === "string" ? fromBase64(value) : undefined;
    if (!bytes || bytes.length === 0 || (length !== undefined && bytes.length !== length)) {
      wipe(bytes);
      throw new SealkitError(
        "ERR_PROVIDER_UNAVAILABLE",
        "data-key server answered with a malformed data key",
      );
    }
    return bytes;
  };

  return {
    providerId,

    async generateDataKey({ length, context, suite, signal }): Promise<DataKey> {
      const body: GenerateRequestBody = { context: { ...context }, length, ...(suite ? { suite } : {}) };
      const json = await call(ROUTES.generate, body, signal);
      const plaintext = readKey(json.plaintext, length);
      try {
        const list = json.encryptedDataKeys;
        if (!Array.isArray(list) || list.length === 0) throw new InvalidBody("no encrypted data keys");
        const encryptedDataKeys: EncryptedDataKey[] = list.map(readEncryptedDataKey);
        return { plaintext, encryptedDataKeys };
      } catch (error) {
        wipe(plaintext);
        throw new SealkitError(
          "ERR_PROVIDER_UNAVAILABLE",
          "data-key server answered with malformed encrypted data keys",
          {
            cause: error,
          },
        );
      }
    },

    async encryptDataKey(): Promise<readonly EncryptedDataKey[]> {
      throw new TypeError("remoteProvider only issues fresh data keys: put it first in `providers`");
    },

    async decryptDataKey({ encryptedDataKey, context, signal }): Promise<Uint8Array> {
      const body: DecryptRequestBody = {
        context: { ...context },
        encryptedDataKey: writeEncryptedDataKey(encryptedDataKey),
      };
      const json = await call(ROUTES.decrypt, body, signal);
      return readKey(json.plaintext);
    },

    canDecrypt(edk) {
      return edk.providerId === providerId && (keyIds === undefined || keyIds.includes(edk.keyId));
    },
  };
}
