// The KMS server's protocol layer alone, for `pnpm bench:kms`: SigV4, JSON codec, metrics, with a backend that does
// no cryptography and no audit (fixed responses). It bounds what the HTTP layer can do on this machine; it is not a KMS.
// Usage: node null-server.mjs <credentials.json>  → prints "listening on <url>" and "ready".

import { randomBytes } from "node:crypto";
import { createKmsServer, loadCredentialsFile } from "../../../../packages/kms-local/dist/index.js";

const blob = new Uint8Array(randomBytes(180));
const backend = {
  async generateDataKey() {
    return {
      CiphertextBlob: blob,
      Plaintext: new Uint8Array(32),
      KeyId: "arn:aws:kms:us-east-1:111122223333:key/null",
    };
  },
  async decrypt() {
    return {
      Plaintext: new Uint8Array(32),
      KeyId: "arn:aws:kms:us-east-1:111122223333:key/null",
      EncryptionAlgorithm: "SYMMETRIC_DEFAULT",
    };
  },
  close() {},
};
const server = createKmsServer({
  kms: backend,
  credentials: loadCredentialsFile(process.argv[2]),
  region: "us-east-1",
  limits: { maxConnections: 4096 },
  auditRejected: () => {},
});
await server.listen(0, "127.0.0.1");
process.stdout.write(`listening on ${server.url}\nready\n`);
process.on("SIGTERM", () => server.close().then(() => process.exit(0)));
