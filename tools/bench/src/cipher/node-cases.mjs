// The Node-only implementations: node:crypto's native ChaCha20-Poly1305 and AES-256-GCM (the ceiling) and the
// AWS Encryption SDK for JavaScript with a raw AES keyring in its default configuration.

import { createCipheriv, createDecipheriv, randomBytes as nodeRandomBytes } from "node:crypto";
import {
  buildClient,
  CommitmentPolicy,
  RawAesKeyringNode,
  RawAesWrappingSuiteIdentifier,
} from "@aws-crypto/client-node";
import { correctnessFailure } from "./cases.mjs";
import { sameBytes } from "./data.mjs";

function counterNonce(index) {
  const nonce = Buffer.alloc(12);
  nonce.writeUInt32BE(Math.floor(index / 0x100000000), 4);
  nonce.writeUInt32BE(index >>> 0, 8);
  return nonce;
}

/** node:crypto AEAD, one cipher object per piece, tag appended to the ciphertext as the others do. */
export function nodeCryptoImplementation(algorithm) {
  const key = nodeRandomBytes(32);
  const aad = Buffer.alloc(1);
  const id = algorithm === "aes-256-gcm" ? "node-aes" : "node-chacha";
  const name = `node:crypto ${algorithm}`;
  const seal = (piece, nonce) => {
    const cipher = createCipheriv(algorithm, key, nonce, { authTagLength: 16 });
    cipher.setAAD(aad);
    const head = cipher.update(piece);
    const tail = cipher.final();
    const out = new Uint8Array(head.length + tail.length + 16);
    out.set(head, 0);
    out.set(tail, head.length);
    out.set(cipher.getAuthTag(), head.length + tail.length);
    return out;
  };
  const open = (sealed, nonce) => {
    const decipher = createDecipheriv(algorithm, key, nonce, { authTagLength: 16 });
    decipher.setAAD(aad);
    decipher.setAuthTag(sealed.subarray(sealed.length - 16));
    const head = decipher.update(sealed.subarray(0, sealed.length - 16));
    const tail = decipher.final();
    return tail.length === 0 ? head : Buffer.concat([head, tail]);
  };
  return {
    id,
    name,
    async setup(workload) {
      const n = workload.pieces.length;
      const nonceFor = workload.kind === "bulk" ? (i) => counterNonce(i + 1) : () => nodeRandomBytes(12);
      const nonces = new Array(n);
      const sealed = new Array(n);
      for (let i = 0; i < n; i++) {
        nonces[i] = nonceFor(i);
        sealed[i] = seal(workload.pieces[i], nonces[i]);
      }
      for (let i = 0; i < n; i++) {
        if (!sameBytes(open(sealed[i], nonces[i]), workload.pieces[i])) {
          throw correctnessFailure(name, `piece ${i} did not decrypt to its plaintext`);
        }
      }
      return {
        encrypt() {
          for (let i = 0; i < n; i++) seal(workload.pieces[i], nonceFor(i));
        },
        decrypt() {
          for (let i = 0; i < n; i++) open(sealed[i], nonces[i]);
        },
      };
    },
  };
}

/**
 * The AWS Encryption SDK (@aws-crypto/client-node 5) as users get it: buildClient() with its default commitment
 * policy, hence its default suite (AES-256-GCM, HKDF-SHA-512, key commitment, ECDSA P-384 signature) and frame
 * length (4 KiB), under a RawAesKeyringNode. One message for the bulk plaintext, one per small message.
 */
export function awsSdkImplementation() {
  const { encrypt, decrypt } = buildClient(CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT);
  const keyring = new RawAesKeyringNode({
    keyName: "bench-key",
    keyNamespace: "bench",
    unencryptedMasterKey: new Uint8Array(nodeRandomBytes(32)),
    wrappingSuite: RawAesWrappingSuiteIdentifier.AES256_GCM_IV12_TAG16_NO_PADDING,
  });
  const encryptionContext = { purpose: "bench" };
  const name = "AWS Encryption SDK (client-node 5, defaults)";
  return {
    id: "aws-sdk",
    name,
    maxSmallMessages: 128,
    async setup(workload) {
      const inputs = workload.kind === "bulk" ? [workload.plaintext] : workload.pieces;
      const messages = [];
      for (const input of inputs)
        messages.push((await encrypt(keyring, input, { encryptionContext })).result);
      for (let i = 0; i < messages.length; i++) {
        const { plaintext, messageHeader } = await decrypt(keyring, messages[i]);
        if (!sameBytes(plaintext, inputs[i])) throw correctnessFailure(name, `message ${i} did not decrypt`);
        if (messageHeader.encryptionContext.purpose !== "bench") {
          throw correctnessFailure(name, "encryption context lost");
        }
      }
      return {
        async encrypt() {
          for (const input of inputs) await encrypt(keyring, input, { encryptionContext });
        },
        async decrypt() {
          for (const message of messages) await decrypt(keyring, message);
        },
      };
    },
  };
}
