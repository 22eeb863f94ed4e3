// Random-access decryption: the plaintext bytes [start, end) of an envelope, reading and authenticating only
// the frames that hold them.

import {
  abytes,
  aint,
  aobject,
  bodyLayout,
  type EnvelopeHeader,
  FINAL_FRAME_OVERHEAD,
  FRAME_FINAL,
  FRAME_REGULAR,
  MAX_HEADER_BYTES,
  malformed,
  SealkitError,
  tryParseHeader,
} from "@sealkit/core";
import { InOrder } from "./lib/content-cipher.js";
import {
  checkDecryptOptions,
  checkExpectedContext,
  type DecryptOptions,
  openMessage,
} from "./lib/message.js";
import type { ByteSource } from "./sources.js";

/** Options of `decryptRange`. */
export interface DecryptRangeOptions extends DecryptOptions {
  /** First plaintext byte (inclusive). */
  readonly start: number;
  /** End of the range (exclusive), at most the plaintext length. */
  readonly end: number;
  /**
   * Also read and authenticate the final frame, so that the plaintext length (which is computed from the
   * envelope's size) is known to be authentic even when the range does not reach the end. Default false.
   */
  readonly verifyLength?: boolean;
}

/** What `decryptRange` returns. */
export interface DecryptRangeResult {
  /** Exactly the plaintext bytes [start, end). */
  readonly plaintext: Uint8Array;
  readonly header: EnvelopeHeader;
  /** The whole message's plaintext length, from the envelope's size (authenticated only as documented). */
  readonly plaintextLength: number;
}

/** First read: enough for most headers in one request. */
const HEADER_PROBE = 4096;

async function readExactly(source: ByteSource, offset: number, length: number): Promise<Uint8Array> {
  const bytes = await source.read(offset, length);
  if (!(bytes instanceof Uint8Array)) throw new TypeError(`"source.read" must return a Uint8Array`);
  abytes(bytes, "source.read");
  if (bytes.length !== length) {
    throw new SealkitError(
      "ERR_TRUNCATED",
      `source returned ${bytes.length} bytes at ${offset}; expected ${length}`,
    );
  }
  return bytes;
}

/**
 * Decrypts the plaintext bytes [start, end) of an envelope read through `source`. It reads the header (a first
 * read of 4 KiB, then more if the header is longer), opens the data key and verifies the commitment and the
 * header tag, computes from the envelope's size which frames hold the range, reads those frames in one read
 * call, authenticates each, and returns exactly the requested bytes.
 *
 * What is authenticated: the header and every frame it returns bytes from. The total length (and so the absence
 * of truncation) is authenticated only when the range includes the final frame, or with `verifyLength: true`,
 * which also reads and authenticates the final frame.
 *
 * @example
 * const source = await fetchSource("https://cdn.example.com/video.slkt");
 * const { plaintext } = await decryptRange(source, { start: 1_000_000, end: 2_000_000, providers });
 * @throws {TypeError} for a bad source or option types, and when `source.read` returns anything but a Uint8Array
 * over an (attached, unshared) ArrayBuffer
 * @throws {RangeError} when `maxEncryptedDataKeys` is outside 1 to 65,535 (before any read), or start/end are not
 * integers with 0 <= start <= end <= plaintext length. The length is judged only after the header and, for an `end`
 * past it, the final frame authenticated: a forged header or a truncated envelope is a SealkitError, not a RangeError.
 * @throws {SealkitError} as `decrypt`, plus ERR_TRUNCATED when the source is shorter than its header or returns
 * fewer bytes than asked, and the source's own errors
 */
export async function decryptRange(
  source: ByteSource,
  options: DecryptRangeOptions,
): Promise<DecryptRangeResult> {
  aobject(source, "source");
  if (typeof source.read !== "function") throw new TypeError(`"source.read" expected a function`);
  aint(source.size, "source.size", 0, Number.MAX_SAFE_INTEGER);
  const checked = checkDecryptOptions(options);
  aint(options.start, "start", 0, Number.MAX_SAFE_INTEGER);
  aint(options.end, "end", 0, Number.MAX_SAFE_INTEGER);
  if (options.verifyLength !== undefined && typeof options.verifyLength !== "boolean") {
    throw new TypeError(`"verifyLength" expected a boolean, got ${typeof options.verifyLength}`);
  }
  const { start, end } = options;
  if (start > end) throw new RangeError(`"start" (${start}) must not exceed "end" (${end})`);

  // The header: one read, more if tryParseHeader asks for more. Each further read at least doubles what was read
  // (up to the header limit): tryParseHeader learns the header's length one field at a time, and a read per field
  // would let an envelope of many encrypted data keys cost dozens of round trips over HTTP.
  const parseOptions =
    checked.maxEncryptedDataKeys !== undefined ? { maxEncryptedDataKeys: checked.maxEncryptedDataKeys } : {};
  let bytes = await readExactly(source, 0, Math.min(HEADER_PROBE, source.size));
  let parsed = tryParseHeader(bytes, parseOptions);
  while (!parsed.complete) {
    if (parsed.needed > source.size) {
      throw new SealkitError("ERR_TRUNCATED", "envelope ends inside its header: it was truncated");
    }
    const want = Math.min(source.size, Math.max(parsed.needed, Math.min(2 * bytes.length, MAX_HEADER_BYTES)));
    const more = await readExactly(source, bytes.length, want - bytes.length);
    const joined = new Uint8Array(want);
    joined.set(bytes);
    joined.set(more, bytes.length);
    bytes = joined;
    parsed = tryParseHeader(bytes, parseOptions);
  }
  const header = parsed.header;
  checkExpectedContext(header, checked);
  const layout = bodyLayout(source.size - header.length, header.frameSize);

  // The header (frame size included) is authenticated before the range is checked against the length it
  // implies: a forged frame size must fail as ERR_AUTHENTICATION_FAILED, not pass for the caller's mistake.
  const cipher = await openMessage(header, checked);
  try {
    // The plaintext length comes from the envelope's size, which only the final frame authenticates. A range past
    // it is the caller's mistake only when that frame is authentic: a truncated (or extended) envelope must fail
    // with its envelope code, not pass for a RangeError. So past the end, only the final frame is read and opened.
    const pastEnd = end > layout.plaintextLength;
    const [from, to] = pastEnd ? [layout.plaintextLength, layout.plaintextLength] : [start, end];
    const plaintext = new Uint8Array(to - from);
    const { frameSize } = header;
    const finalIndex = layout.frameCount - 1; // zero-based
    const frameOffset = (i: number) => header.length + i * layout.regularFrameLength;
    const wireLength = (i: number) =>
      i === finalIndex ? FINAL_FRAME_OVERHEAD + layout.finalPlaintextLength : layout.regularFrameLength;

    // Zero-based frames to authenticate: those holding [start, end), and the final frame if asked.
    const wanted: number[] = [];
    if (to > from) {
      for (let i = Math.floor(from / frameSize); i <= Math.floor((to - 1) / frameSize); i++) wanted.push(i);
    }
    if ((options.verifyLength || pastEnd) && wanted.at(-1) !== finalIndex) wanted.push(finalIndex);
    if (wanted.length === 0) return { plaintext, header, plaintextLength: layout.plaintextLength };

    // One read for the contiguous span; a second one for a distant final frame.
    const spans: { first: number; last: number; bytes?: Uint8Array }[] = [];
    for (const i of wanted) {
      const span = spans.at(-1);
      if (span && span.last === i - 1) span.last = i;
      else spans.push({ first: i, last: i });
    }
    await Promise.all(
      spans.map(async (span) => {
        const from = frameOffset(span.first);
        span.bytes = await readExactly(source, from, frameOffset(span.last) + wireLength(span.last) - from);
      }),
    );

    const inFlight = new InOrder<void>(cipher.window);
    try {
      for (const span of spans) {
        for (let i = span.first; i <= span.last; i++) {
          const at = frameOffset(i) - frameOffset(span.first);
          const frame = span.bytes!.subarray(at, at + wireLength(i));
          const final = i === finalIndex;
          const length = final ? layout.finalPlaintextLength : frameSize;
          if (frame[0] !== (final ? FRAME_FINAL : FRAME_REGULAR))
            throw malformed(`frame ${i + 1} has the wrong flag`);
          if (final && new DataView(frame.buffer, frame.byteOffset + 1, 4).getUint32(0) !== length) {
            throw malformed("final frame length does not match the envelope's size");
          }
          const sealed = frame.subarray(final ? 5 : 1);
          // A frame wholly inside the range is decrypted in place into the result; a frame cut by the range into
          // a scratch buffer, copied from only after its tag verified, then wiped.
          const frameStart = i * frameSize;
          const lo = Math.max(from, frameStart);
          const hi = Math.min(to, frameStart + length);
          const whole = lo === frameStart && hi === frameStart + length;
          const target = whole ? plaintext : new Uint8Array(length);
          const copy = () => {
            if (whole) return;
            if (hi > lo) plaintext.set(target.subarray(lo - frameStart, hi - frameStart), lo - from);
            target.fill(0);
          };
          const pending = cipher.open(i + 1, final, sealed, target, whole ? frameStart - from : 0);
          if (pending) await inFlight.push(pending.then(copy), () => {});
          else copy();
        }
      }
      await inFlight.drain(() => {});
    } catch (error) {
      await inFlight.abandon();
      plaintext.fill(0);
      throw error;
    }
    if (pastEnd) {
      throw new RangeError(`"end" (${end}) exceeds the plaintext length ${layout.plaintextLength}`);
    }
    return { plaintext, header, plaintextLength: layout.plaintextLength };
  } finally {
    cipher.dispose();
  }
}
