// The browser half: a KeyProvider that asks the application server for data keys, so @sealkit/cipher's
// encrypt, decrypt and streams work in a page that never holds a master key or KMS credentials.

import {
  aint,
  type DataKey,
  DEFAULT_MAX_ENCRYPTED_DATA_KEYS,
  type EncryptedDataKey,
  fromBase64,
  type KeyProvider,
  readAtMost,
  SealkitError,
  type SealkitErrorCode,
  untilAborted,
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
  /**
   * Extra headers on every request, e.g. an Authorization bearer token. A function is called per request, within
   * `timeoutMs` and the call's signal; when it throws, the call fails with ERR_PROVIDER_UNAVAILABLE (its error as
   * `cause`), or with its error itself when that is a SealkitError. `Content-Type` and `X-Sealkit-Request` are
   * always the provider's own, in whatever case the caller spells them.
   */
  readonly headers?:
    | Record<string, string>
    | (() => Record<string, string> | Promise<Record<string, string>>);
  /** Cookie policy; default "same-origin". */
  readonly credentials?: RequestCredentials;
  /**
   * Milliseconds a call may take, answer body included, before it fails with ERR_PROVIDER_UNAVAILABLE.
   * Default 30,000.
   */
  readonly timeoutMs?: number;
  /**
   * Most encrypted data keys an issued key may come with (1 to 65,535; default 16, what decrypt accepts by
   * default): an envelope with more would be refused by every decrypt that keeps its default. Raise it only with
   * encrypt's and decrypt's `maxEncryptedDataKeys`.
   */
  readonly maxEncryptedDataKeys?: number;
}

/** The largest answer read from the server; a data-key answer is a few kilobytes. */
const MAX_RESPONSE_BYTES = 1 << 20;
/** How much of a server's error message is repeated in the error thrown here. */
const MAX_MESSAGE_LENGTH = 200;

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
  "ERR_LIMIT_EXCEEDED",
  "ERR_CONTEXT_MISMATCH",
]);

/**
 * A KeyProvider backed by a server running `createDataKeyHandler`. Wrap it in core's `cachingProvider` to reuse
 * an issued data key for several envelopes within limits.
 *
 * It cannot wrap an existing data key for itself (the server only issues fresh ones), so put it first in
 * `providers`.
 *
 * Its calls never follow redirects (a data key comes from the configured endpoint or not at all), read at most
 * 1 MiB of an answer, and give up after `timeoutMs`. They throw SealkitError: the code of the server's JSON error
 * body when it is one of Sealkit's (ERR_ACCESS_DENIED, ERR_RATE_LIMITED, ERR_INVALID_CIPHERTEXT, ...), else
 * ERR_PROVIDER_UNAVAILABLE (unreachable, timed out, redirected, an answer that is not the protocol's, a data key
 * of the wrong length, encrypted data keys this provider could not open), ERR_TOO_MANY_ENCRYPTED_DATA_KEYS (more
 * issued than `maxEncryptedDataKeys`); an aborted `signal` rejects with its
 * reason; `encryptDataKey` throws TypeError.
 *
 * @throws {TypeError} when `endpoint` or `providerId` is not a non-empty string, or `keyIds` not an array of them
 * @throws {TypeError} / {RangeError} when `timeoutMs` is not an integer from 1 to 2^31 - 1, or
 *   `maxEncryptedDataKeys` not one from 1 to 65,535
 */
export function remoteProvider(options: RemoteProviderOptions): KeyProvider {
  const { providerId = "aws-kms", credentials = "same-origin" } = options;
  const givenKeyIds: unknown = options.keyIds;
  if (typeof options.endpoint !== "string" || options.endpoint.length === 0) {
    throw new TypeError(`"endpoint" expected a URL string`);
  }
  if (typeof providerId !== "string" || providerId.length === 0) {
    throw new TypeError(`"providerId" expected a non-empty string`);
  }
  // A string would pass as an array (both have includes) and match key ids by substring.
  if (
    givenKeyIds !== undefined &&
    (!Array.isArray(givenKeyIds) || givenKeyIds.some((id) => typeof id !== "string" || id.length === 0))
  ) {
    throw new TypeError(`"keyIds" expected an array of non-empty key id strings`);
  }
  // A copy, as kms-aws and the AWS Encryption SDK take theirs: a key id pushed later is not trusted.
  const keyIds = givenKeyIds === undefined ? undefined : [...(givenKeyIds as string[])];
  const timeoutMs = aint(options.timeoutMs ?? 30_000, "timeoutMs", 1, 2 ** 31 - 1);
  const maxEncryptedDataKeys = aint(
    options.maxEncryptedDataKeys ?? DEFAULT_MAX_ENCRYPTED_DATA_KEYS,
    "maxEncryptedDataKeys",
    1,
    0xffff,
  );
  const endpoint = options.endpoint.replace(/\/+$/, "");
  const doFetch = options.fetch ?? ((input: RequestInfo | URL, init?: RequestInit) => fetch(input, init));

  /**
   * Reads the answer's bytes up to MAX_RESPONSE_BYTES; an abort of `signal` cancels the read. The chunks are wiped:
   * they hold the base64 of a data key.
   */
  const readBody = async (response: Response, signal: AbortSignal): Promise<Uint8Array> => {
    if (!response.body) return new Uint8Array(0);
    const bytes = await readAtMost(response.body, MAX_RESPONSE_BYTES, { signal, wipeChunks: true });
    if (bytes === undefined) {
      throw new SealkitError(
        "ERR_PROVIDER_UNAVAILABLE",
        `data-key server answered with a body larger than ${MAX_RESPONSE_BYTES} bytes`,
      );
    }
    return bytes;
  };

  /** The extra headers, from `options.headers()` within the call's timeout and abort when it is a function. */
  const headersFor = (signal: AbortSignal): Promise<Record<string, string>> => {
    const headers = options.headers;
    if (typeof headers !== "function") return Promise.resolve(headers ?? {});
    return untilAborted(Promise.resolve().then(headers), signal);
  };

  const call = async (
    route: string,
    body: unknown,
    signal?: AbortSignal,
  ): Promise<Record<string, unknown>> => {
    signal?.throwIfAborted();
    // One signal for the request and its body: the caller's abort, or the timeout.
    const controller = new AbortController();
    const timedOut = new SealkitError(
      "ERR_PROVIDER_UNAVAILABLE",
      `data-key server at ${endpoint} did not answer within ${timeoutMs} ms`,
    );
    const timer = setTimeout(() => controller.abort(timedOut), timeoutMs);
    const onAbort = () => controller.abort(signal!.reason);
    signal?.addEventListener("abort", onAbort, { once: true });
    /** The error to throw for `error`: the caller's abort reason, the timeout, or `fallback`. */
    const failed = (error: unknown, fallback: () => SealkitError): unknown => {
      if (signal?.aborted) return signal.reason;
      if (controller.signal.reason === timedOut) return timedOut;
      return SealkitError.isInstance(error) ? error : fallback();
    };
    try {
      let extra: Record<string, string>;
      try {
        extra = await headersFor(controller.signal);
      } catch (error) {
        throw failed(
          error,
          () =>
            new SealkitError("ERR_PROVIDER_UNAVAILABLE", "the remoteProvider headers() option failed", {
              cause: error,
            }),
        );
      }
      let response: Response;
      try {
        // Set, not spread beside the caller's: names are case-insensitive, and a caller's "Content-Type" next to
        // "content-type" was sent twice and joined ("application/json, application/json"), which the handler refuses.
        // Passed on as a plain record (lower-case names), which a fetch wrapper can spread.
        const merged = new Headers(extra);
        merged.set("content-type", "application/json");
        merged.set(REQUEST_HEADER, "1");
        const headers: Record<string, string> = Object.fromEntries(merged);
        response = await doFetch(`${endpoint}${route}`, {
          method: "POST",
          credentials,
          // A redirected request would carry the body (and custom headers) elsewhere, and its answer would be a
          // data key from a server nobody configured. "manual", refused below, not "error": workerd throws for
          // "error" ("does not make sense at the edge"), which failed every call there.
          redirect: "manual",
          headers,
          body: JSON.stringify(body),
          signal: controller.signal,
        });
      } catch (error) {
        throw failed(
          error,
          () =>
            new SealkitError("ERR_PROVIDER_UNAVAILABLE", `data-key server unreachable at ${endpoint}`, {
              cause: error,
            }),
        );
      }
      // A 3xx as it is (Node, workerd, Deno, Bun) or an opaque redirect (browsers): never followed, never read.
      if (response.type === "opaqueredirect" || (response.status >= 300 && response.status < 400)) {
        await response.body?.cancel().catch(() => {});
        throw new SealkitError(
          "ERR_PROVIDER_UNAVAILABLE",
          `data-key server at ${endpoint} answered with a redirect, which is not followed`,
        );
      }
      let text: string;
      let bytes: Uint8Array | undefined;
      try {
        bytes = await readBody(response, controller.signal);
        text = new TextDecoder().decode(bytes);
      } catch (error) {
        throw failed(
          error,
          () =>
            new SealkitError(
              "ERR_PROVIDER_UNAVAILABLE",
              `data-key server answered ${response.status} with a body that could not be read`,
              { cause: error },
            ),
        );
      } finally {
        wipe(bytes);
      }
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch {
        // No cause: V8's SyntaxError quotes the text around the fault ("...laintext\":q83vEjRWeJ\"..."), which
        // in a data-key answer is part of a key, and errors get logged with their causes.
        throw new SealkitError(
          "ERR_PROVIDER_UNAVAILABLE",
          `data-key server answered ${response.status} without JSON`,
        );
      }
      if (!response.ok) {
        const error = (json as { error?: { code?: unknown; message?: unknown } } | null)?.error;
        const code = KNOWN_CODES.has(error?.code as SealkitErrorCode)
          ? (error!.code as SealkitErrorCode)
          : "ERR_PROVIDER_UNAVAILABLE";
        const reason =
          typeof error?.message === "string" && error.message.length > 0
            ? error.message.slice(0, MAX_MESSAGE_LENGTH)
            : "no reason";
        throw new SealkitError(code, `data-key server refused (${response.status}): ${reason}`);
      }
      if (typeof json !== "object" || json === null || Array.isArray(json)) {
        throw new SealkitError("ERR_PROVIDER_UNAVAILABLE", "data-key server answered with a malformed body");
      }
      return json as Record<string, unknown>;
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
    }
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

  function canDecrypt(edk: EncryptedDataKey): boolean {
    return edk.providerId === providerId && (keyIds === undefined || keyIds.includes(edk.keyId));
  }

  return {
    providerId,

    async generateDataKey({ length, context, suite, signal }): Promise<DataKey> {
      const body: GenerateRequestBody = { context: { ...context }, length, ...(suite ? { suite } : {}) };
      const json = await call(ROUTES.generate, body, signal);
      const plaintext = readKey(json.plaintext, length);
      try {
        const list = json.encryptedDataKeys;
        if (!Array.isArray(list) || list.length === 0) throw new InvalidBody("no encrypted data keys");
        // As the AWS Encryption SDK's encrypt: more than decrypt will accept makes an envelope nobody opens.
        if (list.length > maxEncryptedDataKeys) {
          throw new SealkitError(
            "ERR_TOO_MANY_ENCRYPTED_DATA_KEYS",
            `data-key server issued ${list.length} encrypted data keys; at most ${maxEncryptedDataKeys} are ` +
              `allowed (see "maxEncryptedDataKeys")`,
          );
        }
        const encryptedDataKeys: EncryptedDataKey[] = list.map(readEncryptedDataKey);
        // An envelope sealed under keys this provider cannot open could never be read back through it (a
        // providerId or keyIds that do not match the server's provider): fail now, not at the first decrypt.
        if (!encryptedDataKeys.some(canDecrypt)) {
          const issued = encryptedDataKeys.map((k) => `${k.providerId}/${k.keyId}`).join(", ");
          throw new SealkitError(
            "ERR_PROVIDER_UNAVAILABLE",
            `data-key server issued keys this provider cannot open (${issued.slice(0, MAX_MESSAGE_LENGTH)}); ` +
              `check its "providerId" ("${providerId}") and "keyIds"`,
          );
        }
        return { plaintext, encryptedDataKeys };
      } catch (error) {
        wipe(plaintext);
        if (SealkitError.isInstance(error)) throw error;
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

    canDecrypt,
  };
}
