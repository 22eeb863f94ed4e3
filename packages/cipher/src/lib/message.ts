// Starting and opening one message: options, data key, key schedule, commitment and header tag. Shared by the
// one-shot, streaming and range APIs so that all of them check the same things in the same order.

import {
  aint,
  aobject,
  apairs,
  authenticationFailed,
  checkFrameSize,
  contextContains,
  DEFAULT_FRAME_SIZE,
  DEFAULT_MAX_ENCRYPTED_DATA_KEYS,
  type EncryptionContext,
  type EnvelopeHeader,
  encodeAuthenticatedHeader,
  encodeHeader,
  equalBytes,
  generateEnvelopeDataKey,
  headerAad,
  type KeyProvider,
  MESSAGE_ID_LENGTH,
  openEnvelopeDataKey,
  randomBytes,
  SealkitError,
  type Suite,
  type SuiteName,
  suiteByName,
  wipe,
} from "@sealkit/core";
import { type ContentCipher, createContentCipher } from "./content-cipher.js";
import { deriveMessageKeys } from "./key-schedule.js";

/** Options of every encryption API. */
export interface EncryptOptions {
  /** Key providers: the first generates the data key, each other one adds a recipient. At least one. */
  readonly providers: readonly KeyProvider[];
  /** Non-secret pairs bound to the envelope and passed to the providers. Default `{}`. */
  readonly context?: EncryptionContext;
  /** The suite. Default `"XCHACHA20_POLY1305"`. */
  readonly suite?: SuiteName;
  /** Plaintext bytes per frame, 64 to 4 MiB. Default 65,536. */
  readonly frameSize?: number;
  /**
   * Refuse to write more encrypted data keys than this (default 16, decryption's default limit), so that no
   * envelope is written that a reader with default options refuses. Raise it on both sides together.
   */
  readonly maxEncryptedDataKeys?: number;
  /** Cancels the provider calls. */
  readonly signal?: AbortSignal;
}

/** Options of every decryption API. */
export interface DecryptOptions {
  /** Key providers that may open one of the envelope's encrypted data keys. At least one. */
  readonly providers: readonly KeyProvider[];
  /** Pairs the envelope's context must contain (it may contain more); otherwise ERR_CONTEXT_MISMATCH. */
  readonly expectContext?: EncryptionContext;
  /** Refuse envelopes with more encrypted data keys than this (default 16) before asking any provider. */
  readonly maxEncryptedDataKeys?: number;
  /** Cancels the provider calls. */
  readonly signal?: AbortSignal;
}

export interface CheckedEncryptOptions {
  readonly providers: readonly KeyProvider[];
  readonly context: EncryptionContext;
  readonly suite: Suite;
  readonly frameSize: number;
  readonly maxEncryptedDataKeys: number;
  readonly signal: AbortSignal | undefined;
}

function checkProviders(providers: unknown): readonly KeyProvider[] {
  if (!Array.isArray(providers)) {
    throw new TypeError(`"providers" expected an array of KeyProvider, got ${typeof providers}`);
  }
  if (providers.length === 0) throw new RangeError(`"providers" expected at least 1 provider`);
  return providers as readonly KeyProvider[];
}

function checkSignal(signal: unknown): AbortSignal | undefined {
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    throw new TypeError(`"signal" expected an AbortSignal`);
  }
  return signal;
}

/** A signal for one provider call of a stream: it follows the caller's signal and aborts when the stream is cancelled. */
export interface StreamSignal {
  readonly signal: AbortSignal;
  /** Aborts the call (the stream was cancelled). */
  abort(reason: unknown): void;
  /** Stops following the caller's signal: call it once the provider call is over, so no listener is left behind. */
  release(): void;
}

/** A StreamSignal that follows `outer` (the caller's `signal` option) until released. */
export function streamSignal(outer: AbortSignal | undefined): StreamSignal {
  const controller = new AbortController();
  const follow = () => controller.abort(outer!.reason);
  if (outer?.aborted) controller.abort(outer.reason);
  else outer?.addEventListener("abort", follow, { once: true });
  return {
    signal: controller.signal,
    abort: (reason) => controller.abort(reason),
    release: () => outer?.removeEventListener("abort", follow),
  };
}

/**
 * Checks encryption options at the boundary.
 * @throws {TypeError} for wrong types; {RangeError} for an empty provider list or `maxEncryptedDataKeys` out of range
 * @throws {SealkitError} ERR_UNSUPPORTED_SUITE, ERR_FRAME_SIZE, ERR_TOO_MANY_ENCRYPTED_DATA_KEYS (more providers
 * than `maxEncryptedDataKeys`: each adds at least one encrypted data key)
 */
export function checkEncryptOptions(options: unknown): CheckedEncryptOptions {
  const o = aobject<EncryptOptions>(options, "options");
  const providers = checkProviders(o.providers);
  const context = apairs<EncryptionContext>(o.context ?? {}, "context");
  if (o.suite !== undefined && typeof o.suite !== "string") {
    throw new TypeError(`"suite" expected a string, got ${typeof o.suite}`);
  }
  const suite = suiteByName(o.suite ?? "XCHACHA20_POLY1305");
  if (o.frameSize !== undefined && typeof o.frameSize !== "number") {
    throw new TypeError(`"frameSize" expected a number, got ${typeof o.frameSize}`);
  }
  const frameSize = checkFrameSize(o.frameSize ?? DEFAULT_FRAME_SIZE);
  const maxEncryptedDataKeys = aint(
    o.maxEncryptedDataKeys ?? DEFAULT_MAX_ENCRYPTED_DATA_KEYS,
    "maxEncryptedDataKeys",
    1,
    0xffff,
  );
  // Each provider adds at least one encrypted data key: refused before any of them is called.
  checkEncryptedDataKeyCount(providers.length, maxEncryptedDataKeys, true);
  return { providers, context, suite, frameSize, maxEncryptedDataKeys, signal: checkSignal(o.signal) };
}

function checkEncryptedDataKeyCount(count: number, max: number, atLeast = false): void {
  if (count > max) {
    throw new SealkitError(
      "ERR_TOO_MANY_ENCRYPTED_DATA_KEYS",
      `the envelope would carry ${atLeast ? "at least " : ""}${count} encrypted data keys, more than maxEncryptedDataKeys (${max}); decryption refuses more than ${DEFAULT_MAX_ENCRYPTED_DATA_KEYS} unless its maxEncryptedDataKeys is raised too`,
    );
  }
}

export interface CheckedDecryptOptions {
  readonly providers: readonly KeyProvider[];
  readonly expectContext: EncryptionContext | undefined;
  readonly maxEncryptedDataKeys: number | undefined;
  readonly signal: AbortSignal | undefined;
}

/**
 * Checks decryption options at the boundary.
 * @throws {TypeError} for wrong types; {RangeError} for an empty provider list or `maxEncryptedDataKeys` outside
 * 1 to 65,535
 */
export function checkDecryptOptions(options: unknown): CheckedDecryptOptions {
  const o = aobject<DecryptOptions>(options, "options");
  const providers = checkProviders(o.providers);
  if (o.expectContext !== undefined) {
    apairs(o.expectContext, "expectContext");
    for (const [key, value] of Object.entries(o.expectContext)) {
      if (typeof value !== "string")
        throw new TypeError(`"expectContext" value for "${key}" must be a string`);
    }
  }
  // Checked here, not first by the header parser, so that a stream or a range read fails before any input is read.
  if (o.maxEncryptedDataKeys !== undefined) aint(o.maxEncryptedDataKeys, "maxEncryptedDataKeys", 1, 0xffff);
  return {
    providers,
    expectContext: o.expectContext,
    maxEncryptedDataKeys: o.maxEncryptedDataKeys,
    signal: checkSignal(o.signal),
  };
}

/** A new message: its encoded header and the cipher for its frames (dispose it when done). */
export interface StartedMessage {
  readonly header: Uint8Array;
  readonly cipher: ContentCipher;
}

/**
 * Generates the data key, derives the message keys, and encodes the header.
 * The data key and the content key are wiped before this returns; the cipher holds the only copy.
 */
export async function startMessage(
  options: CheckedEncryptOptions,
  plaintextLength: number | undefined,
): Promise<StartedMessage> {
  const { providers, context, suite, frameSize, maxEncryptedDataKeys, signal } = options;
  const messageId = randomBytes(MESSAGE_ID_LENGTH);
  // Encode first, so that a bad context fails before any provider is called.
  const authenticatedBytes = encodeAuthenticatedHeader({ suite, frameSize, messageId, context });
  const dataKey = await generateEnvelopeDataKey(providers, {
    context,
    suite,
    ...(plaintextLength !== undefined ? { plaintextLength } : {}),
    ...(signal ? { signal } : {}),
  });
  let cipher: ContentCipher | undefined;
  try {
    // A provider may add several encrypted data keys (one per key it wraps under).
    checkEncryptedDataKeyCount(dataKey.encryptedDataKeys.length, maxEncryptedDataKeys);
    const { contentKey, commitment } = await deriveMessageKeys(dataKey.plaintext, messageId, suite);
    try {
      cipher = await createContentCipher(suite, contentKey);
    } finally {
      wipe(contentKey);
    }
    const headerTag = await cipher.headerTag(headerAad({ authenticatedBytes, commitment }));
    const header = encodeHeader(authenticatedBytes, commitment, headerTag, dataKey.encryptedDataKeys);
    return { header, cipher };
  } catch (error) {
    cipher?.dispose();
    throw error;
  } finally {
    wipe(dataKey.plaintext);
  }
}

/**
 * Checks the caller's expected context against a parsed header.
 * @throws {SealkitError} ERR_CONTEXT_MISMATCH
 */
export function checkExpectedContext(header: EnvelopeHeader, options: CheckedDecryptOptions): void {
  if (options.expectContext && !contextContains(header.context, options.expectContext)) {
    throw new SealkitError(
      "ERR_CONTEXT_MISMATCH",
      "the envelope's encryption context does not contain the expected pairs",
    );
  }
}

/**
 * Opens a parsed header: checks the expected context, opens a data key, derives the keys, and verifies the
 * commitment and the header tag (both in constant time). Returns the cipher for the frames.
 * @throws {SealkitError} ERR_CONTEXT_MISMATCH, ERR_NO_DECRYPTABLE_KEY, ERR_AUTHENTICATION_FAILED
 */
export async function openMessage(
  header: EnvelopeHeader,
  options: CheckedDecryptOptions,
): Promise<ContentCipher> {
  checkExpectedContext(header, options);
  const { plaintext: dataKey } = await openEnvelopeDataKey(header.encryptedDataKeys, options.providers, {
    context: header.context,
    ...(options.signal ? { signal: options.signal } : {}),
  });
  let cipher: ContentCipher | undefined;
  try {
    const { contentKey, commitment } = await deriveMessageKeys(dataKey, header.messageId, header.suite);
    try {
      if (!equalBytes(commitment, header.commitment)) throw authenticationFailed();
      cipher = await createContentCipher(header.suite, contentKey);
    } finally {
      wipe(contentKey);
    }
    const tag = await cipher.headerTag(headerAad(header));
    if (!equalBytes(tag, header.headerTag)) throw authenticationFailed();
    return cipher;
  } catch (error) {
    cipher?.dispose();
    throw error;
  } finally {
    wipe(dataKey);
  }
}
