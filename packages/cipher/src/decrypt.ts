// One-shot decryption of an envelope held in memory.

import { abytes, type EnvelopeHeader, malformed, parseHeader } from "@sealkit/core";
import { InOrder } from "./lib/content-cipher.js";
import { nextFrame, truncated } from "./lib/frame-reader.js";
import {
  checkDecryptOptions,
  checkExpectedContext,
  type DecryptOptions,
  openMessage,
} from "./lib/message.js";

export type { DecryptOptions } from "./lib/message.js";

/** What `decrypt` returns. */
export interface DecryptResult {
  readonly plaintext: Uint8Array;
  /** The parsed header: context, suite, frame size, encrypted data keys. Its arrays are views of the envelope. */
  readonly header: EnvelopeHeader;
}

/**
 * Decrypts a whole envelope. Nothing is returned unless every frame authenticated and the envelope ended
 * exactly after its final frame.
 *
 * Order of checks: the header is parsed (with its limits), the expected context is checked, a data key is
 * opened, the commitment and the header tag are verified, then every frame.
 * @throws {TypeError} when `envelope` is not a Uint8Array, is a view of a SharedArrayBuffer or of a detached
 * buffer, or an option has the wrong type
 * @throws {RangeError} when `providers` is empty or `maxEncryptedDataKeys` is out of range
 * @throws {SealkitError} ERR_ENVELOPE_MALFORMED, ERR_UNSUPPORTED_VERSION, ERR_UNSUPPORTED_SUITE, ERR_FRAME_SIZE,
 * ERR_TOO_MANY_ENCRYPTED_DATA_KEYS, ERR_LIMIT_EXCEEDED, ERR_CONTEXT_MISMATCH, ERR_NO_DECRYPTABLE_KEY,
 * ERR_AUTHENTICATION_FAILED, ERR_TRUNCATED
 */
export async function decrypt(envelope: Uint8Array, options: DecryptOptions): Promise<DecryptResult> {
  abytes(envelope, "envelope");
  const checked = checkDecryptOptions(options);
  const header = parseHeader(
    envelope,
    checked.maxEncryptedDataKeys !== undefined ? { maxEncryptedDataKeys: checked.maxEncryptedDataKeys } : {},
  );
  checkExpectedContext(header, checked);
  const body = envelope.subarray(header.length);

  // Walk the frame structure before any key is opened: a body that is cut short or malformed fails without a
  // provider call, and the output size is known exactly. Nothing is kept per frame: the body is not authenticated
  // yet, and a record per 64-byte frame would cost more heap than the envelope itself.
  let offset = 0;
  let plaintextLength = 0;
  for (let index = 1; ; index++) {
    const frame = nextFrame(body.subarray(offset), header.frameSize, index);
    if (!frame) throw truncated();
    plaintextLength += frame.plaintextLength;
    offset += frame.wireLength;
    if (frame.final) break;
  }
  if (offset !== body.length) throw malformed("trailing bytes after the final frame");

  const cipher = await openMessage(header, checked);
  try {
    const plaintext = new Uint8Array(plaintextLength);
    const inFlight = new InOrder<void>(cipher.window);
    try {
      // The same walk again, now opening each frame into its place in the output. (It finds the same frames unless
      // the caller changed the envelope during the provider call: then a typed error, never a write out of bounds.)
      const changed = () => malformed("the envelope changed while it was being decrypted");
      let at = 0;
      let written = 0;
      for (let index = 1; ; index++) {
        const frame = nextFrame(body.subarray(at), header.frameSize, index);
        if (!frame || written + frame.plaintextLength > plaintextLength) throw changed();
        const pending = cipher.open(index, frame.final, frame.sealed, plaintext, written);
        if (pending) await inFlight.push(pending, () => {});
        written += frame.plaintextLength;
        at += frame.wireLength;
        if (frame.final) break;
      }
      if (written !== plaintextLength || at !== body.length) throw changed();
      await inFlight.drain(() => {});
    } catch (error) {
      await inFlight.abandon();
      plaintext.fill(0);
      throw error;
    }
    return { plaintext, header };
  } finally {
    cipher.dispose();
  }
}
