// Node-side checks of the primitives beyond the shared suite: Wycheproof counts, and agreement with
// libsodium-wrappers (the library the XChaCha suite must keep pace with) on random inputs.

import { toHex } from "@sealkit/core";
import sodium from "libsodium-wrappers";
import { expect, test } from "vitest";
import * as cipher from "./index.js";
import { aes256gcm, chacha20poly1305, xchacha20poly1305 } from "./index.js";
import { primitiveCases, type WycheproofTally } from "./test-suites/primitives.js";

test("Wycheproof: every case runs; the ones outside AES-256/96-bit IV are counted as refused", async () => {
  const tallies: WycheproofTally[] = [];
  for (const c of primitiveCases(cipher, (t) => tallies.push(t)).slice(0, 3)) await c.run();
  expect(tallies).toEqual([
    { file: "xchacha20_poly1305_test.json", valid: 246, invalid: 60, refusedParameters: 9 },
    { file: "chacha20_poly1305_test.json", valid: 256, invalid: 60, refusedParameters: 9 },
    { file: "aes_gcm_test.json", valid: 39, invalid: 27, refusedParameters: 250 },
  ]);
});

test("xchacha20poly1305 and chacha20poly1305 agree with libsodium-wrappers on random inputs", async () => {
  await sodium.ready;
  for (const length of [0, 1, 63, 64, 65, 1000, 65536]) {
    const key = crypto.getRandomValues(new Uint8Array(32));
    const nonce = crypto.getRandomValues(new Uint8Array(24));
    const aad = crypto.getRandomValues(new Uint8Array(length % 40));
    const msg = crypto.getRandomValues(new Uint8Array(length));
    const ours = await xchacha20poly1305.encrypt(key, nonce, msg, aad);
    // Compared as hex: toEqual walks a 64 KiB array element by element, which took over 5 s on a loaded machine.
    expect(toHex(ours)).toBe(
      toHex(sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(msg, aad, null, nonce, key)),
    );
    const n12 = nonce.subarray(0, 12);
    expect(toHex(await chacha20poly1305.encrypt(key, n12, msg, aad))).toBe(
      toHex(sodium.crypto_aead_chacha20poly1305_ietf_encrypt(msg, aad, null, n12, key)),
    );
  }
});

test("aes256gcm decrypts what it encrypts for sizes around the block size", async () => {
  const key = crypto.getRandomValues(new Uint8Array(32));
  const nonce = crypto.getRandomValues(new Uint8Array(12));
  for (const length of [0, 1, 15, 16, 17, 4096]) {
    const msg = crypto.getRandomValues(new Uint8Array(length));
    expect(await aes256gcm.decrypt(key, nonce, await aes256gcm.encrypt(key, nonce, msg))).toEqual(msg);
  }
});
