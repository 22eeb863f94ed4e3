// Streaming encryption: a TransformStream from plaintext chunks to envelope bytes, in memory bounded by a
// few frames whatever the input size.

import { MAX_FRAME_INDEX, SealkitError } from "@sealkit/core";
import { ByteQueue } from "./lib/byte-queue.js";
import { checkChunk } from "./lib/check-bytes.js";
import type { ContentCipher } from "./lib/content-cipher.js";
import { framePrefix } from "./lib/frame-reader.js";
import {
  checkEncryptOptions,
  type EncryptOptions,
  type StreamSignal,
  startMessage,
  streamSignal,
} from "./lib/message.js";
import { OrderedEmitter } from "./lib/ordered-emitter.js";

/** Encrypts one frame into a new array holding its whole wire form (at once for XChaCha, later for AES). */
function sealFrame(
  cipher: ContentCipher,
  index: number,
  final: boolean,
  plaintext: Uint8Array,
): Uint8Array | Promise<Uint8Array> {
  if (index > MAX_FRAME_INDEX) {
    throw new SealkitError("ERR_LIMIT_EXCEEDED", "plaintext needs more than 2^32 - 1 frames");
  }
  const prefix = framePrefix(final, plaintext.length);
  const out = new Uint8Array(prefix.length + plaintext.length + 16);
  out.set(prefix, 0);
  const pending = cipher.seal(index, final, plaintext, out, prefix.length);
  return pending ? pending.then(() => out) : out;
}

/**
 * A TransformStream that encrypts the bytes written to it into one envelope: the header first, then a frame
 * each time more than a frame of plaintext is buffered. One frame is always held back until the input ends,
 * because the last frame is written as a final frame even when it is full. With AES-256-GCM several frames
 * are encrypted at once. The data key is requested from the providers when the stream starts. A writer may reuse
 * its buffer once a write resolved: bytes held back for the next frame are copied, and
 * those copies are zeroed once sealed. Cancelling the readable side or
 * aborting the writable side wipes the content key.
 *
 * @example
 * await Readable.toWeb(createReadStream("in")).pipeThrough(encryptStream({ providers })).pipeTo(Writable.toWeb(createWriteStream("out.slkt")));
 * @throws {TypeError} / {RangeError} at once for bad options; {SealkitError} ERR_UNSUPPORTED_SUITE,
 * ERR_FRAME_SIZE at once. The stream errors with TypeError for a chunk that is not a Uint8Array (or is a view of a
 * SharedArrayBuffer or a detached buffer), and with the
 * providers' SealkitErrors or ERR_LIMIT_EXCEEDED.
 */
export function encryptStream(options: EncryptOptions): TransformStream<Uint8Array, Uint8Array> {
  const checked = checkEncryptOptions(options);
  const { frameSize } = checked;
  const queue = new ByteQueue();
  let cipher: ContentCipher | undefined;
  let inFlight: OrderedEmitter<Uint8Array> | undefined;
  let index = 1;
  // Set once the stream is cancelled or aborted: a pending start must then dispose the cipher it made.
  let stopped = false;
  // While the data key is being generated: cancelling the stream aborts that provider call.
  let starting: StreamSignal | undefined;

  const release = (): void => {
    inFlight?.abandon();
    cipher?.dispose();
    queue.clear();
  };
  const fail = (error: unknown): never => {
    release();
    throw error;
  };

  // `cancel` (WHATWG Streams, 2023) runs when the readable side is cancelled or the writable side aborted. Node 20
  // calls it; TypeScript's DOM types do not list it yet, and a runtime without it simply never calls it.
  const transformer: Transformer<Uint8Array, Uint8Array> & { cancel(reason: unknown): void } = {
    async start(controller) {
      try {
        starting = streamSignal(checked.signal);
        let started: Awaited<ReturnType<typeof startMessage>>;
        try {
          started = await startMessage({ ...checked, signal: starting.signal }, undefined);
        } finally {
          starting.release();
          starting = undefined;
        }
        if (stopped) {
          started.cipher.dispose();
          return;
        }
        cipher = started.cipher;
        // Frames sealed concurrently (AES-GCM) go out as soon as each is done, in order, even while the writer
        // pauses.
        inFlight = new OrderedEmitter(
          cipher.window,
          (frame) => controller.enqueue(frame),
          (error) => {
            release();
            controller.error(error);
          },
        );
        controller.enqueue(started.header);
      } catch (error) {
        fail(error);
      }
    },
    async transform(chunk, controller) {
      try {
        checkChunk(chunk, "encryptStream");
        queue.push(chunk);
        const emit = (frame: Uint8Array) => controller.enqueue(frame);
        // Strictly more than a frame: the last full frame may turn out to be the final one.
        while (queue.length > frameSize) {
          const frame = queue.takeAndWipe(frameSize, (bytes) => sealFrame(cipher!, index++, false, bytes));
          if (frame instanceof Uint8Array) emit(frame);
          else await inFlight!.push(frame);
        }
        // The writer may reuse its buffer once this call resolved: keep copies of the bytes still queued.
        queue.own();
      } catch (error) {
        fail(error);
      }
    },
    async flush(controller) {
      try {
        const emit = (frame: Uint8Array) => controller.enqueue(frame);
        const frame = queue.takeAndWipe(queue.length, (bytes) => sealFrame(cipher!, index++, true, bytes));
        if (frame instanceof Uint8Array) emit(frame);
        else await inFlight!.push(frame);
        await inFlight!.drain();
        cipher!.dispose();
      } catch (error) {
        fail(error);
      }
    },
    // The consumer cancelled, or the writer aborted (a source that errors mid-way under pipeThrough): stop a provider
    // call still running, and wipe the content key and the buffered plaintext, as an error or the end of the input
    // would.
    cancel(reason) {
      stopped = true;
      starting?.abort(reason);
      release();
    },
  };
  return new TransformStream<Uint8Array, Uint8Array>(transformer);
}
