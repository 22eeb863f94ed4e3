// kms-local's LocalKms with its root key in SoftHSM2 (pkcs11KeyWrapper): survives a restart, and a missing
// HSM key is a clear error, never a silent fallback to a key file.

import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { utf8 } from "@sealkit/core";
import { LocalKms } from "@sealkit/kms-local";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hasSoftHsm, type SoftHsm, setupSoftHsm, softHsmOptions } from "../test/softhsm.js";
import { createAesKey } from "./key-admin.js";
import { pkcs11KeyWrapper } from "./key-wrapper.js";

const TOKEN = { label: "kms-local", pin: "1234", soPin: "5678" };
const config = { ...softHsmOptions(TOKEN), keyLabel: "kms-root" };
const ROOT = { principal: "arn:aws:iam::111122223333:root", account: "111122223333" };

describe.skipIf(!hasSoftHsm)("LocalKms with a PKCS#11 root key", () => {
  let hsm: SoftHsm;
  let dataDir: string;

  beforeAll(async () => {
    hsm = setupSoftHsm([TOKEN]);
    await createAesKey(config, { label: "kms-root" });
    dataDir = mkdtempSync(join(tmpdir(), "sealkit-kms-hsm-"));
  });
  afterAll(() => {
    hsm?.cleanup();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it("creates a key, encrypts, restarts on the same HSM key and decrypts", async () => {
    const wrapper = pkcs11KeyWrapper(config);
    const kms = await LocalKms.open({ dataDir, rootKey: wrapper });
    const { KeyMetadata } = await kms.createKey(ROOT, {});
    const { CiphertextBlob } = await kms.encrypt(ROOT, {
      KeyId: KeyMetadata.KeyId,
      Plaintext: utf8("held by the HSM"),
      EncryptionContext: { app: "test" },
    });
    await kms.close();
    await wrapper.close();
    expect(existsSync(join(dataDir, "root.key"))).toBe(false);

    const reopenedWrapper = pkcs11KeyWrapper(config);
    const reopened = await LocalKms.open({ dataDir, rootKey: reopenedWrapper });
    const { Plaintext } = await reopened.decrypt(ROOT, {
      CiphertextBlob,
      EncryptionContext: { app: "test" },
    });
    expect(Plaintext).toEqual(utf8("held by the HSM"));
    await reopened.close();
    await reopenedWrapper.close();
  });

  it("refuses to open when the HSM key is missing, and writes no root key file", async () => {
    for (const broken of [{ keyLabel: "deleted-root" }, { tokenLabel: "unplugged" }]) {
      const wrapper = pkcs11KeyWrapper({ ...config, ...broken });
      const error = await LocalKms.open({ dataDir, rootKey: wrapper }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(Error);
      expect((error as Error).message).toMatch(/root key|PKCS#11/);
      await wrapper.close();
      expect(existsSync(join(dataDir, "root.key"))).toBe(false);
    }
    // A fresh data dir fails just as clearly, naming the missing key.
    const fresh = mkdtempSync(join(tmpdir(), "sealkit-kms-hsm-"));
    const wrapper = pkcs11KeyWrapper({ ...config, keyLabel: "deleted-root" });
    const error = await LocalKms.open({ dataDir: fresh, rootKey: wrapper }).catch((e: unknown) => e);
    expect((error as Error).message).toMatch(/deleted-root/);
    expect(readdirSync(fresh)).not.toContain("root.key");
    await wrapper.close();
    rmSync(fresh, { recursive: true, force: true });
  });
});
