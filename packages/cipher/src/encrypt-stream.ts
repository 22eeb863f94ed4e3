// Streaming encryption: a TransformStream from plaintext chunks to envelope bytes, in memory bounded by a
// few frames whatever the input size.

import { MAX_FRAME_INDEX, SealkitError } from "@sealkit/core";
import { ByteQueue } from "./lib/byte-queue.js";
import { type ContentCipher, InOrder } from "./lib/content-cipher.js";
import { framePrefix } from "./lib/frame-reader.js";
import { checkEncryptOptions, type EncryptOptions, startMessage } from "./lib/message.js";

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
 * are encrypted at once. The data key is requested from the providers when the stream starts.
 *
 * @example
 * await Readable.toWeb(createReadStream("in")).pipeThrough(encryptStream({ providers })).pipeTo(Writable.toWeb(createWriteStream("out.slkt")));
 * @throws {TypeError} / {RangeError} at once for bad options; {SealkitError} ERR_UNSUPPORTED_SUITE,
 * ERR_FRAME_SIZE at once. The stream errors with TypeError for a chunk that is not a Uint8Array, and with the
 * providers' SealkitErrors or ERR_LIMIT_EXCEEDED.
 */
export function encryptStream(options: EncryptOptions): TransformStream<Uint8Array, Uint8Array> {
  const checked = checkEncryptOptions(options);
  const { frameSize } = checked;
  const queue = new ByteQueue();
  let cipher: ContentCipher | undefined;
  let inFlight: InOrder<Uint8Array> | undefined;
  let index = 1;

  const fail = (error: unknown): never => {
    inFlight?.abandon();
    cipher?.dispose();
    throw error;
  };

  return new TransformStream<Uint8Array, Uint8Array>({
    async start(controller) {
      try {
        const started = await startMessage(checked, undefined);
        cipher = started.cipher;
        inFlight = new InOrder(cipher.window);
        controller.enqueue(started.header);
      } catch (error) {
        fail(error);
      }
    },
    async transform(chunk, controller) {
      try {
        if (!(chunk instanceof Uint8Array)) {
          throw new TypeError(`encryptStream expected Uint8Array chunks, got ${typeof chunk}`);
        }
        queue.push(chunk);
        const emit = (frame: Uint8Array) => controller.enqueue(frame);
        // Strictly more than a frame: the last full frame may turn out to be the final one.
        while (queue.length > frameSize) {
          const frame = sealFrame(cipher!, index++, false, queue.take(frameSize));
          if (frame instanceof Uint8Array) emit(frame);
          else await inFlight!.push(frame, emit);
        }
      } catch (error) {
        fail(error);
      }
    },
    async flush(controller) {
      try {
        const emit = (frame: Uint8Array) => controller.enqueue(frame);
        const frame = sealFrame(cipher!, index++, true, queue.take(queue.length));
        if (frame instanceof Uint8Array) emit(frame);
        else await inFlight!.push(frame, emit);
        await inFlight!.drain(emit);
        cipher!.dispose();
      } catch (error) {
        fail(error);
      }
    },
  });
}
