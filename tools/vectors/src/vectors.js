// The cases of test-vectors/envelopes-v1.json and test-vectors/context-v1.json. Every input is derived from a
// fixed label, so running the generator again reproduces both files byte for byte.

import { encodeContext } from "@sealkit/core";
import { derived, encodeContextIndependently, hex, ready, u16, u32 } from "./crypto.js";
import { buildEnvelope, frame, referenceDecrypt } from "./envelope.js";

const utf8 = (s) => Buffer.from(s, "utf8");
const cat = (...parts) => new Uint8Array(Buffer.concat(parts.map((p) => Buffer.from(p))));
const ascii = (s) => new Uint8Array(Buffer.from(s, "ascii"));

/** Raw keys by name. mallory has alice's key id but another key: "the wrong key". */
const KEYS = {
  alice: { providerId: "raw", keyId: "alice", key: derived("key:alice", 32) },
  bob: { providerId: "raw", keyId: "bob", key: derived("key:bob", 32) },
  carol: { providerId: "raw", keyId: "clé-carol-💾", key: derived("key:carol", 32) },
  mallory: { providerId: "raw", keyId: "alice", key: derived("key:mallory", 32) },
  dave: { providerId: "raw", keyId: "dave", key: derived("key:dave", 32) },
};

function envelopeFor(label, { suite, frameSize, context, plaintext, recipients, dataKeyLabel }) {
  return buildEnvelope({
    suite,
    frameSize,
    context,
    plaintext,
    dataKey: derived(`data-key:${dataKeyLabel ?? label}`, 32),
    messageId: derived(`message-id:${label}`, 32),
    recipients: recipients.map((name, i) => ({
      keyId: KEYS[name].keyId,
      key: KEYS[name].key,
      wrapNonce: derived(`wrap-nonce:${label}:${i}`, 12),
    })),
  });
}

const UNICODE_CONTEXT = {
  名前: "東京都",
  emoji: "🔐🗝️",
  café: "e\u0301 (combining acute)",
  Ελληνικά: "ναι",
  עברית: "כן",
};
// U+FFFD sorts before U+1F600 as UTF-8 bytes (EF BF BD < F0 9F 98 80) but after it as UTF-16 code units
// (0xFFFD > 0xD83D): a sort by JavaScript string comparison would give another encoding.
const BYTE_ORDER_CONTEXT = {
  "\u{1F600}": "grinning",
  "\uFFFD": "replacement",
  "\uFF61": "halfwidth",
  z: "ascii",
};
const MANY_PAIRS = Object.fromEntries(
  Array.from({ length: 100 }, (_, i) => [`key-${String(99 - i).padStart(3, "0")}`, `value ${i}`]),
);

function validCases() {
  const text = (s) => new Uint8Array(utf8(s));
  const bytes = (id, n) => derived(`plaintext:${id}`, n);
  const X = "XCHACHA20_POLY1305";
  const A = "AES_256_GCM";
  const ctx = { tenant: "acme" };
  const specs = [
    [
      1,
      "worked example of docs/FORMAT.md: XChaCha20-Poly1305, one frame",
      X,
      64,
      ctx,
      ["alice"],
      text("Hello, Sealkit!"),
    ],
    [2, "AES-256-GCM, one frame", A, 64, ctx, ["alice"], text("Hello, Sealkit!")],
    [3, "empty plaintext: one empty final frame", X, 64, ctx, ["alice"], new Uint8Array(0)],
    [4, "empty plaintext, AES-256-GCM", A, 64, ctx, ["alice"], new Uint8Array(0)],
    [5, "one byte", X, 64, {}, ["alice"], bytes(5, 1)],
    [6, "one byte, AES-256-GCM", A, 64, {}, ["alice"], bytes(6, 1)],
    [7, "exactly one frame: a full final frame, no regular frame", X, 64, ctx, ["alice"], bytes(7, 64)],
    [8, "exactly one frame, AES-256-GCM", A, 64, ctx, ["alice"], bytes(8, 64)],
    [9, "one frame + 1 byte: a regular frame and a 1-byte final frame", X, 64, ctx, ["alice"], bytes(9, 65)],
    [10, "one frame + 1 byte, AES-256-GCM", A, 64, ctx, ["alice"], bytes(10, 65)],
    [11, "several frames of 64 bytes and a short final frame", X, 64, ctx, ["alice"], bytes(11, 202)],
    [12, "several frames, AES-256-GCM", A, 64, ctx, ["alice"], bytes(12, 202)],
    [13, "four full frames: the last is a full final frame", X, 64, ctx, ["alice"], bytes(13, 256)],
    [14, "four full frames, AES-256-GCM", A, 64, ctx, ["alice"], bytes(14, 256)],
    [15, "largest frame size (4,194,304) in the header", X, 4194304, ctx, ["alice"], bytes(15, 100)],
    [16, "largest frame size, AES-256-GCM", A, 4194304, ctx, ["alice"], bytes(16, 100)],
    [
      17,
      "default frame size (65,536), more than one frame",
      X,
      65536,
      ctx,
      ["alice"],
      bytes(17, 65536 + 300),
    ],
    [18, "frame size 1,000 (not a power of two)", A, 1000, ctx, ["alice"], bytes(18, 2500)],
    [19, "two recipients: decrypt with each alone", X, 64, ctx, ["alice", "bob"], bytes(19, 100)],
    [
      20,
      "three recipients, AES-256-GCM: decrypt with each alone",
      A,
      64,
      ctx,
      ["alice", "bob", "carol"],
      bytes(20, 100),
    ],
    [21, "three recipients, a non-ASCII key id first", X, 64, ctx, ["carol", "alice", "bob"], bytes(21, 10)],
    [22, "empty context", X, 64, {}, ["alice"], bytes(22, 70)],
    [
      23,
      "unicode context: CJK, emoji, combining marks, Greek, Hebrew",
      X,
      64,
      UNICODE_CONTEXT,
      ["alice"],
      bytes(23, 30),
    ],
    [
      24,
      "keys that sort differently as UTF-8 bytes than as UTF-16 code units",
      X,
      64,
      BYTE_ORDER_CONTEXT,
      ["alice"],
      bytes(24, 30),
    ],
    [25, "same context, AES-256-GCM", A, 64, BYTE_ORDER_CONTEXT, ["bob"], bytes(25, 30)],
    [26, "empty value", X, 64, { empty: "", full: "x" }, ["alice"], bytes(26, 5)],
    [27, "a key that is a prefix of another", A, 64, { a: "1", ab: "2", b: "3" }, ["alice"], bytes(27, 5)],
    [28, "many pairs (100)", X, 64, MANY_PAIRS, ["alice"], bytes(28, 5)],
    [29, "a long value (1,000 bytes)", A, 64, { blob: "v".repeat(1000) }, ["alice"], bytes(29, 5)],
    [
      30,
      "empty plaintext, two recipients, unicode context",
      A,
      64,
      UNICODE_CONTEXT,
      ["bob", "alice"],
      new Uint8Array(0),
    ],
  ];
  return specs.map(([id, comment, suite, frameSize, context, recipients, plaintext]) => {
    const built = envelopeFor(`valid:${id}`, { suite, frameSize, context, plaintext, recipients });
    return {
      id,
      comment,
      suite,
      frameSize,
      context,
      recipients,
      plaintext: hex(plaintext),
      envelope: hex(built.envelope),
    };
  });
}

function flip(bytes, offset) {
  const out = new Uint8Array(bytes);
  out[offset] ^= 0x01;
  return out;
}

/** A header from raw parts (for malformed cases), followed by `body`. */
function assemble(p) {
  const context = p.context ?? new Uint8Array(u16(0));
  return cat(
    p.magic ?? ascii("SLKT"),
    [p.version ?? 1],
    u16(p.suite ?? 1),
    u32(p.frameSize ?? 64),
    p.messageId ?? derived("message-id:malformed", 32),
    u16(p.contextLength ?? context.length),
    context,
    p.commitment ?? derived("commitment:malformed", 32),
    p.tag ?? derived("tag:malformed", 16),
    p.edkSection ?? cat(u16(1), edk(utf8("raw"), utf8("alice"), derived("edk:malformed", 60))),
    p.body ?? cat([1], u32(0), derived("final:malformed", 16)),
  );
}

function edk(providerId, keyId, ciphertext) {
  return cat(
    u16(providerId.length),
    providerId,
    u16(keyId.length),
    keyId,
    u16(ciphertext.length),
    ciphertext,
  );
}

function pair(k, v) {
  return cat(u16(k.length), k, u16(v.length), v);
}

function invalidCases() {
  const X = "XCHACHA20_POLY1305";
  const A = "AES_256_GCM";
  const ctx = { tenant: "acme" };
  const plaintext = derived("plaintext:base", 150); // frames of 64, 64 and a final of 22
  // B: the base message; B2: same data key, another message id; B3: another data key; S: one recipient.
  const B = envelopeFor("base", {
    suite: X,
    frameSize: 64,
    context: ctx,
    plaintext,
    recipients: ["alice", "bob"],
  });
  const B2 = envelopeFor("base-2", {
    suite: X,
    frameSize: 64,
    context: ctx,
    plaintext,
    recipients: ["alice", "bob"],
    dataKeyLabel: "base",
  });
  const S = envelopeFor("single", {
    suite: X,
    frameSize: 64,
    context: ctx,
    plaintext,
    recipients: ["alice"],
  });
  const S3 = envelopeFor("single-3", {
    suite: X,
    frameSize: 64,
    context: ctx,
    plaintext,
    recipients: ["alice"],
  });
  const AB = envelopeFor("aes", { suite: A, frameSize: 64, context: ctx, plaintext, recipients: ["alice"] });
  const SHORT = envelopeFor("short", {
    suite: X,
    frameSize: 64,
    context: ctx,
    plaintext: plaintext.subarray(0, 15),
    recipients: ["alice"],
  });
  const EMPTY = envelopeFor("empty", {
    suite: X,
    frameSize: 64,
    context: ctx,
    plaintext: new Uint8Array(0),
    recipients: ["alice"],
  });
  const NOCTX = envelopeFor("no-context", {
    suite: X,
    frameSize: 64,
    context: {},
    plaintext,
    recipients: ["alice"],
  });

  const hb = B.header.length; // body offset of B
  const body = (e) => e.envelope.subarray(e.header.length);
  const ctxStart = 45;
  const commitmentAt = (e) => e.authenticated.length;
  const tagAt = (e) => e.authenticated.length + 32;
  const edkAt = (e) => e.authenticated.length + 48;
  const [f1, f2, f3] = B.frames;
  const withBody = (e, ...frames) => cat(e.header, ...frames);
  const realEdk = (e, i = 0) => {
    const k = e.encryptedDataKeys[i];
    return edk(utf8(k.providerId), utf8(k.keyId), k.ciphertext);
  };
  const headerWithEdks = (e, section) => cat(e.authenticated, e.commitment, e.headerTag, section);
  const a = ["alice"];

  // [id, comment, envelope, decryptWith, error, options?]
  const cases = [
    // Header: magic, version, suite, frame size.
    [
      101,
      "bad magic (SLKX)",
      (() => {
        const x = new Uint8Array(B.envelope);
        x[3] = 0x58;
        return x;
      })(),
      a,
      "ERR_ENVELOPE_MALFORMED",
    ],
    [
      102,
      "format version 0",
      (() => {
        const x = new Uint8Array(B.envelope);
        x[4] = 0;
        return x;
      })(),
      a,
      "ERR_UNSUPPORTED_VERSION",
    ],
    [
      103,
      "format version 2",
      (() => {
        const x = new Uint8Array(B.envelope);
        x[4] = 2;
        return x;
      })(),
      a,
      "ERR_UNSUPPORTED_VERSION",
    ],
    [
      104,
      "format version 255",
      (() => {
        const x = new Uint8Array(B.envelope);
        x[4] = 255;
        return x;
      })(),
      a,
      "ERR_UNSUPPORTED_VERSION",
    ],
    [105, "suite 0x0000", assemble({ suite: 0 }), a, "ERR_UNSUPPORTED_SUITE"],
    [106, "suite 0x0003", assemble({ suite: 3 }), a, "ERR_UNSUPPORTED_SUITE"],
    [107, "suite 0xffff", assemble({ suite: 0xffff }), a, "ERR_UNSUPPORTED_SUITE"],
    [108, "frame size 63, one below the minimum", assemble({ frameSize: 63 }), a, "ERR_FRAME_SIZE"],
    [109, "frame size 0", assemble({ frameSize: 0 }), a, "ERR_FRAME_SIZE"],
    [
      110,
      "frame size 4,194,305, one above the maximum",
      assemble({ frameSize: 4194305 }),
      a,
      "ERR_FRAME_SIZE",
    ],
    [111, "frame size 0xffffffff", assemble({ frameSize: 0xffffffff }), a, "ERR_FRAME_SIZE"],
    // Encryption context.
    [
      112,
      "context keys not sorted",
      assemble({ context: cat(u16(2), pair(utf8("b"), utf8("1")), pair(utf8("a"), utf8("2"))) }),
      a,
      "ERR_ENVELOPE_MALFORMED",
    ],
    [
      113,
      "context key duplicated",
      assemble({ context: cat(u16(2), pair(utf8("a"), utf8("1")), pair(utf8("a"), utf8("2"))) }),
      a,
      "ERR_ENVELOPE_MALFORMED",
    ],
    [
      114,
      "context key empty",
      assemble({ context: cat(u16(1), pair(utf8(""), utf8("1"))) }),
      a,
      "ERR_ENVELOPE_MALFORMED",
    ],
    [
      115,
      "context key not UTF-8 (0xff)",
      assemble({ context: cat(u16(1), pair([0xff], utf8("1"))) }),
      a,
      "ERR_ENVELOPE_MALFORMED",
    ],
    [
      116,
      "context value is an encoded surrogate (ed a0 80)",
      assemble({ context: cat(u16(1), pair(utf8("a"), [0xed, 0xa0, 0x80])) }),
      a,
      "ERR_ENVELOPE_MALFORMED",
    ],
    [
      117,
      "context value is overlong UTF-8 (c0 af)",
      assemble({ context: cat(u16(1), pair(utf8("a"), [0xc0, 0xaf])) }),
      a,
      "ERR_ENVELOPE_MALFORMED",
    ],
    [
      118,
      "context pair count larger than its pairs",
      assemble({ context: cat(u16(2), pair(utf8("a"), utf8("1"))) }),
      a,
      "ERR_ENVELOPE_MALFORMED",
    ],
    [
      119,
      "context key length runs past the context",
      assemble({ context: cat(u16(1), u16(9), utf8("a")) }),
      a,
      "ERR_ENVELOPE_MALFORMED",
    ],
    [
      120,
      "trailing byte inside the context",
      assemble({ context: cat(u16(1), pair(utf8("a"), utf8("1")), [0]) }),
      a,
      "ERR_ENVELOPE_MALFORMED",
    ],
    [
      121,
      "context sorted by UTF-16 code units instead of UTF-8 bytes",
      assemble({ context: cat(u16(2), pair(utf8("\u{1F600}"), utf8("1")), pair(utf8("\uFFFD"), utf8("2"))) }),
      a,
      "ERR_ENVELOPE_MALFORMED",
    ],
    [
      122,
      "context shorter than its pair count (1 byte)",
      assemble({ context: new Uint8Array([0]) }),
      a,
      "ERR_ENVELOPE_MALFORMED",
    ],
    // Encrypted data keys.
    [
      123,
      "zero encrypted data keys",
      withBody({ header: headerWithEdks(S, u16(0)) }, ...S.frames),
      a,
      "ERR_ENVELOPE_MALFORMED",
    ],
    [
      124,
      "17 encrypted data keys: the default limit is 16",
      cat(headerWithEdks(S, cat(u16(17), ...Array(17).fill(realEdk(S)))), body(S)),
      a,
      "ERR_TOO_MANY_ENCRYPTED_DATA_KEYS",
    ],
    [
      125,
      "count 65,535 with no keys after it: refused before they are read",
      cat(headerWithEdks(S, u16(0xffff))),
      a,
      "ERR_TOO_MANY_ENCRYPTED_DATA_KEYS",
    ],
    [
      126,
      "two encrypted data keys, caller allows one",
      B.envelope,
      a,
      "ERR_TOO_MANY_ENCRYPTED_DATA_KEYS",
      { maxEncryptedDataKeys: 1 },
    ],
    [
      127,
      "empty provider id",
      cat(
        headerWithEdks(S, cat(u16(1), edk(utf8(""), utf8("alice"), S.encryptedDataKeys[0].ciphertext))),
        body(S),
      ),
      a,
      "ERR_ENVELOPE_MALFORMED",
    ],
    [
      128,
      "empty key id",
      cat(
        headerWithEdks(S, cat(u16(1), edk(utf8("raw"), utf8(""), S.encryptedDataKeys[0].ciphertext))),
        body(S),
      ),
      a,
      "ERR_ENVELOPE_MALFORMED",
    ],
    [
      129,
      "empty wrapped key",
      cat(headerWithEdks(S, cat(u16(1), edk(utf8("raw"), utf8("alice"), new Uint8Array(0)))), body(S)),
      a,
      "ERR_ENVELOPE_MALFORMED",
    ],
    [
      130,
      "provider id not UTF-8",
      cat(
        headerWithEdks(S, cat(u16(1), edk([0xc3, 0x28], utf8("alice"), S.encryptedDataKeys[0].ciphertext))),
        body(S),
      ),
      a,
      "ERR_ENVELOPE_MALFORMED",
    ],
    [
      131,
      "key id not UTF-8",
      cat(
        headerWithEdks(S, cat(u16(1), edk(utf8("raw"), [0xe2, 0x82], S.encryptedDataKeys[0].ciphertext))),
        body(S),
      ),
      a,
      "ERR_ENVELOPE_MALFORMED",
    ],
    // Truncated headers.
    [132, "empty input", new Uint8Array(0), a, "ERR_TRUNCATED"],
    [133, "magic only", ascii("SLKT"), a, "ERR_TRUNCATED"],
    [134, "ends inside the message id", B.envelope.subarray(0, 30), a, "ERR_TRUNCATED"],
    [135, "ends inside the header tag", B.envelope.subarray(0, tagAt(B) + 8), a, "ERR_TRUNCATED"],
    [136, "ends inside the encrypted data keys", B.envelope.subarray(0, hb - 10), a, "ERR_TRUNCATED"],
    [
      137,
      "a wrapped key's length runs past the end of the envelope",
      cat(
        headerWithEdks(
          S,
          cat(
            u16(1),
            u16(3),
            utf8("raw"),
            u16(5),
            utf8("alice"),
            u16(0xffff),
            S.encryptedDataKeys[0].ciphertext,
          ),
        ),
        body(S),
      ),
      a,
      "ERR_TRUNCATED",
    ],
    [138, "the header alone, no body", B.header, a, "ERR_TRUNCATED"],
    // Context expectations and data keys.
    [
      140,
      "expectContext names a pair the envelope lacks",
      B.envelope,
      a,
      "ERR_CONTEXT_MISMATCH",
      { expectContext: { tenant: "acme", purpose: "backup" } },
    ],
    [
      141,
      "expectContext has another value",
      B.envelope,
      a,
      "ERR_CONTEXT_MISMATCH",
      { expectContext: { tenant: "evil" } },
    ],
    [
      142,
      "expectContext against an empty context",
      NOCTX.envelope,
      a,
      "ERR_CONTEXT_MISMATCH",
      { expectContext: { tenant: "acme" } },
    ],
    [143, "wrong raw key under the right key id", B.envelope, ["mallory"], "ERR_NO_DECRYPTABLE_KEY"],
    [144, "no provider for any of the key ids", B.envelope, ["dave"], "ERR_NO_DECRYPTABLE_KEY"],
    [
      145,
      "wrapped key altered (one bit)",
      flip(S.envelope, edkAt(S) + 2 + 2 + 3 + 2 + 5 + 2 + 20),
      a,
      "ERR_NO_DECRYPTABLE_KEY",
    ],
    [
      146,
      "key id renamed in the header",
      cat(
        headerWithEdks(S, cat(u16(1), edk(utf8("raw"), utf8("alicf"), S.encryptedDataKeys[0].ciphertext))),
        body(S),
      ),
      a,
      "ERR_NO_DECRYPTABLE_KEY",
    ],
    [
      147,
      "context value altered (still canonical): the raw wrap binds the context",
      flip(S.envelope, ctxStart + 2 + 2 + 6 + 2 + 3),
      a,
      "ERR_NO_DECRYPTABLE_KEY",
    ],
    // Commitment and header tag.
    [
      150,
      "wrapped key of another message (another data key) substituted",
      cat(headerWithEdks(S, cat(u16(1), realEdk(S3))), body(S)),
      a,
      "ERR_AUTHENTICATION_FAILED",
    ],
    [
      151,
      "commitment altered (one bit)",
      flip(B.envelope, commitmentAt(B) + 7),
      a,
      "ERR_AUTHENTICATION_FAILED",
    ],
    [152, "header tag altered (one bit)", flip(B.envelope, tagAt(B) + 3), a, "ERR_AUTHENTICATION_FAILED"],
    [153, "message id altered (one bit)", flip(B.envelope, 11 + 5), a, "ERR_AUTHENTICATION_FAILED"],
    [
      154,
      "suite id changed from XChaCha20-Poly1305 to AES-256-GCM",
      (() => {
        const x = new Uint8Array(B.envelope);
        x[6] = 2;
        return x;
      })(),
      a,
      "ERR_AUTHENTICATION_FAILED",
    ],
    [
      155,
      "suite id changed from AES-256-GCM to XChaCha20-Poly1305",
      (() => {
        const x = new Uint8Array(AB.envelope);
        x[6] = 1;
        return x;
      })(),
      a,
      "ERR_AUTHENTICATION_FAILED",
    ],
    [
      156,
      "frame size changed from 64 to 65 (the frames still parse)",
      (() => {
        const x = new Uint8Array(SHORT.envelope);
        x[10] = 65;
        return x;
      })(),
      a,
      "ERR_AUTHENTICATION_FAILED",
    ],
    [
      157,
      "header tag of another message with the same data key",
      cat(B.authenticated, B.commitment, B2.headerTag, B.envelope.subarray(edkAt(B))),
      a,
      "ERR_AUTHENTICATION_FAILED",
    ],
    [
      158,
      "AES-256-GCM: commitment altered",
      flip(AB.envelope, commitmentAt(AB)),
      a,
      "ERR_AUTHENTICATION_FAILED",
    ],
    [
      159,
      "AES-256-GCM: header tag altered",
      flip(AB.envelope, tagAt(AB) + 15),
      a,
      "ERR_AUTHENTICATION_FAILED",
    ],
    // Frames.
    [160, "frame 1 ciphertext altered", flip(B.envelope, hb + 1 + 10), a, "ERR_AUTHENTICATION_FAILED"],
    [
      161,
      "frame 2 tag altered",
      flip(B.envelope, hb + f1.length + 1 + 64 + 4),
      a,
      "ERR_AUTHENTICATION_FAILED",
    ],
    [
      162,
      "final frame ciphertext altered",
      flip(B.envelope, hb + f1.length + f2.length + 5 + 3),
      a,
      "ERR_AUTHENTICATION_FAILED",
    ],
    [163, "final frame tag altered", flip(B.envelope, B.envelope.length - 1), a, "ERR_AUTHENTICATION_FAILED"],
    [164, "frames 1 and 2 swapped", withBody(B, f2, f1, f3), a, "ERR_AUTHENTICATION_FAILED"],
    [165, "frame 1 duplicated", withBody(B, f1, f1, f2, f3), a, "ERR_AUTHENTICATION_FAILED"],
    [166, "final frame removed", withBody(B, f1, f2), a, "ERR_TRUNCATED"],
    [167, "ends in the middle of frame 2", withBody(B, f1, f2.subarray(0, 40)), a, "ERR_TRUNCATED"],
    [
      168,
      "ends in the middle of the final frame",
      withBody(B, f1, f2, f3.subarray(0, f3.length - 1)),
      a,
      "ERR_TRUNCATED",
    ],
    [169, "ends inside the final frame's length", withBody(B, f1, f2, f3.subarray(0, 3)), a, "ERR_TRUNCATED"],
    [170, "a trailing byte after the final frame", withBody(B, f1, f2, f3, [0]), a, "ERR_ENVELOPE_MALFORMED"],
    [171, "a whole frame after the final frame", withBody(B, f1, f2, f3, f1), a, "ERR_ENVELOPE_MALFORMED"],
    [
      172,
      "frame 1 marked final (rest dropped): its tag was made with the regular flag",
      withBody(B, cat([1], u32(64), f1.subarray(1))),
      a,
      "ERR_AUTHENTICATION_FAILED",
    ],
    [
      173,
      "final frame flagged regular: it reads as a regular frame cut short",
      withBody(B, f1, f2, cat([0], f3.subarray(1))),
      a,
      "ERR_TRUNCATED",
    ],
    [
      174,
      "final frame length 65 exceeds the frame size",
      withBody(B, f1, f2, cat([1], u32(65), f3.subarray(5))),
      a,
      "ERR_ENVELOPE_MALFORMED",
    ],
    [
      175,
      "unknown frame flag 0x02",
      withBody(B, cat([2], f1.subarray(1)), f2, f3),
      a,
      "ERR_ENVELOPE_MALFORMED",
    ],
    [
      176,
      "an empty final frame after a full frame (authentic, but not canonical)",
      withBody(
        SHORT,
        frame(X, SHORT.contentKey, 1, false, derived("plaintext:64", 64)),
        frame(X, SHORT.contentKey, 2, true, new Uint8Array(0)),
      ),
      a,
      "ERR_ENVELOPE_MALFORMED",
    ],
    [
      177,
      "frame 2 spliced from another message with the same data key",
      withBody(B, f1, B2.frames[1], f3),
      a,
      "ERR_AUTHENTICATION_FAILED",
    ],
    [
      178,
      "header of another message with the same data key over this body",
      cat(B2.header, body(B)),
      a,
      "ERR_AUTHENTICATION_FAILED",
    ],
    [
      179,
      "AES-256-GCM: frame 1 ciphertext altered",
      flip(AB.envelope, AB.header.length + 2),
      a,
      "ERR_AUTHENTICATION_FAILED",
    ],
    [
      180,
      "AES-256-GCM: frames 1 and 2 swapped",
      withBody(AB, AB.frames[1], AB.frames[0], AB.frames[2]),
      a,
      "ERR_AUTHENTICATION_FAILED",
    ],
    [181, "AES-256-GCM: final frame removed", withBody(AB, AB.frames[0], AB.frames[1]), a, "ERR_TRUNCATED"],
    [
      182,
      "empty message: final frame tag altered",
      flip(EMPTY.envelope, EMPTY.envelope.length - 16),
      a,
      "ERR_AUTHENTICATION_FAILED",
    ],
    [183, "empty message: body is one flag byte", withBody(EMPTY, [1]), a, "ERR_TRUNCATED"],
    [
      184,
      "final frame of another message (another data key) in place of the final frame",
      withBody(B, f1, f2, S3.frames[2]),
      a,
      "ERR_AUTHENTICATION_FAILED",
    ],
    [
      185,
      "final frame length lowered by one and its last byte dropped",
      withBody(SHORT, cat([1], u32(14), SHORT.frames[0].subarray(5, SHORT.frames[0].length - 1))),
      a,
      "ERR_AUTHENTICATION_FAILED",
    ],
    [
      186,
      "final frame of message 2 with the same data key (same index)",
      withBody(B, f1, f2, B2.frames[2]),
      a,
      "ERR_AUTHENTICATION_FAILED",
    ],
    [
      187,
      "frames 1 and 2 removed: the final frame alone, at index 1",
      withBody(B, f3),
      a,
      "ERR_AUTHENTICATION_FAILED",
    ],
  ];

  return cases.map(([id, comment, envelope, decryptWith, error, options]) => ({
    id,
    comment,
    envelope: hex(envelope),
    decryptWith,
    ...(options ? { options } : {}),
    error,
  }));
}

/**
 * The cases of test-vectors/envelopes-v1-rejections.json: rejection rules docs/FORMAT.md states that no case of the
 * frozen envelopes-v1.json pins. A separate file, so that envelopes-v1.json stays as released.
 */
function rejectionCases() {
  const X = "XCHACHA20_POLY1305";
  const plaintext = derived("plaintext:rejections", 100);
  const R = envelopeFor("rejections", {
    suite: X,
    frameSize: 64,
    context: { tenant: "acme" },
    plaintext,
    recipients: ["alice"],
  });
  const CAFE = envelopeFor("rejections-cafe", {
    suite: X,
    frameSize: 64,
    context: { tenant: "caf\u00e9" },
    plaintext,
    recipients: ["alice"],
  });
  const body = R.envelope.subarray(R.header.length);
  const k = R.encryptedDataKeys[0];
  const withEdk = (providerId, ciphertext) =>
    cat(
      R.authenticated,
      R.commitment,
      R.headerTag,
      u16(1),
      edk(utf8(providerId), utf8(k.keyId), ciphertext),
      body,
    );
  // An authenticated header with the context field replaced by `context` (C = its length).
  const withContext = (context) =>
    cat(
      R.authenticated.subarray(0, 43),
      u16(context.length),
      context,
      R.envelope.subarray(R.authenticated.length),
    );
  const a = ["alice"];
  const M = "ERR_ENVELOPE_MALFORMED";

  // [id, comment, envelope, decryptWith, error, options?]
  const cases = [
    // Section 5: the magic is checked on every byte present, "even from its first byte".
    [
      201,
      "one byte that is not the magic's first ('{', a JSON file): not an envelope, not a truncated one",
      ascii("{"),
      a,
      M,
    ],
    [
      202,
      "three bytes SLX: the magic differs at its third byte, and the input ends there",
      ascii("SLX"),
      a,
      M,
    ],
    // Section 5: each field is checked before the next is read.
    [
      203,
      "version 2, and the input ends right after the version byte",
      cat(ascii("SLKT"), [2]),
      a,
      "ERR_UNSUPPORTED_VERSION",
    ],
    // Section 6: at least 2 bytes; lengths within the context's C bytes.
    [204, "context length 0: the context has no room for its count", withContext(new Uint8Array(0)), a, M],
    [
      205,
      "a context value's length runs past the context's C bytes (into the commitment)",
      withContext(cat(u16(1), u16(1), utf8("a"), u16(40), utf8("x"))),
      a,
      M,
    ],
    // Section 2 and 6: strings are compared as they are, with no Unicode normalization.
    [
      206,
      "expectContext differs only by Unicode normalization: the envelope's value ends in U+00E9, the caller's in e U+0301",
      CAFE.envelope,
      a,
      "ERR_CONTEXT_MISMATCH",
      { expectContext: { tenant: "cafe\u0301" } },
    ],
    // Section 7: a key's provider id must equal the provider's (exactly: ids are bytes, not case-folded).
    [
      207,
      "provider id RAW (upper case) on alice's wrapped key: no provider has that id",
      withEdk("RAW", k.ciphertext),
      a,
      "ERR_NO_DECRYPTABLE_KEY",
    ],
    // Section 15: the raw provider's wrapped key is exactly 60 bytes.
    [
      208,
      "raw wrapped key of 61 bytes (a byte appended): the raw provider refuses any length but 60",
      withEdk("raw", cat(k.ciphertext, [0])),
      a,
      "ERR_NO_DECRYPTABLE_KEY",
    ],
  ];
  return cases.map(([id, comment, envelope, decryptWith, error, options]) => ({
    id,
    comment,
    envelope: hex(envelope),
    decryptWith,
    ...(options ? { options } : {}),
    error,
  }));
}

/** test-vectors/envelopes-v1-rejections.json as an object: same keys and schema as envelopes-v1.json, no valid cases. */
export async function rejectionVectors() {
  await ready();
  const file = {
    format: "sealkit-envelope",
    version: 1,
    generator: "tools/vectors",
    keys: Object.fromEntries(
      Object.entries(KEYS).map(([name, k]) => [
        name,
        { providerId: k.providerId, keyId: k.keyId, key: hex(k.key) },
      ]),
    ),
    valid: [],
    invalid: rejectionCases(),
  };
  selfCheck(file);
  return file;
}

/** Checks every case against the reference decryptor, so that no vector states an outcome the spec does not. */
function selfCheck(file) {
  const keysFor = (names) => names.map((n) => KEYS[n]);
  for (const v of file.valid) {
    for (const name of v.recipients) {
      const { plaintext, header } = referenceDecrypt(Buffer.from(v.envelope, "hex"), keysFor([name]));
      if (hex(plaintext) !== v.plaintext) throw new Error(`valid ${v.id}: plaintext differs`);
      if (header.frameSize !== v.frameSize || header.suite.name !== v.suite)
        throw new Error(`valid ${v.id}: header`);
    }
  }
  for (const v of file.invalid) {
    let code = "no error";
    try {
      referenceDecrypt(Buffer.from(v.envelope, "hex"), keysFor(v.decryptWith), v.options);
    } catch (error) {
      code = error.code ?? String(error);
    }
    if (code !== v.error)
      throw new Error(`invalid ${v.id} (${v.comment}): expected ${v.error}, reference gives ${code}`);
  }
}

/** test-vectors/envelopes-v1.json as an object. */
export async function envelopeVectors() {
  await ready();
  const file = {
    format: "sealkit-envelope",
    version: 1,
    generator: "tools/vectors",
    keys: Object.fromEntries(
      Object.entries(KEYS).map(([name, k]) => [
        name,
        { providerId: k.providerId, keyId: k.keyId, key: hex(k.key) },
      ]),
    ),
    valid: validCases(),
    invalid: invalidCases(),
  };
  selfCheck(file);
  return file;
}

/** test-vectors/context-v1.json as an object. */
export function contextVectors() {
  const validSpecs = [
    [1, "empty context: a zero count", {}],
    [2, "one pair", { tenant: "acme" }],
    [3, "pairs are sorted by key", { b: "2", a: "1", c: "3" }],
    [4, "an empty value", { a: "" }],
    [5, "a key that is a prefix of another sorts first", { ab: "2", a: "1" }],
    [6, "uppercase sorts before lowercase (bytes, not locale)", { a: "1", B: "2" }],
    [7, "UTF-8 byte order differs from UTF-16 order above U+FFFF", BYTE_ORDER_CONTEXT],
    [8, "unicode keys and values: CJK, emoji, combining marks, RTL", UNICODE_CONTEXT],
    [
      9,
      "no normalization: precomposed and decomposed é are different keys",
      { "\u00e9": "precomposed", "e\u0301": "decomposed" },
    ],
    [10, "many pairs", MANY_PAIRS],
    [11, "a 1,000-byte value", { blob: "v".repeat(1000) }],
    [12, "a NUL character is allowed", { "a\u0000b": "\u0000" }],
  ];
  const valid = validSpecs.map(([id, comment, context]) => {
    const encoding = encodeContextIndependently(context);
    if (hex(encoding) !== hex(encodeContext(context)))
      throw new Error(`context ${id}: core encodes differently`);
    return { id, comment, context, encoding: hex(encoding) };
  });
  const M = "ERR_ENVELOPE_MALFORMED";
  const invalidSpecs = [
    [101, "empty: no count", new Uint8Array(0)],
    [102, "count cut short (1 byte)", new Uint8Array([0])],
    [103, "keys not sorted", cat(u16(2), pair(utf8("b"), utf8("")), pair(utf8("a"), utf8("")))],
    [104, "duplicate key", cat(u16(2), pair(utf8("a"), utf8("1")), pair(utf8("a"), utf8("1")))],
    [105, "empty key", cat(u16(1), pair(utf8(""), utf8("x")))],
    [106, "key not UTF-8 (0xff)", cat(u16(1), pair([0xff], utf8("x")))],
    [107, "value not UTF-8 (lone continuation byte 0x80)", cat(u16(1), pair(utf8("a"), [0x80]))],
    [108, "value is an encoded surrogate (ed a0 80)", cat(u16(1), pair(utf8("a"), [0xed, 0xa0, 0x80]))],
    [109, "key is overlong UTF-8 for '/' (c0 af)", cat(u16(1), pair([0xc0, 0xaf], utf8("x")))],
    [110, "value truncated UTF-8 sequence (e2 82)", cat(u16(1), pair(utf8("a"), [0xe2, 0x82]))],
    [111, "count larger than the pairs present", cat(u16(2), pair(utf8("a"), utf8("1")))],
    [112, "key length runs past the end", cat(u16(1), u16(5), utf8("ab"))],
    [113, "value length missing", cat(u16(1), u16(1), utf8("a"))],
    [114, "value runs past the end", cat(u16(1), u16(1), utf8("a"), u16(3), utf8("x"))],
    [115, "a trailing byte", cat(u16(1), pair(utf8("a"), utf8("1")), [0])],
    [116, "a trailing byte after an empty context", cat(u16(0), [0])],
    [
      117,
      "sorted by UTF-16 code units instead of UTF-8 bytes",
      cat(u16(2), pair(utf8("\u{1F600}"), utf8("")), pair(utf8("\uFFFD"), utf8(""))),
    ],
    [118, "code point above U+10FFFF (f4 90 80 80)", cat(u16(1), pair(utf8("a"), [0xf4, 0x90, 0x80, 0x80]))],
  ];
  const invalid = invalidSpecs.map(([id, comment, encoding]) => ({
    id,
    comment,
    encoding: hex(encoding),
    error: M,
  }));
  return { format: "sealkit-context", version: 1, generator: "tools/vectors", valid, invalid };
}

/** A JSON file's text: two-space indentation and a final newline, so regeneration is byte for byte. */
export function toJson(value) {
  return `${JSON.stringify(value, null, 2)}\n`;
}
