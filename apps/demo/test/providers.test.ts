// The same demo with its data keys issued through each provider: the embedded KMS in process, the KMS endpoint
// through @sealkit/kms-aws (as against AWS KMS), and a SoftHSM2 token through @sealkit/kms-cloudhsm.

import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { decrypt, encrypt } from "@sealkit/cipher";
import { remoteProvider } from "@sealkit/remote";
import { describe, expect, it } from "vitest";
import type { ProviderKind } from "../src/start-demo.js";

const hasSoftHsm = existsSync("/usr/lib/softhsm/libsofthsm2.so");

describe.each<ProviderKind>(["local", "aws", "pkcs11"])("the demo with the %s provider", (kind) => {
  it.skipIf(kind === "pkcs11" && !hasSoftHsm && !process.env.CI)(
    "issues data keys that round-trip an envelope",
    async () => {
      const dataDir = mkdtempSync(join(tmpdir(), `sealkit-demo-${kind}-`));
      const { startDemo } = (await import(
        `../dist/${"start-demo.js"}`
      )) as typeof import("../src/start-demo.js");
      const demo = await startDemo({ dataDir, provider: kind, ports: { web: 0, kms: 0, edge: 0 } });
      try {
        const login = await fetch(`${demo.url}/api/login`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ name: "alice", password: "alice" }),
        });
        const cookie = login.headers.get("set-cookie")!.split(";")[0]!;
        const keys = remoteProvider({
          endpoint: `${demo.url}/api/keys`,
          headers: { cookie },
          providerId: kind === "pkcs11" ? "pkcs11" : "aws-kms",
        });
        const plaintext = new TextEncoder().encode(`sealed through ${kind}`);
        const envelope = await encrypt(plaintext, { providers: [keys], context: { tenant: "acme" } });
        const opened = await decrypt(envelope, { providers: [keys], expectContext: { tenant: "acme" } });
        expect(new TextDecoder().decode(opened.plaintext)).toBe(`sealed through ${kind}`);
        const keyId = opened.header.encryptedDataKeys[0]!.keyId;
        expect(keyId).toMatch(
          kind === "pkcs11" ? /^pkcs11:token=sealkit-demo;object=demo-master$/ : /^arn:aws:kms:/,
        );
      } finally {
        await demo.close();
        rmSync(dataDir, { recursive: true, force: true });
      }
    },
  );
});
