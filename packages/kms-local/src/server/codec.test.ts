// The awsJson1_1 codec: strict types, strict base64, unknown members ignored, blobs and timestamps converted back.

import { describe, expect, it } from "vitest";
import { decodeRequest, encodeResponse } from "./codec.js";
import { OPERATION_MODELS } from "./model.generated.js";
import { WireError } from "./wire-errors.js";

const encrypt = OPERATION_MODELS.Encrypt!;
const body = (v: unknown) => Buffer.from(JSON.stringify(v));

function failure(fn: () => unknown): { name: string; message: string } {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(WireError);
    return { name: (e as WireError).awsName, message: (e as WireError).message };
  }
  throw new Error("expected a failure");
}

describe("decodeRequest", () => {
  it("decodes base64 blobs to Uint8Array, keeps maps and lists, ignores unknown members and nulls", () => {
    const r = decodeRequest(
      encrypt,
      body({
        KeyId: "alias/a",
        Plaintext: "aGVsbG8=",
        EncryptionContext: { t: "1" },
        GrantTokens: ["g"],
        Extra: 1,
        DryRun: null,
      }),
    );
    expect(r.Plaintext).toBeInstanceOf(Uint8Array);
    expect(Buffer.from(r.Plaintext as Uint8Array).toString()).toBe("hello");
    expect(r).toMatchObject({ KeyId: "alias/a", EncryptionContext: { t: "1" }, GrantTokens: ["g"] });
    expect("Extra" in r).toBe(false);
    expect("DryRun" in r).toBe(false);
  });

  it("refuses invalid base64, wrong types and non-object bodies with SerializationException", () => {
    expect(failure(() => decodeRequest(encrypt, body({ KeyId: "k", Plaintext: "aGVsbG8" }))).name).toBe(
      "SerializationException",
    );
    expect(failure(() => decodeRequest(encrypt, body({ KeyId: "k", Plaintext: "a$==" }))).message).toMatch(
      /Plaintext.*base64/,
    );
    expect(failure(() => decodeRequest(encrypt, body({ KeyId: 5, Plaintext: "AA==" }))).message).toBe(
      "Value of 'KeyId' must be a string, got number.",
    );
    expect(
      failure(() =>
        decodeRequest(encrypt, body({ KeyId: "k", Plaintext: "AA==", EncryptionContext: { a: 1 } })),
      ).name,
    ).toBe("SerializationException");
    expect(
      failure(() => decodeRequest(encrypt, body({ KeyId: "k", Plaintext: "AA==", GrantTokens: "g" }))).name,
    ).toBe("SerializationException");
    expect(failure(() => decodeRequest(encrypt, Buffer.from("{not json"))).message).toMatch(/not valid JSON/);
    expect(failure(() => decodeRequest(encrypt, Buffer.from("[1]"))).name).toBe("SerializationException");
    expect(
      failure(() => decodeRequest(OPERATION_MODELS.GenerateRandom!, body({ NumberOfBytes: "32" }))).name,
    ).toBe("SerializationException");
  });

  it("refuses missing required members with ValidationException in AWS's wording", () => {
    expect(failure(() => decodeRequest(encrypt, body({ KeyId: "k" })))).toEqual({
      name: "ValidationException",
      message:
        "1 validation error detected: Value null at 'plaintext' failed to satisfy constraint: Member must not be null",
    });
  });

  it("refuses a body that is not UTF-8 with SerializationException: invalid bytes are not read as U+FFFD", () => {
    // Buffer#toString("utf8") replaced each invalid byte with U+FFFD, so an encryption context {"a": "\xff"} was
    // bound as {"a": "\ufffd"}: every invalid byte, and U+FFFD itself, named the same context (the local KMS
    // refuses lone surrogates, the other way to such a collision, for the same reason).
    for (const bad of [[0xff], [0xc3], [0xed, 0xa0, 0x80], [0xc0, 0xaf], [0xf8, 0x88, 0x80, 0x80, 0x80]]) {
      const raw = Buffer.concat([
        Buffer.from('{"KeyId":"k","Plaintext":"AA==","EncryptionContext":{"a":"'),
        Buffer.from(bad),
        Buffer.from('"}}'),
      ]);
      expect(failure(() => decodeRequest(encrypt, raw))).toEqual({
        name: "SerializationException",
        message: "Request body is not valid JSON: it is not UTF-8.",
      });
    }
    // Well-formed UTF-8 beyond ASCII (2, 3 and 4 bytes) and U+FFFD sent as such are data.
    const r = decodeRequest(
      encrypt,
      Buffer.from('{"KeyId":"k","Plaintext":"AA==","EncryptionContext":{"a":"é€😀\uFFFD"}}'),
    );
    expect(r.EncryptionContext).toEqual({ a: "é€😀\ufffd" });
  });

  it("ignores members named like Object.prototype's (constructor, toString, __proto__...), which the model does not know", () => {
    // The model's member tables are plain objects: looked up by a client's key, "toString" found
    // Object.prototype.toString and was decoded as a structure, and "__proto__" replaced the request's prototype.
    const r = decodeRequest(
      encrypt,
      Buffer.from(
        '{"KeyId":"k","Plaintext":"AA==","toString":{},"valueOf":{},"hasOwnProperty":{},"constructor":{"keys":{}},' +
          '"__proto__":{"toString":{},"isPrototypeOf":{}},"GrantTokens":["g"]}',
      ),
    );
    expect(Object.keys(r).sort()).toEqual(["GrantTokens", "KeyId", "Plaintext"]);
    expect(Object.getPrototypeOf(r)).toBe(Object.prototype);
    expect(typeof r.toString).toBe("function");
    expect(typeof r.hasOwnProperty).toBe("function");
    // The same inside a structure member of the model (CreateKey's Tags entries).
    const tags = decodeRequest(
      OPERATION_MODELS.CreateKey!,
      Buffer.from('{"Tags":[{"TagKey":"k","TagValue":"v","__proto__":{"valueOf":{}},"constructor":{}}]}'),
    ).Tags as Record<string, unknown>[];
    expect(Object.keys(tags[0]!)).toEqual(["TagKey", "TagValue"]);
    expect(Object.getPrototypeOf(tags[0])).toBe(Object.prototype);
  });

  it("keeps a __proto__ key of an encryption context as data", () => {
    const r = decodeRequest(
      encrypt,
      Buffer.from('{"KeyId":"k","Plaintext":"AA==","EncryptionContext":{"__proto__":"x"}}'),
    );
    const ctx = r.EncryptionContext as Record<string, string>;
    expect(Object.keys(ctx)).toEqual(["__proto__"]);
    expect(Object.getPrototypeOf(ctx)).toBe(Object.prototype);
  });
});

describe("encodeResponse", () => {
  it("encodes blobs as base64, dates as epoch seconds, drops unknown members and wipes Plaintext", () => {
    const plaintext = new Uint8Array([1, 2, 3]);
    const json = JSON.parse(
      encodeResponse(OPERATION_MODELS.GenerateDataKey!, {
        CiphertextBlob: new Uint8Array([9]),
        Plaintext: plaintext,
        KeyId: "arn",
        Internal: "secret",
      }),
    );
    expect(json).toEqual({ CiphertextBlob: "CQ==", Plaintext: "AQID", KeyId: "arn" });
    expect([...plaintext]).toEqual([0, 0, 0]);
    const described = JSON.parse(
      encodeResponse(OPERATION_MODELS.DescribeKey!, {
        KeyMetadata: {
          KeyId: "k",
          CreationDate: new Date(1_700_000_000_500),
          Enabled: true,
          EncryptionAlgorithms: ["SYMMETRIC_DEFAULT"],
        },
      }),
    );
    expect(described).toEqual({
      KeyMetadata: {
        KeyId: "k",
        CreationDate: 1_700_000_000.5,
        Enabled: true,
        EncryptionAlgorithms: ["SYMMETRIC_DEFAULT"],
      },
    });
    expect(encodeResponse(OPERATION_MODELS.EnableKey!, undefined)).toBe("{}");
  });
});
