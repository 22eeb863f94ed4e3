import { describe, expect, it } from "vitest";
import { concatBytes, toHex, utf8 } from "./bytes.js";
import { SealkitError, type SealkitErrorCode } from "./errors.js";
import {
  encodeAuthenticatedHeader,
  encodeHeader,
  MAX_FRAME_SIZE,
  parseHeader,
  replaceEncryptedDataKeys,
  tryParseHeader,
} from "./header.js";
import { AES_256_GCM, XCHACHA20_POLY1305 } from "./suites.js";
import { EDK, edkBytes, rawHeader, u16, validHeader } from "./testing/header-bytes.js";

function code(fn: () => unknown): SealkitErrorCode | string {
  try {
    fn();
  } catch (error) {
    return SealkitError.isInstance(error) ? error.code : (error as Error).name;
  }
  return "no error";
}

describe("parseHeader", () => {
  it("round-trips every field", () => {
    const keys = [
      EDK,
      { providerId: "aws-kms", keyId: "arn:aws:kms:x", ciphertext: new Uint8Array([1, 2, 3]) },
    ];
    const bytes = validHeader({
      suite: XCHACHA20_POLY1305,
      frameSize: 4096,
      context: { b: "2", a: "" },
      keys,
    });
    const header = parseHeader(concatBytes(bytes, new Uint8Array([1, 2, 3])));
    expect(header.length).toBe(bytes.length);
    expect(header.suite).toBe(XCHACHA20_POLY1305);
    expect(header.frameSize).toBe(4096);
    expect(header.context).toEqual({ a: "", b: "2" });
    expect(header.encryptedDataKeys.map((k) => [k.providerId, k.keyId, toHex(k.ciphertext)])).toEqual(
      keys.map((k) => [k.providerId, k.keyId, toHex(k.ciphertext)]),
    );
    expect(toHex(header.commitment)).toBe("cc".repeat(32));
    expect(toHex(header.headerTag)).toBe("dd".repeat(16));
  });

  it("replaces encrypted data keys and keeps the authenticated bytes", () => {
    const header = parseHeader(validHeader());
    const replaced = parseHeader(replaceEncryptedDataKeys(header, [{ ...EDK, keyId: "k2" }]));
    expect(toHex(replaced.authenticatedBytes)).toBe(toHex(header.authenticatedBytes));
    expect(replaced.encryptedDataKeys[0]!.keyId).toBe("k2");
  });

  const malformed: [string, Uint8Array, SealkitErrorCode][] = [
    ["bad magic", rawHeader({ magic: utf8("SLKX") }), "ERR_ENVELOPE_MALFORMED"],
    ["bad magic in the first byte of a short input", utf8("X"), "ERR_ENVELOPE_MALFORMED"],
    ["unknown version 0", rawHeader({ version: 0 }), "ERR_UNSUPPORTED_VERSION"],
    ["unknown version 2", rawHeader({ version: 2 }), "ERR_UNSUPPORTED_VERSION"],
    ["unknown suite 0x0000", rawHeader({ suite: 0 }), "ERR_UNSUPPORTED_SUITE"],
    ["unknown suite 0x0003", rawHeader({ suite: 3 }), "ERR_UNSUPPORTED_SUITE"],
    ["frame size 63", rawHeader({ frameSize: 63 }), "ERR_FRAME_SIZE"],
    ["frame size 0", rawHeader({ frameSize: 0 }), "ERR_FRAME_SIZE"],
    ["frame size 4 MiB + 1", rawHeader({ frameSize: MAX_FRAME_SIZE + 1 }), "ERR_FRAME_SIZE"],
    [
      "context keys unsorted",
      rawHeader({ context: concatBytes(u16(2), u16(1), utf8("b"), u16(0), u16(1), utf8("a"), u16(0)) }),
      "ERR_ENVELOPE_MALFORMED",
    ],
    [
      "context key duplicated",
      rawHeader({ context: concatBytes(u16(2), u16(1), utf8("a"), u16(0), u16(1), utf8("a"), u16(0)) }),
      "ERR_ENVELOPE_MALFORMED",
    ],
    [
      "context key empty",
      rawHeader({ context: concatBytes(u16(1), u16(0), u16(0)) }),
      "ERR_ENVELOPE_MALFORMED",
    ],
    [
      "context key invalid UTF-8",
      rawHeader({ context: concatBytes(u16(1), u16(1), new Uint8Array([0xff]), u16(0)) }),
      "ERR_ENVELOPE_MALFORMED",
    ],
    [
      "context value invalid UTF-8 (overlong)",
      rawHeader({ context: concatBytes(u16(1), u16(1), utf8("a"), u16(2), new Uint8Array([0xc0, 0xaf])) }),
      "ERR_ENVELOPE_MALFORMED",
    ],
    [
      "context key length past the end",
      rawHeader({ context: concatBytes(u16(1), u16(9), utf8("a")) }),
      "ERR_ENVELOPE_MALFORMED",
    ],
    ["context count past the end", rawHeader({ context: concatBytes(u16(1)) }), "ERR_ENVELOPE_MALFORMED"],
    ["context shorter than its count", rawHeader({ context: new Uint8Array([0]) }), "ERR_ENVELOPE_MALFORMED"],
    [
      "trailing bytes in context",
      rawHeader({ context: concatBytes(u16(0), new Uint8Array([0])) }),
      "ERR_ENVELOPE_MALFORMED",
    ],
    ["zero encrypted data keys", rawHeader({ edkSection: u16(0) }), "ERR_ENVELOPE_MALFORMED"],
    [
      "17 encrypted data keys (default limit 16)",
      rawHeader({ edkSection: u16(17) }),
      "ERR_TOO_MANY_ENCRYPTED_DATA_KEYS",
    ],
    [
      "empty provider id",
      rawHeader({ edkSection: concatBytes(u16(1), edkBytes(utf8(""), utf8("k"), utf8("c"))) }),
      "ERR_ENVELOPE_MALFORMED",
    ],
    [
      "empty key id",
      rawHeader({ edkSection: concatBytes(u16(1), edkBytes(utf8("raw"), utf8(""), utf8("c"))) }),
      "ERR_ENVELOPE_MALFORMED",
    ],
    [
      "empty ciphertext",
      rawHeader({ edkSection: concatBytes(u16(1), edkBytes(utf8("raw"), utf8("k"), utf8(""))) }),
      "ERR_ENVELOPE_MALFORMED",
    ],
    [
      "provider id invalid UTF-8",
      rawHeader({ edkSection: concatBytes(u16(1), edkBytes(new Uint8Array([0xfe]), utf8("k"), utf8("c"))) }),
      "ERR_ENVELOPE_MALFORMED",
    ],
    [
      "key id invalid UTF-8 (lone surrogate encoded)",
      rawHeader({
        edkSection: concatBytes(u16(1), edkBytes(utf8("raw"), new Uint8Array([0xed, 0xa0, 0x80]), utf8("c"))),
      }),
      "ERR_ENVELOPE_MALFORMED",
    ],
    ["truncated in the fixed part", validHeader().subarray(0, 20), "ERR_TRUNCATED"],
    ["truncated in the commitment", validHeader().subarray(0, 60), "ERR_TRUNCATED"],
    [
      "truncated in the encrypted data keys",
      validHeader().subarray(0, validHeader().length - 1),
      "ERR_TRUNCATED",
    ],
    ["empty input", new Uint8Array(0), "ERR_TRUNCATED"],
  ];
  for (const [name, bytes, expected] of malformed) {
    it(`rejects ${name} with ${expected}`, () => {
      expect(code(() => parseHeader(bytes))).toBe(expected);
    });
  }

  it("refuses too many encrypted data keys before reading them", () => {
    // Count 3 with no key bytes after it: the limit fires, not truncation.
    const bytes = rawHeader({ edkSection: u16(3) });
    expect(code(() => parseHeader(bytes, { maxEncryptedDataKeys: 2 }))).toBe(
      "ERR_TOO_MANY_ENCRYPTED_DATA_KEYS",
    );
    expect(code(() => parseHeader(bytes, { maxEncryptedDataKeys: 3 }))).toBe("ERR_TRUNCATED");
    expect(() => parseHeader(bytes, { maxEncryptedDataKeys: 0 })).toThrow(RangeError);
  });

  it("refuses headers over 1 MiB, parsing and encoding", () => {
    const big = { providerId: "raw", keyId: "k", ciphertext: new Uint8Array(65535) };
    const keys = Array.from({ length: 17 }, () => big);
    const authenticated = encodeAuthenticatedHeader({
      suite: AES_256_GCM,
      frameSize: 64,
      messageId: new Uint8Array(32),
      context: {},
    });
    expect(code(() => encodeHeader(authenticated, new Uint8Array(32), new Uint8Array(16), keys))).toBe(
      "ERR_LIMIT_EXCEEDED",
    );
    const section = concatBytes(u16(17), ...keys.map((k) => edkBytes(utf8("raw"), utf8("k"), k.ciphertext)));
    const bytes = rawHeader({ edkSection: section });
    expect(code(() => parseHeader(bytes, { maxEncryptedDataKeys: 17 }))).toBe("ERR_LIMIT_EXCEEDED");
    // ... and as soon as a length says so, even when the bytes are not there yet.
    expect(code(() => tryParseHeader(bytes.subarray(0, 200_000), { maxEncryptedDataKeys: 17 }))).toBe(
      "no error",
    );
    expect(code(() => tryParseHeader(bytes.subarray(0, 1_048_600), { maxEncryptedDataKeys: 17 }))).toBe(
      "ERR_LIMIT_EXCEEDED",
    );
  });

  it("tryParseHeader reports incomplete input instead of failing", () => {
    const bytes = validHeader();
    for (let n = 0; n < bytes.length; n++) {
      const result = tryParseHeader(bytes.subarray(0, n));
      expect(result.complete).toBe(false);
      if (!result.complete) expect(result.needed).toBeGreaterThan(n);
    }
    const done = tryParseHeader(bytes);
    expect(done.complete).toBe(true);
  });

  it("names a wrong file before asking for more bytes", () => {
    expect(code(() => tryParseHeader(utf8("%PDF")))).toBe("ERR_ENVELOPE_MALFORMED");
    expect(code(() => tryParseHeader(concatBytes(utf8("SLKT"), new Uint8Array([9]))))).toBe(
      "ERR_UNSUPPORTED_VERSION",
    );
  });
});

describe("encoding checks", () => {
  it("refuses bad fields with TypeError/RangeError or coded errors", () => {
    expect(code(() => validHeader({ frameSize: 32 }))).toBe("ERR_FRAME_SIZE");
    expect(code(() => validHeader({ keys: [] }))).toBe("RangeError");
    expect(code(() => validHeader({ keys: [{ ...EDK, keyId: "" }] }))).toBe("RangeError");
    expect(code(() => validHeader({ context: { "": "x" } }))).toBe("TypeError");
    expect(code(() => validHeader({ context: { a: "\uD800" } }))).toBe("TypeError");
    expect(code(() => validHeader({ context: { a: "x".repeat(70_000) } }))).toBe("ERR_LIMIT_EXCEEDED");
  });
});
