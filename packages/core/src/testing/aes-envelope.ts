// Test-only: a minimal AES-256-GCM envelope sealer and opener on Web Crypto, so core's tests (rewrap, vectors) can
// check whole envelopes without @sealkit/cipher. Not exported from the package.

import { concatBytes, equalBytes, randomBytes, wipe } from "../bytes.js";
import { generateEnvelopeDataKey, openEnvelopeDataKey } from "../data-keys.js";
import { authenticationFailed, SealkitError } from "../errors.js";
import { bodyLayout, FRAME_FINAL, FRAME_REGULAR, frameAad, frameNonce } from "../frames.js";
import { encodeAuthenticatedHeader, encodeHeader, headerAad, parseHeader } from "../header.js";
import { deriveMessageKeys } from "../key-schedule.js";
import { AES_256_GCM } from "../suites.js";
import type { EncryptionContext, KeyProvider } from "../types.js";

async function gcm(
  mode: "encrypt" | "decrypt",
  key: Uint8Array,
  index: number,
  aad: Uint8Array,
  data: Uint8Array,
): Promise<Uint8Array> {
  const k = await crypto.subtle.importKey("raw", key as BufferSource, "AES-GCM", false, [mode]);
  const params = {
    name: "AES-GCM",
    iv: frameNonce(AES_256_GCM, index) as BufferSource,
    additionalData: aad as BufferSource,
  };
  return new Uint8Array(await crypto.subtle[mode](params, k, data as BufferSource));
}

/** Seals `plaintext` in an AES-256-GCM envelope. */
export async function sealAes(
  plaintext: Uint8Array,
  providers: KeyProvider[],
  options: { context?: EncryptionContext; frameSize?: number; messageId?: Uint8Array } = {},
): Promise<Uint8Array> {
  const context = options.context ?? {};
  const frameSize = options.frameSize ?? 64;
  const messageId = options.messageId ?? randomBytes(32);
  const dk = await generateEnvelopeDataKey(providers, { context, suite: AES_256_GCM });
  const { contentKey, commitment } = await deriveMessageKeys(dk.plaintext, messageId, AES_256_GCM);
  wipe(dk.plaintext);
  const authenticated = encodeAuthenticatedHeader({ suite: AES_256_GCM, frameSize, messageId, context });
  const tag = await gcm("encrypt", contentKey, 0, concatBytes(authenticated, commitment), new Uint8Array());
  const parts = [encodeHeader(authenticated, commitment, tag, dk.encryptedDataKeys)];
  let index = 1;
  let offset = 0;
  while (plaintext.length - offset > frameSize) {
    const sealed = await gcm(
      "encrypt",
      contentKey,
      index++,
      frameAad(false),
      plaintext.subarray(offset, offset + frameSize),
    );
    parts.push(new Uint8Array([FRAME_REGULAR]), sealed);
    offset += frameSize;
  }
  const rest = plaintext.subarray(offset);
  const length = new Uint8Array(4);
  new DataView(length.buffer).setUint32(0, rest.length);
  parts.push(
    new Uint8Array([FRAME_FINAL]),
    length,
    await gcm("encrypt", contentKey, index, frameAad(true), rest),
  );
  wipe(contentKey);
  return concatBytes(...parts);
}

/** Opens an AES-256-GCM envelope, checking commitment, header tag and every frame. */
export async function openAes(envelope: Uint8Array, providers: KeyProvider[]): Promise<Uint8Array> {
  const header = parseHeader(envelope);
  if (header.suite !== AES_256_GCM)
    throw new SealkitError("ERR_UNSUPPORTED_SUITE", "test opener is AES only");
  const opened = await openEnvelopeDataKey(header.encryptedDataKeys, providers, { context: header.context });
  const { contentKey, commitment } = await deriveMessageKeys(
    opened.plaintext,
    header.messageId,
    header.suite,
  );
  wipe(opened.plaintext);
  try {
    if (!equalBytes(commitment, header.commitment)) throw authenticationFailed();
    await gcm("decrypt", contentKey, 0, headerAad(header), header.headerTag).catch(() => {
      throw authenticationFailed();
    });
    const body = envelope.subarray(header.length);
    const layout = bodyLayout(body.length, header.frameSize);
    const out: Uint8Array[] = [];
    let offset = 0;
    for (let i = 1; i <= layout.frameCount; i++) {
      const final = i === layout.frameCount;
      const flag = body[offset];
      if (flag !== (final ? FRAME_FINAL : FRAME_REGULAR)) throw authenticationFailed();
      const start = offset + (final ? 5 : 1);
      const end = start + (final ? layout.finalPlaintextLength : header.frameSize) + 16;
      out.push(
        await gcm("decrypt", contentKey, i, frameAad(final), body.subarray(start, end)).catch(() => {
          throw authenticationFailed();
        }),
      );
      offset = end;
    }
    return concatBytes(...out);
  } finally {
    wipe(contentKey);
  }
}
