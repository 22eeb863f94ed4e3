// The benchmarked implementations that run everywhere (Node and the browser): Sealkit, libsodium-wrappers,
// libsodium's raw module worked in its heap, and Web Crypto AES-GCM. Each one checks its own round trip first.

import { chunk, concat, sameBytes } from "./data.mjs";

/** The plaintext chunk size of the baselines: Sealkit's default frame size. */
export const FRAME_SIZE = 64 * 1024;
/** How many Web Crypto calls the pipelined baselines keep in flight. */
export const WEB_CRYPTO_WINDOW = 8;

/**
 * Fails the run loudly: a benchmark of code that does not round-trip measures nothing.
 * @throws {Error} always
 */
export function correctnessFailure(impl, message) {
  const error = new Error(`correctness check failed for ${impl}: ${message}`);
  error.correctness = true;
  return error;
}

function counterNonce(length, index) {
  const nonce = new Uint8Array(length);
  const view = new DataView(nonce.buffer);
  view.setUint32(length - 8, Math.floor(index / 0x100000000));
  view.setUint32(length - 4, index >>> 0);
  return nonce;
}

function randomNonce(length) {
  return crypto.getRandomValues(new Uint8Array(length));
}

/**
 * The inputs of one workload: `bulk` (one large plaintext, which the baselines see as FRAME_SIZE chunks) or
 * `small` (many short messages, each one call or one envelope).
 */
export function bulkWorkload(plaintext) {
  return {
    kind: "bulk",
    plaintext,
    pieces: chunk(plaintext, FRAME_SIZE),
    bytes: plaintext.length,
    messages: 1,
  };
}

export function smallWorkload(messages) {
  const bytes = messages.reduce((n, m) => n + m.length, 0);
  return { kind: "small", pieces: messages, bytes, messages: messages.length };
}

/** Checks that decrypt(encrypt(x)) gave back every piece of the workload. */
function checkPieces(impl, workload, decrypted) {
  if (decrypted.length !== workload.pieces.length) {
    throw correctnessFailure(impl, `expected ${workload.pieces.length} pieces, got ${decrypted.length}`);
  }
  for (let i = 0; i < decrypted.length; i++) {
    if (!sameBytes(decrypted[i], workload.pieces[i])) {
      throw correctnessFailure(impl, `piece ${i} did not decrypt to its plaintext`);
    }
  }
}

/**
 * A baseline that encrypts each piece with one AEAD call: per FRAME_SIZE chunk with a counter nonce (bulk), or
 * per message with a random nonce (small). `seal(piece, nonce)` and `open(sealed, nonce)` may be sync or async.
 */
function perPieceImplementation({ id, name, nonceLength, seal, open, window = 1 }) {
  return {
    id,
    name,
    async setup(workload) {
      const makeNonce =
        workload.kind === "bulk" ? (i) => counterNonce(nonceLength, i + 1) : () => randomNonce(nonceLength);
      const nonces = [];
      const encryptAll = async (keep) => {
        const out = keep ? new Array(workload.pieces.length) : undefined;
        await forEachPiece(workload.pieces.length, window, async (i) => {
          const nonce = makeNonce(i);
          const sealed = await seal(workload.pieces[i], nonce);
          if (keep) {
            out[i] = sealed;
            nonces[i] = nonce;
          }
        });
        return out;
      };
      const sealedPieces = await encryptAll(true);
      const decryptAll = async (keep) => {
        const out = keep ? new Array(sealedPieces.length) : undefined;
        await forEachPiece(sealedPieces.length, window, async (i) => {
          const opened = await open(sealedPieces[i], nonces[i]);
          if (keep) out[i] = opened;
        });
        return out;
      };
      checkPieces(name, workload, await decryptAll(true));
      return { encrypt: () => encryptAll(false), decrypt: () => decryptAll(false) };
    },
  };
}

/** Runs fn(0..n-1), one at a time or with up to `window` calls in flight, in order of issue. */
async function forEachPiece(n, window, fn) {
  if (window <= 1) {
    for (let i = 0; i < n; i++) await fn(i);
    return;
  }
  const inFlight = [];
  for (let i = 0; i < n; i++) {
    inFlight.push(fn(i));
    if (inFlight.length >= window) await inFlight.shift();
  }
  await Promise.all(inFlight);
}

/** libsodium-wrappers' one-shot XChaCha20-Poly1305: the floor Sealkit's XChaCha suite adds overhead to. */
export function libsodiumImplementation(sodium) {
  const key = sodium.crypto_aead_xchacha20poly1305_ietf_keygen();
  const aad = new Uint8Array(1);
  return perPieceImplementation({
    id: "libsodium",
    name: "libsodium-wrappers XChaCha20-Poly1305",
    nonceLength: 24,
    seal: (piece, nonce) => sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(piece, aad, null, nonce, key),
    open: (sealed, nonce) => sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(null, sealed, aad, nonce, key),
  });
}

/**
 * libsodium's raw module (the one libsodium-wrappers wraps), used in its own heap: input, output, key and nonce
 * buffers allocated once, one copy in and one copy out per call. What a cipher working in the heap can reach.
 */
export function libsodiumHeapImplementation(sodium) {
  const raw = sodium.libsodium;
  const capacity = FRAME_SIZE + 16;
  const keyPtr = raw._malloc(32);
  const noncePtr = raw._malloc(24);
  const inPtr = raw._malloc(capacity);
  const outPtr = raw._malloc(capacity);
  const adPtr = raw._malloc(1);
  const lenPtr = raw._malloc(8);
  raw.HEAPU8.set(sodium.crypto_aead_xchacha20poly1305_ietf_keygen(), keyPtr);
  raw.HEAPU8[adPtr] = 0;
  return perPieceImplementation({
    id: "libsodium-heap",
    name: "libsodium raw module, in-heap buffers",
    nonceLength: 24,
    seal(piece, nonce) {
      const heap = raw.HEAPU8;
      heap.set(piece, inPtr);
      heap.set(nonce, noncePtr);
      const rc = raw._crypto_aead_xchacha20poly1305_ietf_encrypt(
        outPtr,
        lenPtr,
        inPtr,
        piece.length,
        0,
        adPtr,
        1,
        0,
        0,
        noncePtr,
        keyPtr,
      );
      if (rc !== 0) throw correctnessFailure("libsodium raw", `encrypt returned ${rc}`);
      return heap.slice(outPtr, outPtr + piece.length + 16);
    },
    open(sealed, nonce) {
      const heap = raw.HEAPU8;
      heap.set(sealed, inPtr);
      heap.set(nonce, noncePtr);
      const rc = raw._crypto_aead_xchacha20poly1305_ietf_decrypt(
        outPtr,
        lenPtr,
        0,
        inPtr,
        sealed.length,
        0,
        adPtr,
        1,
        0,
        noncePtr,
        keyPtr,
      );
      if (rc !== 0) throw correctnessFailure("libsodium raw", "authentication failed");
      return heap.slice(outPtr, outPtr + sealed.length - 16);
    },
  });
}

/** Web Crypto AES-256-GCM, one call per piece; `window` calls in flight (1: each awaited before the next). */
export async function webCryptoAesImplementation(subtle, window) {
  const key = await subtle.generateKey({ name: "AES-GCM", length: 256 }, false, ["encrypt", "decrypt"]);
  const aad = new Uint8Array(1);
  return perPieceImplementation({
    id: window > 1 ? "webcrypto-aes" : "webcrypto-aes-serial",
    name:
      window > 1
        ? `Web Crypto AES-256-GCM, ${window} calls in flight`
        : "Web Crypto AES-256-GCM, awaited one by one",
    nonceLength: 12,
    window,
    seal: async (piece, iv) =>
      new Uint8Array(await subtle.encrypt({ name: "AES-GCM", iv, additionalData: aad }, key, piece)),
    open: async (sealed, iv) =>
      new Uint8Array(await subtle.decrypt({ name: "AES-GCM", iv, additionalData: aad }, key, sealed)),
  });
}

/**
 * Sealkit's one-shot `encrypt`/`decrypt`: the whole bulk plaintext as one envelope in the default frame size,
 * or one envelope per small message. Every envelope gets a fresh data key from the raw provider.
 */
export function sealkitImplementation(cipher, providers, suite) {
  const context = { purpose: "bench" };
  const label = suite === "AES_256_GCM" ? "AES-256-GCM" : "XChaCha20-Poly1305";
  return {
    id: suite === "AES_256_GCM" ? "sealkit-aes" : "sealkit-xchacha",
    name: `Sealkit ${label} encrypt/decrypt`,
    async setup(workload) {
      const inputs = workload.kind === "bulk" ? [workload.plaintext] : workload.pieces;
      const envelopes = [];
      for (const input of inputs) envelopes.push(await cipher.encrypt(input, { providers, context, suite }));
      const opened = [];
      for (const envelope of envelopes) {
        const result = await cipher.decrypt(envelope, { providers });
        if (result.header?.suite?.name !== undefined && result.header.suite.name !== suite) {
          throw correctnessFailure(this.name, `envelope suite is ${result.header.suite.name}, not ${suite}`);
        }
        opened.push(result.plaintext);
      }
      const expected = workload.kind === "bulk" ? [workload.plaintext] : workload.pieces;
      checkPieces(this.name, { pieces: expected }, opened);
      return {
        encrypt: async () => {
          for (const input of inputs) await cipher.encrypt(input, { providers, context, suite });
        },
        decrypt: async () => {
          for (const envelope of envelopes) await cipher.decrypt(envelope, { providers });
        },
      };
    },
  };
}

/** Pushes `pieces` through a TransformStream and hands each output chunk to `sink`. */
async function pump(transform, pieces, sink) {
  let next = 0;
  const source = new ReadableStream({
    pull(controller) {
      if (next < pieces.length) controller.enqueue(pieces[next++]);
      else controller.close();
    },
  });
  const reader = source.pipeThrough(transform).getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return;
    sink(value);
  }
}

/**
 * Sealkit's `encryptStream`/`decryptStream` over the bulk plaintext, written in FRAME_SIZE pieces (what a file
 * read gives) and read back in the envelope's own FRAME_SIZE pieces, which do not line up with its frames.
 */
export function sealkitStreamImplementation(cipher, providers, suite) {
  const context = { purpose: "bench" };
  const label = suite === "AES_256_GCM" ? "AES-256-GCM" : "XChaCha20-Poly1305";
  return {
    id: suite === "AES_256_GCM" ? "sealkit-aes-stream" : "sealkit-xchacha-stream",
    name: `Sealkit ${label} encryptStream/decryptStream`,
    bulkOnly: true,
    async setup(workload) {
      const parts = [];
      await pump(cipher.encryptStream({ providers, context, suite }), workload.pieces, (c) => parts.push(c));
      const envelopePieces = chunk(concat(parts), FRAME_SIZE);
      const opened = [];
      await pump(cipher.decryptStream({ providers }), envelopePieces, (c) => opened.push(c));
      if (!sameBytes(concat(opened), workload.plaintext)) {
        throw correctnessFailure(this.name, "the decrypted stream differs from the plaintext");
      }
      const discard = () => {};
      return {
        encrypt: () => pump(cipher.encryptStream({ providers, context, suite }), workload.pieces, discard),
        decrypt: () => pump(cipher.decryptStream({ providers }), envelopePieces, discard),
      };
    },
  };
}
