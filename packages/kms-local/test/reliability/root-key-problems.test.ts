// Every way the root key of a data dir holding keys can be wrong at open (missing, truncated, another key, readable by
// others, owned by another user, a wrong passphrase, another kind): a KMSInternalException that says what to restore,
// never a crash, and never a new root key written over the existing keys. And a data dir held by the running server.

import { randomBytes } from "node:crypto";
import {
  chmodSync,
  chownSync,
  readFileSync,
  statSync,
  truncateSync,
  unlinkSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { type KeyWrapper, SealkitError } from "@sealkit/core";
import { describe, expect, it } from "vitest";
import { KmsError } from "../../src/errors.js";
import { LocalKms, type LocalKmsOptions } from "../../src/local-kms.js";
import { AesKeyWrapper } from "../../src/root-key.js";
import { ROOT } from "../../src/test-helpers.js";
import { startServerChild, tempDirs, writeCredentials } from "./support.js";

const tempDir = tempDirs("kms-local-rkp-");

const FAST_ARGON2 = { memorySize: 8192, iterations: 1 };

/** A data dir with one key and one ciphertext under it. */
async function withKey(
  rootKey?: LocalKmsOptions["rootKey"],
): Promise<{ dataDir: string; blob: Uint8Array; original: Buffer }> {
  const dataDir = join(tempDir(), "data");
  const kms = await LocalKms.open({ dataDir, ...(rootKey ? { rootKey } : {}) });
  const { KeyMetadata } = await kms.createKey(ROOT, {});
  const { CiphertextBlob } = await kms.encrypt(ROOT, {
    KeyId: KeyMetadata.KeyId,
    Plaintext: new Uint8Array([7]),
  });
  await kms.close();
  const keyFile = join(dataDir, "root.key");
  return {
    dataDir,
    blob: CiphertextBlob,
    original: rootKey ? Buffer.alloc(0) : readFileSync(keyFile),
  };
}

async function refusal(options: LocalKmsOptions): Promise<Error> {
  const error = await LocalKms.open(options).then(
    async (kms) => {
      await kms.close();
      throw new Error("opened");
    },
    (e: unknown) => e as Error,
  );
  expect(KmsError.isInstance(error, "KMSInternalException"), String(error)).toBe(true);
  return error;
}

async function stillOpens(options: LocalKmsOptions, blob: Uint8Array): Promise<void> {
  const kms = await LocalKms.open(options);
  try {
    expect([...(await kms.decrypt(ROOT, { CiphertextBlob: blob })).Plaintext]).toEqual([7]);
  } finally {
    await kms.close();
  }
}

describe("a wrong root key at open", { timeout: 60_000 }, () => {
  it("a missing key file: says to restore it, and creates none", async () => {
    const { dataDir, blob, original } = await withKey();
    unlinkSync(join(dataDir, "root.key"));
    expect((await refusal({ dataDir })).message).toMatch(
      /root\.key is missing.*Restore the file from the backup/,
    );
    expect(() => statSync(join(dataDir, "root.key"))).toThrow();
    writeFileSync(join(dataDir, "root.key"), original, { mode: 0o600 });
    await stillOpens({ dataDir }, blob);
  });

  it("a truncated or empty key file: says how long it is and to restore it from the backup", async () => {
    const { dataDir, blob, original } = await withKey();
    for (const length of [0, 16, 31]) {
      truncateSync(join(dataDir, "root.key"), length);
      const message = (await refusal({ dataDir })).message;
      expect(message).toContain(`must hold exactly 32 bytes, but holds ${length}`);
      expect(message).toMatch(/restore it from the backup/);
      // Nothing was written over it: still the truncated file.
      expect(statSync(join(dataDir, "root.key")).size).toBe(length);
    }
    writeFileSync(join(dataDir, "root.key"), Buffer.concat([original, Buffer.from([0])]), { mode: 0o600 });
    expect((await refusal({ dataDir })).message).toMatch(/holds 33.*restore it from the backup/);
    writeFileSync(join(dataDir, "root.key"), original, { mode: 0o600 });
    await stillOpens({ dataDir }, blob);
  });

  it("another key of the right size: says it is not this data dir's root key", async () => {
    const { dataDir, blob, original } = await withKey();
    writeFileSync(join(dataDir, "root.key"), randomBytes(32), { mode: 0o600 });
    expect((await refusal({ dataDir })).message).toMatch(
      /is not the one this data dir was created with.*original root key/,
    );
    writeFileSync(join(dataDir, "root.key"), original, { mode: 0o600 });
    await stillOpens({ dataDir }, blob);
  });

  // chown needs root (the suite runs as root in CI and in bootstrap's container).
  it.skipIf(process.geteuid?.() !== 0)(
    "a key file readable by others or owned by another user is refused, as OpenSSH refuses such private keys",
    async () => {
      const { dataDir, blob } = await withKey();
      const file = join(dataDir, "root.key");
      for (const mode of [0o644, 0o640, 0o604, 0o660]) {
        chmodSync(file, mode);
        expect((await refusal({ dataDir })).message).toContain(
          `has mode ${mode.toString(8)}; it must be readable by its owner only (chmod 600)`,
        );
      }
      chmodSync(file, 0o400);
      await stillOpens({ dataDir }, blob);
      chmodSync(file, 0o600);
      chownSync(file, 65534, 65534);
      expect((await refusal({ dataDir })).message).toMatch(/belongs to user 65534/);
      chownSync(file, 0, 0);
      await stillOpens({ dataDir }, blob);
    },
  );

  it("a wrong passphrase, or a passphrase data dir opened with a key file (or the reverse): typed, nothing created", async () => {
    const passphrase = { passphrase: "correct horse", argon2: FAST_ARGON2 };
    const { dataDir, blob } = await withKey(passphrase);
    expect(
      (await refusal({ dataDir, rootKey: { passphrase: "wrong horse", argon2: FAST_ARGON2 } })).message,
    ).toMatch(/wrong passphrase/);
    expect((await refusal({ dataDir })).message).toMatch(
      /root key is a passphrase root key, but a file root key was given/,
    );
    expect(() => statSync(join(dataDir, "root.key"))).toThrow();
    await stillOpens({ dataDir, rootKey: passphrase }, blob);

    const file = await withKey();
    expect(
      (await refusal({ dataDir: file.dataDir, rootKey: { passphrase: "anything", argon2: FAST_ARGON2 } }))
        .message,
    ).toMatch(/root key is a file root key, but a passphrase root key was given/);
    await stillOpens({ dataDir: file.dataDir }, file.blob);
  });
});

describe("a root key that cannot be reached at open (an HSM down, busy or refusing the PIN)", () => {
  it("says what failed, not that the root key is another one; the data dir still opens once it answers", async () => {
    // A root key behind a KeyWrapper, as kms-cloudhsm's pkcs11KeyWrapper is: its unwrap fails with
    // ERR_PROVIDER_UNAVAILABLE (or ERR_HSM_LOGIN_FAILED) when the HSM cannot be used, ERR_AUTHENTICATION_FAILED
    // only when the bytes do not open under its key.
    const key = new AesKeyWrapper(new Uint8Array(randomBytes(32)), "pkcs11:token=test;object=root");
    let down: SealkitError | undefined;
    const hsm: KeyWrapper = {
      description: key.description,
      wrap: (plaintext, aad) => key.wrap(plaintext, aad),
      unwrap: (wrapped, aad) => (down ? Promise.reject(down) : key.unwrap(wrapped, aad)),
    };
    const { dataDir, blob } = await withKey(hsm);
    for (const code of ["ERR_PROVIDER_UNAVAILABLE", "ERR_HSM_LOGIN_FAILED"] as const) {
      down = new SealkitError(code, "CKR_DEVICE_ERROR: the HSM is throttling");
      const error = await refusal({ dataDir, rootKey: hsm });
      expect(error.message).toMatch(
        /root key \(pkcs11:token=test;object=root\) could not be used to open this data dir: CKR_DEVICE_ERROR: the HSM is throttling/,
      );
      expect(error.message).not.toMatch(/is not the one this data dir was created with/);
      expect((error as Error & { cause?: unknown }).cause).toBe(down);
    }
    down = undefined;
    await stillOpens({ dataDir, rootKey: hsm }, blob);
    // Another key behind the same interface is still called what it is.
    const other = new AesKeyWrapper(new Uint8Array(randomBytes(32)), key.description);
    expect((await refusal({ dataDir, rootKey: other })).message).toMatch(
      /is not the one this data dir was created with/,
    );
  });
});

describe("a data dir the running server holds", { timeout: 60_000 }, () => {
  it("refuses a LocalKms (as the CLI opens one) while sealkit-kms serve runs, and opens after kill -9", async () => {
    const { dataDir, blob } = await withKey();
    const server = await startServerChild(dataDir, writeCredentials(tempDir()));
    try {
      const error = await refusal({ dataDir });
      expect(error.message).toMatch(/already open .*another LocalKms/);
    } finally {
      await server.kill();
    }
    // The kernel dropped the killed server's lock: no stale lock to clear by hand.
    await stillOpens({ dataDir }, blob);
  });
});
