// Suite: one-shot encrypt and decrypt: round trips, the key schedule, tampering, and every error code.

import {
  encodeContext,
  FRAME_FINAL,
  type KeyProvider,
  parseHeader,
  rawKeyProvider,
  deriveMessageKeys as referenceDeriveMessageKeys,
  SUITES,
  type SuiteName,
} from "@sealkit/core";
import {
  assert,
  assertEqualBytes,
  type Cipher,
  expectCode,
  expectSealkitError,
  expectThrows,
  type TestCase,
  testBytes,
} from "./harness.js";

export const SUITE_NAMES: readonly SuiteName[] = ["XCHACHA20_POLY1305", "AES_256_GCM"];

/** A raw provider with a fixed test key. */
export function testProvider(keyId = "test-key", seed = 7): KeyProvider {
  return rawKeyProvider({ keyId, key: testBytes(32, seed) });
}

/** Sizes around frame boundaries for a frame size. */
export function boundarySizes(frameSize: number): number[] {
  return [
    0,
    1,
    frameSize - 1,
    frameSize,
    frameSize + 1,
    2 * frameSize - 1,
    2 * frameSize,
    2 * frameSize + 1,
    5 * frameSize + 7,
  ];
}

export function envelopeCases(cipher: Cipher): TestCase[] {
  const { encrypt, decrypt } = cipher;
  const providers = [testProvider()];
  const cases: TestCase[] = [];

  for (const suite of SUITE_NAMES) {
    cases.push({
      name: `${suite}: round trips for sizes around frame boundaries (frame sizes 64 and 1000)`,
      async run() {
        for (const frameSize of [64, 1000]) {
          for (const size of boundarySizes(frameSize)) {
            const plaintext = testBytes(size, size + 1);
            const sealed = await encrypt(plaintext, {
              providers,
              suite,
              frameSize,
              context: { n: String(size) },
            });
            const { plaintext: opened, header } = await decrypt(sealed, { providers });
            assertEqualBytes(opened, plaintext, `${suite} frame ${frameSize} size ${size}`);
            assert(
              header.suite.name === suite && header.frameSize === frameSize,
              "header suite and frame size",
            );
            assert(header.context.n === String(size), "header context");
          }
        }
      },
    });
    cases.push({
      name: `${suite}: a plaintext that fills its frames exactly ends with a full final frame`,
      async run() {
        const frameSize = 64;
        const sealed = await encrypt(testBytes(128), { providers, suite, frameSize });
        const header = parseHeader(sealed);
        const finalStart = header.length + (frameSize + 17);
        assert(sealed[header.length] === 0 && sealed[finalStart] === FRAME_FINAL, "regular then final flag");
        assert(sealed.length === finalStart + 21 + frameSize, "final frame holds a full frame");
        const empty = await encrypt(new Uint8Array(0), { providers, suite, frameSize });
        assert(empty.length === parseHeader(empty).length + 21, "empty plaintext: one empty final frame");
      },
    });
    cases.push({
      name: `${suite}: a 1 MiB plaintext in the default frame size round trips`,
      async run() {
        const plaintext = testBytes(1 << 20, 3);
        const sealed = await encrypt(plaintext, { providers, suite });
        assertEqualBytes((await decrypt(sealed, { providers })).plaintext, plaintext, "1 MiB");
      },
    });
    cases.push({
      name: `${suite}: the fast key schedule equals core's reference deriveMessageKeys`,
      async run() {
        for (let i = 0; i < 8; i++) {
          const dataKey = testBytes(32, 100 + i);
          const messageId = testBytes(32, 200 + i);
          const ours = await cipher.deriveMessageKeys(dataKey, messageId, SUITES[suite]);
          const reference = await referenceDeriveMessageKeys(dataKey, messageId, SUITES[suite]);
          assertEqualBytes(ours.contentKey, reference.contentKey, "content key");
          assertEqualBytes(ours.commitment, reference.commitment, "commitment");
        }
      },
    });
  }

  cases.push({
    name: "every recipient can open a multi-recipient envelope alone; a stranger cannot",
    async run() {
      const a = testProvider("a", 1);
      const b = testProvider("b", 2);
      const sealed = await encrypt(testBytes(300), { providers: [a, b], frameSize: 64 });
      assert(parseHeader(sealed).encryptedDataKeys.length === 2, "two encrypted data keys");
      for (const p of [a, b])
        assertEqualBytes((await decrypt(sealed, { providers: [p] })).plaintext, testBytes(300), "alone");
      await expectCode(
        () => decrypt(sealed, { providers: [testProvider("c", 3)] }),
        "ERR_NO_DECRYPTABLE_KEY",
        "stranger",
      );
    },
  });

  cases.push({
    name: "wrong key: ERR_NO_DECRYPTABLE_KEY",
    async run() {
      const sealed = await encrypt(testBytes(10), { providers });
      await expectCode(
        () => decrypt(sealed, { providers: [testProvider("test-key", 99)] }),
        "ERR_NO_DECRYPTABLE_KEY",
        "same key id, other key",
      );
    },
  });

  cases.push({
    name: "expectContext: subset accepted, a missing or different pair is ERR_CONTEXT_MISMATCH",
    async run() {
      const sealed = await encrypt(testBytes(10), { providers, context: { tenant: "acme", purpose: "x" } });
      await decrypt(sealed, { providers, expectContext: { tenant: "acme" } });
      await expectCode(
        () => decrypt(sealed, { providers, expectContext: { tenant: "other" } }),
        "ERR_CONTEXT_MISMATCH",
        "different value",
      );
      await expectCode(
        () => decrypt(sealed, { providers, expectContext: { region: "eu" } }),
        "ERR_CONTEXT_MISMATCH",
        "missing key",
      );
    },
  });

  cases.push({
    name: "unknown suite: ERR_UNSUPPORTED_SUITE on encryption and on decryption",
    async run() {
      await expectCode(
        () => encrypt(testBytes(1), { providers, suite: "ROT13" as SuiteName }),
        "ERR_UNSUPPORTED_SUITE",
        "encrypt",
      );
      const sealed = await encrypt(testBytes(1), { providers });
      sealed[6] = 0x7f; // suite id low byte
      await expectCode(() => decrypt(sealed, { providers }), "ERR_UNSUPPORTED_SUITE", "decrypt");
    },
  });

  cases.push({
    name: "too many encrypted data keys: ERR_TOO_MANY_ENCRYPTED_DATA_KEYS before any provider call",
    async run() {
      const many = Array.from({ length: 3 }, (_, i) => testProvider(`k${i}`, i + 10));
      const sealed = await encrypt(testBytes(5), { providers: many });
      let calls = 0;
      const counting: KeyProvider = {
        ...many[0]!,
        providerId: "raw",
        canDecrypt: () => true,
        generateDataKey: many[0]!.generateDataKey,
        encryptDataKey: many[0]!.encryptDataKey,
        decryptDataKey: (r) => {
          calls++;
          return many[0]!.decryptDataKey(r);
        },
      };
      await expectCode(
        () => decrypt(sealed, { providers: [counting], maxEncryptedDataKeys: 2 }),
        "ERR_TOO_MANY_ENCRYPTED_DATA_KEYS",
        "limit 2",
      );
      assert(calls === 0, "no provider call");
      await decrypt(sealed, { providers: many.slice(2), maxEncryptedDataKeys: 3 });
    },
  });

  cases.push({
    name: "encryption writes no more encrypted data keys than decryption accepts (maxEncryptedDataKeys, default 16)",
    async run() {
      const seventeen = Array.from({ length: 17 }, (_, i) => testProvider(`k${i}`, i + 20));
      let calls = 0;
      const counted = seventeen.map((p) => ({
        ...p,
        generateDataKey: (r: Parameters<KeyProvider["generateDataKey"]>[0]) => {
          calls++;
          return p.generateDataKey(r);
        },
        encryptDataKey: (r: Parameters<KeyProvider["encryptDataKey"]>[0]) => {
          calls++;
          return p.encryptDataKey(r);
        },
      }));
      await expectCode(
        () => encrypt(testBytes(5), { providers: counted }),
        "ERR_TOO_MANY_ENCRYPTED_DATA_KEYS",
        "17 providers",
      );
      assert(calls === 0, "refused before any provider call");
      await decrypt(await encrypt(testBytes(5), { providers: seventeen.slice(0, 16) }), {
        providers: seventeen.slice(15, 16),
      });
      const raised = await encrypt(testBytes(5), { providers: seventeen, maxEncryptedDataKeys: 17 });
      await decrypt(raised, { providers: seventeen.slice(16), maxEncryptedDataKeys: 17 });

      // One provider that wraps under several keys: counted once it has answered, its data key wiped.
      let issued: Uint8Array | undefined;
      const fanOut: KeyProvider = {
        ...providers[0]!,
        async generateDataKey(r) {
          const key = await providers[0]!.generateDataKey(r);
          issued = key.plaintext;
          return { plaintext: key.plaintext, encryptedDataKeys: Array(3).fill(key.encryptedDataKeys[0]) };
        },
      };
      await expectCode(
        () => encrypt(testBytes(5), { providers: [fanOut], maxEncryptedDataKeys: 2 }),
        "ERR_TOO_MANY_ENCRYPTED_DATA_KEYS",
        "3 keys from one provider",
      );
      assert(issued?.every((b) => b === 0) === true, "the refused data key is wiped");
      await expectThrows(
        () => encrypt(testBytes(5), { providers, maxEncryptedDataKeys: 0 }),
        RangeError,
        "maxEncryptedDataKeys 0",
      );
    },
  });

  cases.push({
    name: "frame size out of bounds: ERR_FRAME_SIZE on encryption and in a header",
    async run() {
      for (const frameSize of [0, 63, 4 * 1024 * 1024 + 1, 100.5]) {
        await expectCode(
          () => encrypt(testBytes(1), { providers, frameSize }),
          "ERR_FRAME_SIZE",
          `${frameSize}`,
        );
      }
      const sealed = await encrypt(testBytes(1), { providers });
      sealed.set([0, 0, 0, 1], 7);
      await expectCode(() => decrypt(sealed, { providers }), "ERR_FRAME_SIZE", "header frame size 1");
    },
  });

  cases.push({
    name: "wrong argument types are TypeErrors with precise messages",
    async run() {
      const bad = (v: unknown) => v as never;
      await expectThrows(
        () => encrypt(bad("text"), { providers }),
        TypeError,
        "string plaintext",
        /"plaintext" expected Uint8Array, got string/,
      );
      await expectThrows(() => encrypt(testBytes(1), bad(undefined)), TypeError, "no options", /"options"/);
      await expectThrows(
        () => encrypt(testBytes(1), bad({ providers: "x" })),
        TypeError,
        "providers",
        /"providers"/,
      );
      await expectThrows(() => encrypt(testBytes(1), { providers: [] }), RangeError, "empty providers");
      await expectThrows(
        () => encrypt(testBytes(1), bad({ providers, suite: 1 })),
        TypeError,
        "suite",
        /"suite"/,
      );
      await expectThrows(
        () => encrypt(testBytes(1), bad({ providers, frameSize: "64" })),
        TypeError,
        "frameSize",
      );
      await expectThrows(
        () => encrypt(testBytes(1), bad({ providers, context: { a: 1 } })),
        TypeError,
        "context value",
      );
      await expectThrows(
        () => decrypt(bad([1, 2]), { providers }),
        TypeError,
        "array envelope",
        /"envelope" expected Uint8Array, got array/,
      );
      await expectThrows(
        () => decrypt(testBytes(1), bad({ providers, expectContext: "x" })),
        TypeError,
        "expectContext",
      );
      await expectThrows(
        () => decrypt(testBytes(1), bad({ providers, maxEncryptedDataKeys: "2" })),
        TypeError,
        "maxEncryptedDataKeys",
      );
    },
  });

  cases.push({
    name: "not an envelope, a truncated header and trailing bytes have their codes",
    async run() {
      await expectCode(
        () => decrypt(new TextEncoder().encode("hello world"), { providers }),
        "ERR_ENVELOPE_MALFORMED",
        "bad magic",
      );
      const sealed = await encrypt(testBytes(100), { providers, frameSize: 64 });
      await expectCode(() => decrypt(sealed.subarray(0, 20), { providers }), "ERR_TRUNCATED", "header cut");
      const header = parseHeader(sealed);
      await expectCode(
        () => decrypt(sealed.subarray(0, header.length), { providers }),
        "ERR_TRUNCATED",
        "no body",
      );
      const longer = new Uint8Array(sealed.length + 1);
      longer.set(sealed);
      await expectCode(() => decrypt(longer, { providers }), "ERR_ENVELOPE_MALFORMED", "trailing byte");
    },
  });

  cases.push({
    name: "the header's context is bound: an edited context fails authentication (or parsing), never decrypts",
    async run() {
      const sealed = await encrypt(testBytes(10), { providers, context: { tenant: "acme" } });
      const at = indexOf(sealed, encodeContext({ tenant: "acme" }));
      // The encoding is count(2) keylen(2) "tenant" valuelen(2) "acme": byte 12 is the "a" of "acme".
      sealed[at + 12] = "b".charCodeAt(0);
      await expectSealkitError(() => decrypt(sealed, { providers }), "edited context");
    },
  });

  for (const suite of SUITE_NAMES) {
    cases.push({
      name: `${suite}: every single-byte change, every truncation and every frame reorder of a small envelope fails with a typed error`,
      async run() {
        const frameSize = 64;
        const plaintext = testBytes(3 * frameSize + 10, 5);
        const sealed = await encrypt(plaintext, { providers, suite, frameSize, context: { k: "v" } });
        for (let i = 0; i < sealed.length; i++) {
          const bad = sealed.slice();
          bad[i]! ^= 0x01;
          await expectSealkitError(() => decrypt(bad, { providers }), `flip bit 0 of byte ${i}`);
          bad[i] = sealed[i]! ^ 0xff;
          await expectSealkitError(() => decrypt(bad, { providers }), `invert byte ${i}`);
        }
        for (let length = 0; length < sealed.length; length++) {
          await expectSealkitError(
            () => decrypt(sealed.subarray(0, length), { providers }),
            `truncated to ${length}`,
          );
        }
        for (const order of frameOrders(4)) {
          const reordered = reorderFrames(sealed, frameSize, order);
          await expectSealkitError(() => decrypt(reordered, { providers }), `frame order ${order.join(",")}`);
        }
      },
    });
  }
  return cases;
}

function indexOf(haystack: Uint8Array, needle: Uint8Array): number {
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return i;
  }
  throw new Error("not found");
}

/** Every permutation of `n` frames except the identity. */
export function frameOrders(n: number): number[][] {
  const out: number[][] = [];
  const permute = (prefix: number[], rest: number[]) => {
    if (rest.length === 0) {
      if (prefix.some((v, i) => v !== i)) out.push(prefix);
      return;
    }
    for (const [i, v] of rest.entries()) permute([...prefix, v], [...rest.slice(0, i), ...rest.slice(i + 1)]);
  };
  permute(
    [],
    Array.from({ length: n }, (_, i) => i),
  );
  return out;
}

/** The envelope with its frames (all regular but the last) put in another order. */
export function reorderFrames(sealed: Uint8Array, frameSize: number, order: number[]): Uint8Array {
  const header = parseHeader(sealed);
  const regular = frameSize + 17;
  const frames: Uint8Array[] = [];
  let offset = header.length;
  for (let i = 0; i < order.length; i++) {
    const end = i === order.length - 1 ? sealed.length : offset + regular;
    frames.push(sealed.subarray(offset, end));
    offset = end;
  }
  const out = new Uint8Array(sealed.length);
  out.set(sealed.subarray(0, header.length));
  let at = header.length;
  for (const i of order) {
    out.set(frames[i]!, at);
    at += frames[i]!.length;
  }
  return out;
}
