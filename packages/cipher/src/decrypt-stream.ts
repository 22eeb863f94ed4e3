// Streaming decryption: a TransformStream from envelope bytes to plaintext that releases each frame only after
// its tag verified, in memory bounded by a few frames.

import {
  type EnvelopeHeader,
  MAX_HEADER_BYTES,
  malformed,
  parseHeader,
  SealkitError,
  tryParseHeader,
} from "@sealkit/core";
import { ByteQueue } from "./lib/byte-queue.js";
import { checkChunk } from "./lib/check-bytes.js";
import type { ContentCipher } from "./lib/content-cipher.js";
import { frameWireLength, nextFrame, truncated } from "./lib/frame-reader.js";
import {
  checkDecryptOptions,
  checkExpectedContext,
  type DecryptOptions,
  openMessage,
  type StreamSignal,
  streamSignal,
} from "./lib/message.js";
import { OrderedEmitter } from "./lib/ordered-emitter.js";

/** Options of `decryptStream`. */
export interface DecryptStreamOptions extends DecryptOptions {
  /** Called once the header has been authenticated, before any plaintext is released. */
  readonly onHeader?: (header: EnvelopeHeader) => void;
}

/**
 * A TransformStream that decrypts an envelope written to it.
 *
 * **Caveat: a streaming decryptor releases verified frames before it has seen the end of the envelope.** Every
 * chunk it emits is authentic, but a stream cut short after some frames emits those frames and only then errors
 * (ERR_TRUNCATED, when the input ends). When partial output is unacceptable, use one-shot `decrypt`, or decrypt
 * to a temporary file and rename it only when the stream finished without error (as the Sealkit CLI does). The final
 * frame is held until the input ends and handed on only when nothing follows it (otherwise ERR_ENVELOPE_MALFORMED),
 * so once its plaintext has come out the stream ends without error.
 *
 * A writer may reuse its buffer once a write resolved (bytes held for an incomplete frame are copied). Cancelling the
 * readable side or aborting the writable side wipes the content key and the last plaintext from the WASM heap.
 *
 * @example
 * await Readable.toWeb(createReadStream("in.slkt")).pipeThrough(decryptStream({ providers })).pipeTo(Writable.toWeb(createWriteStream("out.tmp")));
 * @throws {TypeError} / {RangeError} at once for bad options. The stream errors with SealkitError
 * ERR_ENVELOPE_MALFORMED, ERR_UNSUPPORTED_VERSION, ERR_UNSUPPORTED_SUITE, ERR_FRAME_SIZE,
 * ERR_TOO_MANY_ENCRYPTED_DATA_KEYS, ERR_LIMIT_EXCEEDED, ERR_CONTEXT_MISMATCH, ERR_NO_DECRYPTABLE_KEY,
 * ERR_AUTHENTICATION_FAILED or ERR_TRUNCATED, and with TypeError for a chunk that is not a Uint8Array or is a view of
 * a SharedArrayBuffer or a detached buffer.
 */
export function decryptStream(options: DecryptStreamOptions): TransformStream<Uint8Array, Uint8Array> {
  const checked = checkDecryptOptions(options);
  const onHeader = options.onHeader;
  if (onHeader !== undefined && typeof onHeader !== "function") {
    throw new TypeError(`"onHeader" expected a function, got ${typeof onHeader}`);
  }
  const parseOptions =
    checked.maxEncryptedDataKeys !== undefined ? { maxEncryptedDataKeys: checked.maxEncryptedDataKeys } : {};
  const queue = new ByteQueue();
  let header: EnvelopeHeader | undefined;
  let needed = 1;
  let cipher: ContentCipher | undefined;
  let inFlight: OrderedEmitter<Uint8Array> | undefined;
  let index = 1;
  let done = false;
  // The final frame's plaintext (or, for AES-GCM, its opening), held until the input ends: bytes after it make the
  // envelope invalid, and a stream that hands on its final frame must then end without error.
  let held: Promise<Uint8Array> | undefined;
  // Set once the stream is cancelled or aborted: a pending header step must then dispose what it opens.
  let stopped = false;
  // While the data key is being opened: cancelling the stream aborts that provider call.
  let opening: StreamSignal | undefined;

  const release = (): void => {
    held?.then(
      (plaintext) => plaintext.fill(0),
      () => {},
    );
    held = undefined;
    inFlight?.abandon();
    cipher?.dispose();
    queue.clear();
  };
  const fail = (error: unknown): never => {
    release();
    throw error;
  };

  const pump = async (controller: TransformStreamDefaultController<Uint8Array>): Promise<void> => {
    const emit = (plaintext: Uint8Array) => {
      if (plaintext.length > 0) controller.enqueue(plaintext);
    };
    if (!header) {
      if (queue.length < needed) return;
      const bytes = queue.peek(queue.length);
      const result = tryParseHeader(bytes, parseOptions);
      if (!result.complete) {
        // Parse again only once the bytes at least doubled: the parser learns the header's length a field at a time,
        // and parsing all of it again at every field cost time quadratic in its length (20 s for a header of 2,000
        // encrypted data keys in 1-byte chunks). flush() parses what is left when the input ends first.
        needed = Math.max(result.needed, Math.min(2 * queue.length, MAX_HEADER_BYTES));
        return;
      }
      // Keep a copy of the header alone, so that it does not pin the first body chunk nor change when the writer
      // reuses its buffer (a copy by the constructor: a Node Buffer's slice() is a view).
      header = parseHeader(new Uint8Array(bytes.subarray(0, result.header.length)), parseOptions);
      queue.consume(header.length);
      checkExpectedContext(header, checked);
      opening = streamSignal(checked.signal);
      try {
        cipher = await openMessage(header, { ...checked, signal: opening.signal });
      } finally {
        opening.release();
        opening = undefined;
      }
      if (stopped) {
        cipher.dispose();
        return;
      }
      // Frames opened concurrently (AES-GCM) go out as soon as they authenticated, in order, even while the
      // writer pauses; a frame that fails errors the stream at once.
      // A frame opened but never handed on (the stream was cancelled, or an earlier frame failed) is wiped.
      inFlight = new OrderedEmitter(
        cipher.window,
        emit,
        (error) => {
          release();
          controller.error(error);
        },
        (plaintext) => plaintext.fill(0),
      );
      onHeader?.(header);
    }
    while (!done && queue.length > 0) {
      // Learn the frame's length from its first bytes, and assemble it only once all of it is here: assembling
      // the buffered part at every chunk would copy a large frame fed in small chunks quadratically often.
      const wireLength = frameWireLength(queue.peek(Math.min(queue.length, 5)), header.frameSize, index);
      if (wireLength === undefined || queue.length < wireLength) break;
      const frame = nextFrame(queue.peek(wireLength), header.frameSize, index)!;
      queue.consume(frame.wireLength);
      // AES-GCM hands out Web Crypto's own output (no copy); XChaCha20-Poly1305 opens into a new array at once.
      let pending = cipher!.openDetached?.(index, frame.final, frame.sealed);
      let plaintext: Uint8Array | undefined;
      if (!pending) {
        const out = new Uint8Array(frame.plaintextLength);
        pending = cipher!.open(index, frame.final, frame.sealed, out, 0)?.then(() => out);
        plaintext = out;
      }
      index++;
      if (frame.final) {
        done = true;
        const last = pending ?? Promise.resolve(plaintext!);
        held = last;
        // A final frame that does not authenticate errors the stream at once (as any other frame does), not when the
        // input ends; flush() or release() observes it too, so it is never an unhandled rejection.
        last.catch((error: unknown) => {
          if (held !== last) return;
          release();
          controller.error(error);
        });
      } else if (pending) await inFlight!.push(pending);
      else emit(plaintext!);
    }
    if (done && queue.length > 0) throw malformed("trailing bytes after the final frame");
  };

  // `cancel` (WHATWG Streams, 2023) runs when the readable side is cancelled or the writable side aborted. Node 20
  // calls it; TypeScript's DOM types do not list it yet, and a runtime without it simply never calls it.
  const transformer: Transformer<Uint8Array, Uint8Array> & { cancel(reason: unknown): void } = {
    async transform(chunk, controller) {
      try {
        checkChunk(chunk, "decryptStream");
        queue.push(chunk);
        await pump(controller);
        // The writer may reuse its buffer once this call resolved: keep copies of the bytes still queued.
        queue.own();
      } catch (error) {
        fail(error);
      }
    },
    async flush(controller) {
      try {
        if (!header) {
          // The input may have ended before the `needed` bytes: parse what there is, and go on if it is enough.
          needed = 0;
          await pump(controller);
        }
        if (!header) {
          // What arrived is parsed once more as a whole: pump() waits for the `needed` bytes before it parses
          // again, so a stream of "SLX" in 1-byte chunks ended as ERR_TRUNCATED where one-shot decrypt of the same
          // bytes says ERR_ENVELOPE_MALFORMED (vector 202 of envelopes-v1-rejections.json).
          parseHeader(queue.peek(queue.length), parseOptions);
          throw new SealkitError("ERR_TRUNCATED", "envelope ended inside its header: it was truncated");
        }
        await inFlight!.drain();
        if (!done) throw truncated();
        const last = await held!;
        held = undefined;
        if (last.length > 0) controller.enqueue(last);
        cipher!.dispose();
      } catch (error) {
        fail(error);
      }
    },
    // The consumer cancelled, or the writer aborted (a source that errors mid-way under pipeThrough): stop a provider
    // call still running, and wipe the content key and the plaintext left in the WASM heap, as an error or the end
    // of the envelope would.
    cancel(reason) {
      stopped = true;
      opening?.abort(reason);
      release();
    },
  };
  return new TransformStream<Uint8Array, Uint8Array>(transformer);
}
