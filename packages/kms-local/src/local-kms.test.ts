import { statSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it, vi } from "vitest";
import { readBlobHeader } from "./ciphertext-blob.js";
import { KmsError } from "./errors.js";
import type { LocalKms } from "./local-kms.js";
import {
  ACCOUNT,
  ALICE,
  BOB,
  cleanupsAfterEach,
  MALLORY,
  openTemp,
  ROOT,
  rejects,
  testClock,
} from "./test-helpers.js";

// Real SQLite, fsyncs and Argon2 on a shared 2-core machine: generous timeouts.
vi.setConfig({ testTimeout: 60_000 });

const bytes = (n: number, fill = 7) => new Uint8Array(n).fill(fill);

const cleanups = cleanupsAfterEach();

async function setup(options: Parameters<typeof openTemp>[0] = {}) {
  const t = await openTemp(options);
  cleanups.push(t.cleanup);
  return t;
}

async function newKey(kms: LocalKms, request = {}) {
  return (await kms.createKey(ROOT, request)).KeyMetadata;
}

describe("keys", () => {
  it("creates keys with AWS's metadata and lists them with pagination", async () => {
    const { kms } = await setup();
    const meta = await newKey(kms, { Description: "first", Tags: [{ TagKey: "team", TagValue: "a" }] });
    expect(meta.KeyId).toMatch(/^[0-9a-f-]{36}$/);
    expect(meta.Arn).toBe(`arn:aws:kms:us-east-1:${ACCOUNT}:key/${meta.KeyId}`);
    expect(meta).toMatchObject({
      AWSAccountId: ACCOUNT,
      Enabled: true,
      KeyState: "Enabled",
      KeyManager: "CUSTOMER",
      KeySpec: "SYMMETRIC_DEFAULT",
      KeyUsage: "ENCRYPT_DECRYPT",
      Origin: "AWS_KMS",
      Description: "first",
    });
    expect(meta.CreationDate).toBeInstanceOf(Date);
    for (let i = 0; i < 4; i++) await newKey(kms);
    const page1 = await kms.listKeys(ROOT, { Limit: 2 });
    expect(page1.Keys).toHaveLength(2);
    expect(page1.Truncated).toBe(true);
    const page2 = await kms.listKeys(ROOT, { Limit: 2, Marker: page1.NextMarker });
    const page3 = await kms.listKeys(ROOT, { Limit: 2, Marker: page2.NextMarker });
    expect(page3.Truncated).toBe(false);
    const all = [...page1.Keys, ...page2.Keys, ...page3.Keys].map((k) => k.KeyId);
    expect(new Set(all).size).toBe(5);
    expect(all).toContain(meta.KeyId);
    await rejects(kms.listKeys(ROOT, { Marker: "nonsense" }), "InvalidMarkerException");
    await rejects(kms.listKeys(ROOT, { Limit: 0 }), "ValidationException");
    const tags = await kms.listResourceTags(ROOT, { KeyId: meta.KeyId });
    expect(tags.Tags).toEqual([{ TagKey: "team", TagValue: "a" }]);
  });

  it("refuses what it does not support and malformed input with typed errors", async () => {
    const { kms } = await setup();
    await rejects(kms.createKey(ROOT, { KeySpec: "RSA_2048" }), "UnsupportedOperationException");
    await rejects(kms.createKey(ROOT, { KeyUsage: "SIGN_VERIFY" }), "UnsupportedOperationException");
    await rejects(kms.createKey(ROOT, { Origin: "EXTERNAL" }), "UnsupportedOperationException");
    await rejects(kms.createKey(ROOT, { KeySpec: "nonsense" }), "ValidationException");
    await rejects(kms.createKey(ROOT, { Description: "x".repeat(8193) }), "ValidationException");
    await rejects(kms.createKey(ROOT, { Tags: [{ TagKey: "aws:x", TagValue: "y" }] }), "TagException");
    await rejects(kms.createKey(ROOT, { Policy: "{not json" }), "MalformedPolicyDocumentException");
    await rejects(kms.describeKey(ROOT, { KeyId: "not-a-key" }), "NotFoundException");
    await rejects(
      kms.describeKey(ROOT, { KeyId: "00000000-0000-4000-8000-000000000000" }),
      "NotFoundException",
    );
    await rejects(kms.describeKey({ principal: "", account: "1" }, { KeyId: "x" }), "ValidationException");
    // An ARN of another region or account names no key here.
    const meta = await newKey(kms);
    await rejects(
      kms.describeKey(ROOT, { KeyId: meta.Arn.replace("us-east-1", "eu-west-1") }),
      "NotFoundException",
    );
  });

  it("words NotFoundException as AWS KMS does", async () => {
    const { kms } = await setup();
    const unknown = "11111111-2222-3333-4444-555555555555";
    const arn = `arn:aws:kms:us-east-1:${ACCOUNT}:key/${unknown}`;
    expect((await rejects(kms.describeKey(ROOT, { KeyId: unknown }), "NotFoundException")).message).toBe(
      `Key '${arn}' does not exist`,
    );
    expect((await rejects(kms.describeKey(ROOT, { KeyId: "nonsense" }), "NotFoundException")).message).toBe(
      "Invalid keyId nonsense",
    );
    expect((await rejects(kms.describeKey(ROOT, { KeyId: "alias/none" }), "NotFoundException")).message).toBe(
      `Alias arn:aws:kms:us-east-1:${ACCOUNT}:alias/none is not found.`,
    );
  });

  it("refuses and audits a request too big for an audit event as it is (its long strings cut in the event)", async () => {
    const { kms } = await setup();
    const Description = "\u0001".repeat(100_000);
    await rejects(kms.createKey(ROOT, { Description }), "ValidationException");
    const refused = (await kms.auditLog!.query({})).at(-1)!;
    expect([refused.eventName, refused.errorCode]).toEqual(["CreateKey", "ValidationException"]);
    expect((refused.requestParameters as { description: string }).description).toBe(
      `${"\u0001".repeat(1024)}...(100000 characters, cut in the audit log)`,
    );
    expect((await kms.auditLog!.verify()).ok).toBe(true);
  });

  it("refuses a caller principal that is not text (a lone surrogate), so the audit log never holds one", async () => {
    const { kms } = await setup();
    const { KeyId } = await newKey(kms);
    const odd = { principal: `arn:aws:iam::${ACCOUNT}:user/a\uD800`, account: ACCOUNT };
    await rejects(kms.encrypt(odd, { KeyId, Plaintext: bytes(1) }), "ValidationException");
    // The refusal is audited with the principal as UTF-8 stores it.
    const refused = (await kms.auditLog!.query({})).at(-1)!;
    expect([refused.errorCode, refused.userIdentity.arn]).toEqual([
      "ValidationException",
      `arn:aws:iam::${ACCOUNT}:user/a\uFFFD`,
    ]);
    // Well-formed non-ASCII (a surrogate pair) is fine.
    await kms
      .encrypt(
        { principal: `arn:aws:iam::${ACCOUNT}:user/a\uD83D\uDE00`, account: ACCOUNT },
        {
          KeyId,
          Plaintext: bytes(1),
        },
      )
      .catch((e) => expect(KmsError.isInstance(e, "AccessDeniedException")).toBe(true));
    expect((await kms.auditLog!.verify()).ok).toBe(true);
  });

  it("updates descriptions and tags", async () => {
    const { kms } = await setup();
    const meta = await newKey(kms);
    await kms.updateKeyDescription(ROOT, { KeyId: meta.Arn, Description: "new" });
    expect((await kms.describeKey(ROOT, { KeyId: meta.KeyId })).KeyMetadata.Description).toBe("new");
    await kms.tagResource(ROOT, {
      KeyId: meta.KeyId,
      Tags: [
        { TagKey: "b", TagValue: "1" },
        { TagKey: "a", TagValue: "2" },
      ],
    });
    await kms.tagResource(ROOT, { KeyId: meta.KeyId, Tags: [{ TagKey: "a", TagValue: "3" }] });
    expect((await kms.listResourceTags(ROOT, { KeyId: meta.KeyId })).Tags).toEqual([
      { TagKey: "a", TagValue: "3" },
      { TagKey: "b", TagValue: "1" },
    ]);
    await kms.untagResource(ROOT, { KeyId: meta.KeyId, TagKeys: ["a"] });
    expect((await kms.listResourceTags(ROOT, { KeyId: meta.KeyId })).Tags).toEqual([
      { TagKey: "b", TagValue: "1" },
    ]);
    const many = Array.from({ length: 50 }, (_, i) => ({ TagKey: `k${i}`, TagValue: "" }));
    await rejects(kms.tagResource(ROOT, { KeyId: meta.KeyId, Tags: many }), "LimitExceededException");
  });
});

describe("key states", () => {
  it("follows every valid transition and refuses every invalid one", async () => {
    const c = testClock();
    const { kms } = await setup({ clock: c.clock });
    const { KeyId } = await newKey(kms);
    const state = async () => (await kms.describeKey(ROOT, { KeyId })).KeyMetadata.KeyState;
    const use = () => kms.encrypt(ROOT, { KeyId, Plaintext: bytes(1) });

    // Enabled → Enabled (idempotent), Enabled → Disabled, Disabled → Disabled, Disabled → Enabled.
    await kms.enableKey(ROOT, { KeyId });
    expect(await state()).toBe("Enabled");
    await kms.disableKey(ROOT, { KeyId });
    expect(await state()).toBe("Disabled");
    await rejects(use(), "DisabledException");
    await rejects(kms.generateDataKey(ROOT, { KeyId, KeySpec: "AES_256" }), "DisabledException");
    await kms.disableKey(ROOT, { KeyId });
    await rejects(kms.cancelKeyDeletion(ROOT, { KeyId }), "KMSInvalidStateException");
    await kms.enableKey(ROOT, { KeyId });
    expect(await state()).toBe("Enabled");
    await use();
    await rejects(kms.cancelKeyDeletion(ROOT, { KeyId }), "KMSInvalidStateException");

    // Enabled → PendingDeletion; from there only CancelKeyDeletion.
    await rejects(kms.scheduleKeyDeletion(ROOT, { KeyId, PendingWindowInDays: 6 }), "ValidationException");
    await rejects(kms.scheduleKeyDeletion(ROOT, { KeyId, PendingWindowInDays: 31 }), "ValidationException");
    const scheduled = await kms.scheduleKeyDeletion(ROOT, { KeyId });
    expect(scheduled.PendingWindowInDays).toBe(30);
    expect(scheduled.DeletionDate.getTime()).toBe(c.now() + 30 * 86_400_000);
    expect(await state()).toBe("PendingDeletion");
    const described = (await kms.describeKey(ROOT, { KeyId })).KeyMetadata;
    expect(described.DeletionDate).toEqual(scheduled.DeletionDate);
    await rejects(use(), "KMSInvalidStateException");
    await rejects(kms.enableKey(ROOT, { KeyId }), "KMSInvalidStateException");
    await rejects(kms.disableKey(ROOT, { KeyId }), "KMSInvalidStateException");
    await rejects(kms.scheduleKeyDeletion(ROOT, { KeyId }), "KMSInvalidStateException");
    await rejects(kms.enableKeyRotation(ROOT, { KeyId }), "KMSInvalidStateException");
    await rejects(
      kms.createAlias(ROOT, { AliasName: "alias/p", TargetKeyId: KeyId }),
      "KMSInvalidStateException",
    );

    // PendingDeletion → Disabled.
    await kms.cancelKeyDeletion(ROOT, { KeyId });
    expect(await state()).toBe("Disabled");
    // Disabled → PendingDeletion (7 days) → destroyed after the date.
    await kms.createAlias(ROOT, { AliasName: "alias/doomed", TargetKeyId: KeyId });
    await kms.scheduleKeyDeletion(ROOT, { KeyId, PendingWindowInDays: 7 });
    c.advanceDays(6);
    expect(await state()).toBe("PendingDeletion");
    c.advanceDays(1);
    await rejects(kms.describeKey(ROOT, { KeyId }), "NotFoundException");
    await rejects(use(), "NotFoundException");
    await rejects(kms.describeKey(ROOT, { KeyId: "alias/doomed" }), "NotFoundException");
    expect((await kms.listKeys(ROOT)).Keys).toHaveLength(0);
    expect((await kms.listAliases(ROOT)).Aliases).toHaveLength(0);
  });

  it("destroys keys past their deletion date at open, and old ciphertexts then give NotFound", async () => {
    const c = testClock();
    const t = await openTemp({ clock: c.clock });
    const { KeyId } = await newKey(t.kms);
    const blob = (await t.kms.encrypt(ROOT, { KeyId, Plaintext: bytes(5) })).CiphertextBlob;
    await t.kms.scheduleKeyDeletion(ROOT, { KeyId, PendingWindowInDays: 7 });
    await t.kms.close();
    c.advanceDays(8);
    const { LocalKms } = await import("./local-kms.js");
    const again = await LocalKms.open({ dataDir: t.dir, clock: c.clock });
    cleanups.push(t.cleanup);
    cleanups.push(() => again.close());
    const Database = (await import("better-sqlite3")).default;
    const db = new Database(join(t.dir, "kms.db"), { readonly: true });
    expect((db.prepare("SELECT count(*) AS n FROM key_versions").get() as { n: number }).n).toBe(0);
    db.close();
    await rejects(again.decrypt(ROOT, { CiphertextBlob: blob }), "NotFoundException");
  });
});

describe("cryptographic operations", () => {
  it("encrypts 1 to 4,096 bytes and refuses 0 and 4,097", async () => {
    const { kms } = await setup();
    const { KeyId, Arn } = await newKey(kms);
    for (const n of [1, 4096]) {
      const e = await kms.encrypt(ROOT, { KeyId, Plaintext: bytes(n, 9) });
      expect(e.KeyId).toBe(Arn);
      expect(e.EncryptionAlgorithm).toBe("SYMMETRIC_DEFAULT");
      expect(e.CiphertextBlob.length).toBe(49 + n);
      expect(e.CiphertextBlob.length).toBeLessThanOrEqual(6144);
      const d = await kms.decrypt(ROOT, { CiphertextBlob: e.CiphertextBlob });
      expect(d.Plaintext).toEqual(bytes(n, 9));
      expect(d.KeyId).toBe(Arn);
    }
    await rejects(kms.encrypt(ROOT, { KeyId, Plaintext: bytes(4097) }), "ValidationException");
    await rejects(kms.encrypt(ROOT, { KeyId, Plaintext: bytes(0) }), "ValidationException");
    await rejects(
      kms.encrypt(ROOT, { KeyId, Plaintext: bytes(1), EncryptionAlgorithm: "RSAES_OAEP_SHA_256" }),
      "InvalidKeyUsageException",
    );
  });

  it("binds the encryption context: a different, missing or extra pair fails as invalid ciphertext", async () => {
    const { kms } = await setup();
    const { KeyId } = await newKey(kms);
    const ctx = { tenant: "acme", purpose: "test" };
    const { CiphertextBlob } = await kms.encrypt(ROOT, {
      KeyId,
      Plaintext: bytes(16),
      EncryptionContext: ctx,
    });
    // Order of pairs does not matter (canonical encoding).
    const ok = await kms.decrypt(ROOT, {
      CiphertextBlob,
      EncryptionContext: { purpose: "test", tenant: "acme" },
    });
    expect(ok.Plaintext).toEqual(bytes(16));
    for (const wrong of [
      {},
      { tenant: "acme" },
      { tenant: "acme", purpose: "Test" },
      { ...ctx, extra: "" },
    ] as Record<string, string>[]) {
      const e = await rejects(
        kms.decrypt(ROOT, { CiphertextBlob, EncryptionContext: wrong }),
        "InvalidCiphertextException",
      );
      expect(e.code).toBe("ERR_INVALID_CIPHERTEXT");
    }
  });

  it("refuses a blob with any single byte flipped, truncated or extended", async () => {
    const { kms } = await setup();
    const { KeyId } = await newKey(kms);
    const { CiphertextBlob } = await kms.encrypt(ROOT, {
      KeyId,
      Plaintext: bytes(32),
      EncryptionContext: { a: "b" },
    });
    for (let i = 0; i < CiphertextBlob.length; i++) {
      const tampered = new Uint8Array(CiphertextBlob);
      tampered[i]! ^= 0x01;
      let name = "";
      try {
        await kms.decrypt(ROOT, { CiphertextBlob: tampered, EncryptionContext: { a: "b" } });
      } catch (e) {
        name = (e as KmsError).awsName;
      }
      // Flipping a bit of the key id may name a key that does not exist: NotFound, never success.
      expect(["InvalidCiphertextException", "NotFoundException"], `byte ${i}`).toContain(name);
      if (i === 0 || i >= 17) expect(name, `byte ${i}`).toBe("InvalidCiphertextException");
    }
    await rejects(
      kms.decrypt(ROOT, {
        CiphertextBlob: CiphertextBlob.subarray(0, CiphertextBlob.length - 1),
        EncryptionContext: { a: "b" },
      }),
      "InvalidCiphertextException",
    );
    const longer = new Uint8Array(CiphertextBlob.length + 1);
    longer.set(CiphertextBlob);
    await rejects(
      kms.decrypt(ROOT, { CiphertextBlob: longer, EncryptionContext: { a: "b" } }),
      "InvalidCiphertextException",
    );
    await rejects(kms.decrypt(ROOT, { CiphertextBlob: bytes(6145) }), "ValidationException");
  });

  it("checks an explicit KeyId against the blob's key (IncorrectKeyException)", async () => {
    const { kms } = await setup();
    const a = await newKey(kms);
    const b = await newKey(kms);
    await kms.createAlias(ROOT, { AliasName: "alias/a", TargetKeyId: a.KeyId });
    const { CiphertextBlob } = await kms.encrypt(ROOT, { KeyId: a.KeyId, Plaintext: bytes(3) });
    for (const id of [a.KeyId, a.Arn, "alias/a", `arn:aws:kms:us-east-1:${ACCOUNT}:alias/a`]) {
      expect((await kms.decrypt(ROOT, { CiphertextBlob, KeyId: id })).Plaintext).toEqual(bytes(3));
    }
    const e = await rejects(kms.decrypt(ROOT, { CiphertextBlob, KeyId: b.KeyId }), "IncorrectKeyException");
    expect(e.code).toBe("ERR_INVALID_CIPHERTEXT");
  });

  it("generates data keys of every allowed size, never stores them, and refuses bad sizes", async () => {
    const { kms, dir } = await setup();
    const { KeyId } = await newKey(kms);
    for (const [req, n] of [
      [{ KeySpec: "AES_256" as const }, 32],
      [{ KeySpec: "AES_128" as const }, 16],
      [{ NumberOfBytes: 1 }, 1],
      [{ NumberOfBytes: 1024 }, 1024],
    ] as const) {
      const dk = await kms.generateDataKey(ROOT, { KeyId, ...req, EncryptionContext: { k: "v" } });
      expect(dk.Plaintext.length).toBe(n);
      const back = await kms.decrypt(ROOT, {
        CiphertextBlob: dk.CiphertextBlob,
        EncryptionContext: { k: "v" },
      });
      expect(back.Plaintext).toEqual(dk.Plaintext);
      const wo = await kms.generateDataKeyWithoutPlaintext(ROOT, { KeyId, ...req });
      expect((wo as unknown as Record<string, unknown>).Plaintext).toBeUndefined();
      expect((await kms.decrypt(ROOT, { CiphertextBlob: wo.CiphertextBlob })).Plaintext.length).toBe(n);
    }
    await rejects(kms.generateDataKey(ROOT, { KeyId, NumberOfBytes: 0 }), "ValidationException");
    await rejects(kms.generateDataKey(ROOT, { KeyId, NumberOfBytes: 1025 }), "ValidationException");
    await rejects(kms.generateDataKey(ROOT, { KeyId }), "ValidationException");
    await rejects(
      kms.generateDataKey(ROOT, { KeyId, KeySpec: "AES_256", NumberOfBytes: 32 }),
      "ValidationException",
    );
    // Data keys are never stored: a known data key does not appear in the database file.
    const dk = await kms.generateDataKey(ROOT, { KeyId, NumberOfBytes: 64 });
    const { readFileSync } = await import("node:fs");
    const needle = Buffer.from(dk.Plaintext).toString("hex");
    for (const f of ["kms.db", "kms.db-wal"]) {
      try {
        expect(readFileSync(join(dir, f)).toString("hex").includes(needle)).toBe(false);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
      }
    }
  });

  it("generates random bytes and re-encrypts without exposing plaintext", async () => {
    const { kms } = await setup();
    expect((await kms.generateRandom(ROOT, { NumberOfBytes: 1024 })).Plaintext.length).toBe(1024);
    await rejects(kms.generateRandom(ROOT, { NumberOfBytes: 1025 }), "ValidationException");
    await rejects(kms.generateRandom(ROOT, { NumberOfBytes: 0 }), "ValidationException");
    const a = await newKey(kms);
    const b = await newKey(kms);
    const { CiphertextBlob } = await kms.encrypt(ROOT, {
      KeyId: a.KeyId,
      Plaintext: bytes(10),
      EncryptionContext: { x: "1" },
    });
    const re = await kms.reEncrypt(ROOT, {
      CiphertextBlob,
      SourceEncryptionContext: { x: "1" },
      DestinationKeyId: b.Arn,
      DestinationEncryptionContext: { y: "2" },
    });
    expect((re as unknown as Record<string, unknown>).Plaintext).toBeUndefined();
    expect(re.SourceKeyId).toBe(a.Arn);
    expect(re.KeyId).toBe(b.Arn);
    expect(
      (await kms.decrypt(ROOT, { CiphertextBlob: re.CiphertextBlob, EncryptionContext: { y: "2" } }))
        .Plaintext,
    ).toEqual(bytes(10));
    await rejects(
      kms.reEncrypt(ROOT, { CiphertextBlob, DestinationKeyId: b.KeyId }),
      "InvalidCiphertextException",
    );
    await rejects(
      kms.reEncrypt(ROOT, {
        CiphertextBlob,
        SourceEncryptionContext: { x: "1" },
        SourceKeyId: b.KeyId,
        DestinationKeyId: b.KeyId,
      }),
      "IncorrectKeyException",
    );
  });
});

describe("aliases", () => {
  it("follows AWS's naming rules and the reserved alias/aws/ space", async () => {
    const { kms } = await setup();
    const a = await newKey(kms);
    const b = await newKey(kms);
    await rejects(
      kms.createAlias(ROOT, { AliasName: "alias/", TargetKeyId: a.KeyId }),
      "InvalidAliasNameException",
    );
    // AWS answers these with ValidationException (the model's pattern, or its own words).
    for (const bad of ["noprefix", "alias/has space", "alias/ü", "alias/a:b"]) {
      await rejects(kms.createAlias(ROOT, { AliasName: bad, TargetKeyId: a.KeyId }), "ValidationException");
    }
    await rejects(
      kms.createAlias(ROOT, { AliasName: `alias/${"x".repeat(251)}`, TargetKeyId: a.KeyId }),
      "ValidationException",
    );
    await rejects(
      kms.createAlias(ROOT, { AliasName: "alias/aws/mine", TargetKeyId: a.KeyId }),
      "InvalidAliasNameException",
    );
    await kms.createAlias(ROOT, { AliasName: "alias/app/key_1-x", TargetKeyId: a.KeyId });
    await rejects(
      kms.createAlias(ROOT, { AliasName: "alias/app/key_1-x", TargetKeyId: b.KeyId }),
      "AlreadyExistsException",
    );
    // Admin operations take key ids and ARNs, not aliases (as AWS).
    await rejects(
      kms.createAlias(ROOT, { AliasName: "alias/other", TargetKeyId: "alias/app/key_1-x" }),
      "NotFoundException",
    );
    await rejects(kms.disableKey(ROOT, { KeyId: "alias/app/key_1-x" }), "NotFoundException");
    expect((await kms.describeKey(ROOT, { KeyId: "alias/app/key_1-x" })).KeyMetadata.KeyId).toBe(a.KeyId);
    await kms.updateAlias(ROOT, { AliasName: "alias/app/key_1-x", TargetKeyId: b.Arn });
    expect(
      (await kms.describeKey(ROOT, { KeyId: `arn:aws:kms:us-east-1:${ACCOUNT}:alias/app/key_1-x` }))
        .KeyMetadata.KeyId,
    ).toBe(b.KeyId);
    await rejects(
      kms.updateAlias(ROOT, { AliasName: "alias/missing", TargetKeyId: b.KeyId }),
      "NotFoundException",
    );
    const listed = await kms.listAliases(ROOT);
    expect(listed.Aliases).toHaveLength(1);
    expect(listed.Aliases[0]).toMatchObject({
      AliasName: "alias/app/key_1-x",
      AliasArn: `arn:aws:kms:us-east-1:${ACCOUNT}:alias/app/key_1-x`,
      TargetKeyId: b.KeyId,
    });
    expect((await kms.listAliases(ROOT, { KeyId: a.KeyId })).Aliases).toHaveLength(0);
    await kms.deleteAlias(ROOT, { AliasName: "alias/app/key_1-x" });
    await rejects(kms.deleteAlias(ROOT, { AliasName: "alias/app/key_1-x" }), "NotFoundException");
    await rejects(kms.describeKey(ROOT, { KeyId: "alias/app/key_1-x" }), "NotFoundException");
    expect((await kms.describeKey(ROOT, { KeyId: b.KeyId })).KeyMetadata.KeyState).toBe("Enabled");
  });

  it("creates an AWS managed key on first use of alias/aws/<service>, usable through the service only", async () => {
    const { kms } = await setup();
    const viaS3 = { ...ALICE, viaService: "s3.us-east-1.amazonaws.com" };
    const e = await kms.encrypt(viaS3, { KeyId: "alias/aws/s3", Plaintext: bytes(4) });
    const meta = (await kms.describeKey(ALICE, { KeyId: "alias/aws/s3" })).KeyMetadata;
    expect(meta.KeyManager).toBe("AWS");
    expect(e.KeyId).toBe(meta.Arn);
    expect((await kms.serviceKey(ALICE, "s3")).KeyMetadata.KeyId).toBe(meta.KeyId);
    expect((await kms.listKeys(ROOT)).Keys.map((k) => k.KeyId)).toContain(meta.KeyId);
    expect((await kms.listAliases(ROOT)).Aliases.map((a) => a.AliasName)).toContain("alias/aws/s3");
    expect((await kms.decrypt(viaS3, { CiphertextBlob: e.CiphertextBlob })).Plaintext).toEqual(bytes(4));
    // Not directly, and not through another service.
    await rejects(kms.decrypt(ALICE, { CiphertextBlob: e.CiphertextBlob }), "AccessDeniedException");
    await rejects(
      kms.decrypt(
        { ...ALICE, viaService: "ebs.us-east-1.amazonaws.com" },
        { CiphertextBlob: e.CiphertextBlob },
      ),
      "AccessDeniedException",
    );
    // Its policy, rotation and state cannot be changed by users.
    await rejects(kms.disableKey(ROOT, { KeyId: meta.KeyId }), "AccessDeniedException");
    await rejects(kms.scheduleKeyDeletion(ROOT, { KeyId: meta.KeyId }), "AccessDeniedException");
    await rejects(kms.putKeyPolicy(ROOT, { KeyId: meta.KeyId, Policy: "{}" }), "AccessDeniedException");
    await rejects(kms.disableKeyRotation(ROOT, { KeyId: meta.KeyId }), "AccessDeniedException");
    await rejects(kms.deleteAlias(ROOT, { AliasName: "alias/aws/s3" }), "InvalidAliasNameException");
    const status = await kms.getKeyRotationStatus(ROOT, { KeyId: meta.KeyId });
    expect(status.KeyRotationEnabled).toBe(true);
    expect(status.RotationPeriodInDays).toBe(365);
  });
});

describe("rotation", () => {
  it("keeps every old version decrypting after several rotations; new ciphertexts use the newest", async () => {
    const { kms } = await setup();
    const { KeyId, Arn } = await newKey(kms);
    const blobs: Uint8Array[] = [];
    for (let i = 0; i < 4; i++) {
      blobs.push((await kms.encrypt(ROOT, { KeyId, Plaintext: bytes(8, i) })).CiphertextBlob);
      expect(readBlobHeader(blobs[i]!).keyVersion).toBe(i + 1);
      expect((await kms.rotateKeyOnDemand(ROOT, { KeyId })).KeyId).toBe(Arn);
    }
    const newest = (await kms.encrypt(ROOT, { KeyId, Plaintext: bytes(8) })).CiphertextBlob;
    expect(readBlobHeader(newest).keyVersion).toBe(5);
    for (let i = 0; i < 4; i++)
      expect((await kms.decrypt(ROOT, { CiphertextBlob: blobs[i]! })).Plaintext).toEqual(bytes(8, i));
    const rotations = await kms.listKeyRotations(ROOT, { KeyId, Limit: 3 });
    expect(rotations.Rotations).toHaveLength(3);
    expect(rotations.Rotations[0]!.RotationType).toBe("ON_DEMAND");
    expect(rotations.Truncated).toBe(true);
    const rest = await kms.listKeyRotations(ROOT, { KeyId, Marker: rotations.NextMarker });
    expect(rest.Rotations).toHaveLength(1);
    // A blob naming a version the key never had is invalid, not a crash.
    const forged = new Uint8Array(newest);
    forged[20] = 99;
    await rejects(kms.decrypt(ROOT, { CiphertextBlob: forged }), "InvalidCiphertextException");
  });

  it("rotates automatically when due, with periods of 90 to 2,560 days", async () => {
    const c = testClock();
    const { kms } = await setup({ clock: c.clock });
    const { KeyId } = await newKey(kms);
    await rejects(kms.enableKeyRotation(ROOT, { KeyId, RotationPeriodInDays: 89 }), "ValidationException");
    await rejects(kms.enableKeyRotation(ROOT, { KeyId, RotationPeriodInDays: 2561 }), "ValidationException");
    expect((await kms.getKeyRotationStatus(ROOT, { KeyId })).KeyRotationEnabled).toBe(false);
    await kms.enableKeyRotation(ROOT, { KeyId, RotationPeriodInDays: 90 });
    const status = await kms.getKeyRotationStatus(ROOT, { KeyId });
    expect(status).toMatchObject({ KeyRotationEnabled: true, RotationPeriodInDays: 90 });
    expect(status.NextRotationDate!.getTime()).toBe(c.now() + 90 * 86_400_000);
    const old = (await kms.encrypt(ROOT, { KeyId, Plaintext: bytes(2) })).CiphertextBlob;
    c.advanceDays(89);
    expect(
      readBlobHeader((await kms.encrypt(ROOT, { KeyId, Plaintext: bytes(2) })).CiphertextBlob).keyVersion,
    ).toBe(1);
    c.advanceDays(1);
    expect(
      readBlobHeader((await kms.encrypt(ROOT, { KeyId, Plaintext: bytes(2) })).CiphertextBlob).keyVersion,
    ).toBe(2);
    c.advanceDays(90);
    expect(
      readBlobHeader((await kms.encrypt(ROOT, { KeyId, Plaintext: bytes(2) })).CiphertextBlob).keyVersion,
    ).toBe(3);
    expect((await kms.listKeyRotations(ROOT, { KeyId })).Rotations.map((r) => r.RotationType)).toEqual([
      "AUTOMATIC",
      "AUTOMATIC",
    ]);
    expect((await kms.decrypt(ROOT, { CiphertextBlob: old })).Plaintext).toEqual(bytes(2));
    await kms.disableKeyRotation(ROOT, { KeyId });
    c.advanceDays(400);
    expect(
      readBlobHeader((await kms.encrypt(ROOT, { KeyId, Plaintext: bytes(2) })).CiphertextBlob).keyVersion,
    ).toBe(3);
    // Rotation of a disabled key is refused.
    await kms.disableKey(ROOT, { KeyId });
    await rejects(kms.rotateKeyOnDemand(ROOT, { KeyId }), "DisabledException");
    await rejects(kms.enableKeyRotation(ROOT, { KeyId }), "DisabledException");
  });

  it("limits on-demand rotations to 25 per key (AWS's RotateKeyOnDemand: a maximum of 25 times per KMS key)", async () => {
    const { kms } = await setup();
    const { KeyId } = await newKey(kms);
    for (let i = 0; i < 25; i++) await kms.rotateKeyOnDemand(ROOT, { KeyId });
    expect((await kms.listKeyRotations(ROOT, { KeyId })).Rotations).toHaveLength(25);
    await rejects(kms.rotateKeyOnDemand(ROOT, { KeyId }), "LimitExceededException");
  });
});

describe("root key and data dir", () => {
  it("creates root.key with mode 0600 and the data dir with 0700, and reopens with every key working", async () => {
    const { LocalKms } = await import("./local-kms.js");
    const base = await openTemp();
    cleanups.push(base.cleanup);
    const nested = join(base.dir, "nested", "data");
    const t = { dir: nested, kms: await LocalKms.open({ dataDir: nested }) };
    cleanups.push(() => t.kms.close());
    expect(statSync(nested).mode & 0o777).toBe(0o700);
    expect(statSync(join(t.dir, "root.key")).mode & 0o777).toBe(0o600);
    expect(statSync(join(t.dir, "root.key")).size).toBe(32);
    const { KeyId } = await newKey(t.kms);
    await t.kms.createAlias(ROOT, { AliasName: "alias/keep", TargetKeyId: KeyId });
    await t.kms.rotateKeyOnDemand(ROOT, { KeyId });
    const blob = (await t.kms.encrypt(ROOT, { KeyId: "alias/keep", Plaintext: bytes(3) })).CiphertextBlob;
    await t.kms.close();
    const again = await LocalKms.open({ dataDir: t.dir });
    cleanups.push(() => again.close());
    expect((await again.decrypt(ROOT, { CiphertextBlob: blob })).Plaintext).toEqual(bytes(3));
    expect((await again.describeKey(ROOT, { KeyId: "alias/keep" })).KeyMetadata.KeyId).toBe(KeyId);
  });

  it("refuses to start with a missing or replaced root key instead of creating a new one", async () => {
    const t = await openTemp();
    cleanups.push(t.cleanup);
    await newKey(t.kms);
    await t.kms.close();
    const { LocalKms } = await import("./local-kms.js");
    const { renameSync, writeFileSync, randomBytes } = {
      ...(await import("node:fs")),
      ...(await import("node:crypto")),
    };
    renameSync(join(t.dir, "root.key"), join(t.dir, "root.key.bak"));
    const missing = await rejects(LocalKms.open({ dataDir: t.dir }), "KMSInternalException");
    expect(missing.message).toMatch(/root key file .* is missing/);
    writeFileSync(join(t.dir, "root.key"), randomBytes(32), { mode: 0o600 });
    const replaced = await rejects(LocalKms.open({ dataDir: t.dir }), "KMSInternalException");
    expect(replaced.message).toMatch(/not the one this data dir was created with/);
    await rejects(LocalKms.open({ dataDir: t.dir, rootKey: { passphrase: "x" } }), "KMSInternalException");
    renameSync(join(t.dir, "root.key.bak"), join(t.dir, "root.key"));
    const ok = await LocalKms.open({ dataDir: t.dir });
    await ok.close();
  });

  it("derives the root key from a passphrase with Argon2id and refuses a wrong one", async () => {
    const t = await openTemp({
      rootKey: { passphrase: "correct horse", argon2: { memorySize: 8192, iterations: 1 } },
    });
    cleanups.push(t.cleanup);
    const { KeyId } = await newKey(t.kms);
    const blob = (await t.kms.encrypt(ROOT, { KeyId, Plaintext: bytes(3) })).CiphertextBlob;
    await t.kms.close();
    const { existsSync } = await import("node:fs");
    expect(existsSync(join(t.dir, "root.key"))).toBe(false);
    const { LocalKms } = await import("./local-kms.js");
    await rejects(
      LocalKms.open({ dataDir: t.dir, rootKey: { passphrase: "wrong horse" } }),
      "KMSInternalException",
    );
    await rejects(LocalKms.open({ dataDir: t.dir }), "KMSInternalException");
    const again = await LocalKms.open({ dataDir: t.dir, rootKey: { passphrase: "correct horse" } });
    cleanups.push(() => again.close());
    expect((await again.decrypt(ROOT, { CiphertextBlob: blob })).Plaintext).toEqual(bytes(3));
  });
});

describe("audit and usage", () => {
  it("fails closed when the audit event cannot be written: no key material is returned", async () => {
    let fail = false;
    const events: string[] = [];
    const { kms } = await setup({
      audit: {
        async append(e) {
          if (fail) throw new Error("disk full");
          events.push(e.eventName);
        },
      },
    });
    const { KeyId } = await newKey(kms);
    fail = true;
    const e = await rejects(kms.generateDataKey(ROOT, { KeyId, KeySpec: "AES_256" }), "KMSInternalException");
    expect(e.code).toBe("ERR_PROVIDER_UNAVAILABLE");
    // A change whose event could not be written is rolled back.
    await rejects(kms.createKey(ROOT, {}), "KMSInternalException");
    fail = false;
    expect((await kms.listKeys(ROOT)).Keys).toHaveLength(1);
    expect(events).toEqual(["CreateKey", "ListKeys"]);
  });

  it("records every call once, refused and failed ones with their error, and never plaintext", async () => {
    const { kms } = await setup();
    const { KeyId, Arn } = await newKey(kms);
    await kms.encrypt(ALICE, { KeyId, Plaintext: utf8Secret, EncryptionContext: { t: "1" } });
    await rejects(kms.encrypt(MALLORY, { KeyId: Arn, Plaintext: utf8Secret }), "AccessDeniedException");
    await rejects(kms.decrypt(ALICE, { CiphertextBlob: bytes(60) }), "InvalidCiphertextException");
    const log = kms.auditLog!;
    const all = await log.query({});
    expect(all.map((e) => e.eventName)).toEqual(["CreateKey", "Encrypt", "Encrypt", "Decrypt"]);
    const denied = all[2]!;
    expect(denied.errorCode).toBe("AccessDeniedException");
    expect(denied.userIdentity.arn).toBe(MALLORY.principal);
    expect(denied.resources[0]!.ARN).toBe(Arn);
    expect(all[1]!.requestParameters).toMatchObject({ keyId: KeyId, encryptionContext: { t: "1" } });
    // As CloudTrail: Encrypt and Decrypt record the algorithm even when the request left it out.
    expect(all[1]!.requestParameters).toMatchObject({ encryptionAlgorithm: "SYMMETRIC_DEFAULT" });
    expect(all[3]!.requestParameters).toMatchObject({ encryptionAlgorithm: "SYMMETRIC_DEFAULT" });
    expect(JSON.stringify(all)).not.toContain(Buffer.from(utf8Secret).toString("base64"));
    expect((await log.query({ keyId: Arn })).length).toBe(3);
    expect((await log.verify()).ok).toBe(true);
  });

  it("counts usage per key and operation, and prices a month as AWS KMS would", async () => {
    const c = testClock(Date.UTC(2026, 2, 1));
    const { kms } = await setup({ clock: c.clock });
    const { KeyId, Arn } = await newKey(kms);
    for (let i = 0; i < 3; i++) await kms.encrypt(ROOT, { KeyId, Plaintext: bytes(1) });
    c.advanceDays(1);
    await kms.generateDataKey(ROOT, { KeyId, KeySpec: "AES_256" });
    // Refused and failed calls are not uses of the key.
    await rejects(kms.encrypt(MALLORY, { KeyId: Arn, Plaintext: bytes(1) }), "AccessDeniedException");
    await rejects(kms.encrypt(ROOT, { KeyId, Plaintext: bytes(4097) }), "ValidationException");
    const usage = await kms.getKeyLastUsage(ROOT, { KeyId });
    expect(usage.KeyId).toBe(Arn);
    expect(usage.KeyLastUsage.Operation).toBe("GenerateDataKey");
    expect(usage.KeyLastUsage.Timestamp!.getTime()).toBe(c.now());
    expect(usage.Operations.find((o) => o.Operation === "Encrypt")!.RequestCount).toBe(3);
    await kms.rotateKeyOnDemand(ROOT, { KeyId });
    c.advanceDays(40);
    const report = await kms.usageReport({ month: "2026-03" });
    expect(report.Partial).toBe(false);
    expect(report.Keys.CustomerManaged.Count).toBe(1);
    expect(report.Keys.CustomerManaged.KeyMonths).toBeCloseTo(1, 5);
    expect(report.Keys.CustomerManaged.RotationKeyMonths).toBeCloseTo(30 / 31, 5);
    expect(report.Requests.ByOperation.Encrypt).toBe(3);
    expect(report.Requests.Free).toBe(1);
    expect(report.EstimatedCostUsd.Requests).toBe(0);
    expect(report.EstimatedCostUsd.Total).toBeCloseTo(1 + 30 / 31, 5);
    await expect(kms.usageReport({ month: "2026-13" })).rejects.toThrow(RangeError);
  });
});

const utf8Secret = new TextEncoder().encode("the secret plaintext that must never be logged");

describe("DryRun", () => {
  it("runs every check, then answers DryRunOperationException (412) and does nothing", async () => {
    const { kms } = await setup();
    const { KeyId, Arn } = await newKey(kms);
    const context = { app: "x" };
    const blob = (await kms.encrypt(ROOT, { KeyId, Plaintext: bytes(3), EncryptionContext: context }))
      .CiphertextBlob;
    const grant = await kms.createGrant(ROOT, {
      KeyId,
      GranteePrincipal: BOB.principal,
      Operations: ["Decrypt"],
    });
    const dryRunOperations = [
      "Encrypt",
      "Decrypt",
      "ReEncrypt",
      "GenerateDataKey",
      "GenerateDataKeyWithoutPlaintext",
      "CreateGrant",
      "RetireGrant",
      "RevokeGrant",
    ];
    const uses = async () =>
      (await kms.getKeyLastUsage(ROOT, { KeyId })).Operations.filter((o) =>
        dryRunOperations.includes(o.Operation),
      );
    const usesBefore = await uses();

    const dry = { DryRun: true } as const;
    const refused = [
      await rejects(kms.encrypt(ROOT, { KeyId, Plaintext: bytes(1), ...dry }), "DryRunOperationException"),
      await rejects(
        kms.decrypt(ROOT, { CiphertextBlob: blob, EncryptionContext: context, ...dry }),
        "DryRunOperationException",
      ),
      await rejects(
        kms.reEncrypt(ROOT, {
          CiphertextBlob: blob,
          SourceEncryptionContext: context,
          DestinationKeyId: KeyId,
          ...dry,
        }),
        "DryRunOperationException",
      ),
      await rejects(
        kms.generateDataKey(ROOT, { KeyId, KeySpec: "AES_256", ...dry }),
        "DryRunOperationException",
      ),
      await rejects(
        kms.generateDataKeyWithoutPlaintext(ROOT, { KeyId, NumberOfBytes: 64, ...dry }),
        "DryRunOperationException",
      ),
      await rejects(
        kms.createGrant(ROOT, { KeyId, GranteePrincipal: ALICE.principal, Operations: ["Encrypt"], ...dry }),
        "DryRunOperationException",
      ),
      await rejects(
        kms.retireGrant(ROOT, { GrantToken: grant.GrantToken, ...dry }),
        "DryRunOperationException",
      ),
      await rejects(
        kms.revokeGrant(ROOT, { KeyId, GrantId: grant.GrantId, ...dry }),
        "DryRunOperationException",
      ),
    ];
    for (const e of refused) {
      expect(e.httpStatus).toBe(412);
      expect(e.message).toBe("The request would have succeeded, but the DryRun option is set.");
    }
    // Nothing happened: the one grant is still there and no new one was made; the key was not used.
    expect((await kms.listGrants(ROOT, { KeyId })).Grants.map((g) => g.GrantId)).toEqual([grant.GrantId]);
    expect(await uses()).toEqual(usesBefore);
    // Each dry run is in the audit log, with its error, as CloudTrail records them.
    const events = (await kms.auditLog!.query({ keyId: Arn })).filter((e) => e.errorCode !== undefined);
    expect(events.map((e) => [e.eventName, e.errorCode])).toEqual(
      dryRunOperations.map((name) => [name, "DryRunOperationException"]),
    );
  });

  it("answers the real error when the call would fail", async () => {
    const { kms } = await setup();
    const { KeyId } = await newKey(kms);
    const blob = (await kms.encrypt(ROOT, { KeyId, Plaintext: bytes(3) })).CiphertextBlob;
    const dry = { DryRun: true } as const;
    await rejects(kms.encrypt(MALLORY, { KeyId, Plaintext: bytes(1), ...dry }), "AccessDeniedException");
    await rejects(kms.encrypt(ROOT, { KeyId, Plaintext: bytes(4097), ...dry }), "ValidationException");
    // A dry-run Decrypt proves the blob opens under the context given.
    await rejects(
      kms.decrypt(ROOT, { CiphertextBlob: blob, EncryptionContext: { wrong: "1" }, ...dry }),
      "InvalidCiphertextException",
    );
    await rejects(kms.revokeGrant(ROOT, { KeyId, GrantId: "f".repeat(64), ...dry }), "NotFoundException");
    await rejects(
      kms.encrypt(ROOT, { KeyId, Plaintext: bytes(1), DryRun: "yes" as never }),
      "ValidationException",
    );
    await kms.disableKey(ROOT, { KeyId });
    await rejects(kms.generateDataKey(ROOT, { KeyId, KeySpec: "AES_256", ...dry }), "DisabledException");
    // CreateGrant needs an enabled key (AWS's key state table), and a dry run checks the key state too.
    await rejects(
      kms.createGrant(ROOT, { KeyId, GranteePrincipal: BOB.principal, Operations: ["Decrypt"], ...dry }),
      "DisabledException",
    );
  });
});

describe("policies and grants", () => {
  it("denies by policy, audits the refusal, and honours explicit Deny over Allow", async () => {
    const { kms } = await setup();
    const { KeyId } = await newKey(kms);
    await rejects(kms.encrypt(MALLORY, { KeyId, Plaintext: bytes(1) }), "AccessDeniedException");
    const policy = {
      Version: "2012-10-17",
      Statement: [
        {
          Sid: "root",
          Effect: "Allow",
          Principal: { AWS: `arn:aws:iam::${ACCOUNT}:root` },
          Action: "kms:*",
          Resource: "*",
        },
        {
          Sid: "no-bob",
          Effect: "Deny",
          Principal: { AWS: BOB.principal },
          Action: "kms:Decrypt",
          Resource: "*",
        },
        {
          Sid: "mallory-tenant",
          Effect: "Allow",
          Principal: { AWS: MALLORY.principal },
          Action: "kms:Encrypt",
          Resource: "*",
          Condition: { StringEquals: { "kms:EncryptionContext:tenant": "mallory" } },
        },
      ],
    };
    await kms.putKeyPolicy(ROOT, { KeyId, Policy: JSON.stringify(policy) });
    expect(JSON.parse((await kms.getKeyPolicy(ROOT, { KeyId })).Policy)).toEqual(policy);
    expect((await kms.listKeyPolicies(ROOT, { KeyId })).PolicyNames).toEqual(["default"]);
    const blob = (
      await kms.encrypt(MALLORY, { KeyId, Plaintext: bytes(1), EncryptionContext: { tenant: "mallory" } })
    ).CiphertextBlob;
    await rejects(
      kms.encrypt(MALLORY, { KeyId, Plaintext: bytes(1), EncryptionContext: { tenant: "acme" } }),
      "AccessDeniedException",
    );
    await rejects(
      kms.decrypt(BOB, { CiphertextBlob: blob, EncryptionContext: { tenant: "mallory" } }),
      "AccessDeniedException",
    );
    expect(
      (await kms.decrypt(ALICE, { CiphertextBlob: blob, EncryptionContext: { tenant: "mallory" } }))
        .Plaintext,
    ).toEqual(bytes(1));
    const refused = await kms.auditLog!.query({ errorsOnly: true });
    expect(refused.map((e) => [e.eventName, e.errorCode, e.userIdentity.arn])).toEqual([
      ["Encrypt", "AccessDeniedException", MALLORY.principal],
      ["Encrypt", "AccessDeniedException", MALLORY.principal],
      ["Decrypt", "AccessDeniedException", BOB.principal],
    ]);
  });

  it("refuses a policy that would lock the caller out unless bypassed", async () => {
    const { kms } = await setup();
    const { KeyId } = await newKey(kms);
    const lockout = JSON.stringify({
      Version: "2012-10-17",
      Statement: [
        { Effect: "Allow", Principal: { AWS: BOB.principal }, Action: "kms:Encrypt", Resource: "*" },
      ],
    });
    await rejects(kms.putKeyPolicy(ROOT, { KeyId, Policy: lockout }), "MalformedPolicyDocumentException");
    await rejects(kms.createKey(ROOT, { Policy: lockout }), "MalformedPolicyDocumentException");
    await kms.putKeyPolicy(ROOT, { KeyId, Policy: lockout, BypassPolicyLockoutSafetyCheck: true });
    await rejects(kms.putKeyPolicy(ROOT, { KeyId, Policy: lockout }), "AccessDeniedException");
  });

  it("lets a grant allow a principal the policy does not, within its operations and constraints", async () => {
    const { kms } = await setup();
    const { KeyId, Arn } = await newKey(kms);
    const blob = (await kms.encrypt(ROOT, { KeyId, Plaintext: bytes(2), EncryptionContext: { app: "x" } }))
      .CiphertextBlob;
    await rejects(
      kms.decrypt(MALLORY, { CiphertextBlob: blob, EncryptionContext: { app: "x" } }),
      "AccessDeniedException",
    );
    const g = await kms.createGrant(ROOT, {
      KeyId,
      GranteePrincipal: MALLORY.principal,
      Operations: ["Decrypt"],
      Constraints: { EncryptionContextSubset: { app: "x" } },
      Name: "mallory-decrypt",
    });
    const again = await kms.createGrant(ROOT, {
      KeyId,
      GranteePrincipal: MALLORY.principal,
      Operations: ["Decrypt"],
      Constraints: { EncryptionContextSubset: { app: "x" } },
      Name: "mallory-decrypt",
    });
    expect(again.GrantId).toBe(g.GrantId);
    expect(
      (
        await kms.decrypt(MALLORY, {
          CiphertextBlob: blob,
          EncryptionContext: { app: "x" },
          GrantTokens: [g.GrantToken],
        })
      ).Plaintext,
    ).toEqual(bytes(2));
    await rejects(
      kms.encrypt(MALLORY, { KeyId: Arn, Plaintext: bytes(1), EncryptionContext: { app: "x" } }),
      "AccessDeniedException",
    );
    const other = (await kms.encrypt(ROOT, { KeyId, Plaintext: bytes(2), EncryptionContext: { app: "y" } }))
      .CiphertextBlob;
    await rejects(
      kms.decrypt(MALLORY, { CiphertextBlob: other, EncryptionContext: { app: "y" } }),
      "AccessDeniedException",
    );
    await rejects(
      kms.decrypt(MALLORY, {
        CiphertextBlob: blob,
        EncryptionContext: { app: "x" },
        GrantTokens: ["garbage!"],
      }),
      "InvalidGrantTokenException",
    );
    const list = await kms.listGrants(ROOT, { KeyId });
    expect(list.Grants).toHaveLength(1);
    expect(list.Grants[0]).toMatchObject({
      GrantId: g.GrantId,
      GranteePrincipal: MALLORY.principal,
      Operations: ["Decrypt"],
      Name: "mallory-decrypt",
    });
    await rejects(
      kms.createGrant(ROOT, { KeyId, GranteePrincipal: BOB.principal, Operations: ["Nonsense"] }),
      "ValidationException",
    );
    // Mallory is the grantee, but the grant does not include RetireGrant and she is of another account.
    await rejects(kms.retireGrant(MALLORY, { GrantToken: g.GrantToken }), "AccessDeniedException");
    await kms.revokeGrant(ROOT, { KeyId, GrantId: g.GrantId });
    await rejects(kms.revokeGrant(ROOT, { KeyId, GrantId: g.GrantId }), "NotFoundException");
    await rejects(
      kms.decrypt(MALLORY, { CiphertextBlob: blob, EncryptionContext: { app: "x" } }),
      "AccessDeniedException",
    );
    const r = await kms.createGrant(ROOT, {
      KeyId,
      GranteePrincipal: BOB.principal,
      RetiringPrincipal: ALICE.principal,
      Operations: ["Encrypt"],
    });
    await kms.retireGrant(ALICE, { GrantToken: r.GrantToken });
    expect((await kms.listGrants(ROOT, { KeyId })).Grants).toHaveLength(0);
  });
});

describe("more rules", () => {
  it("takes any KeyWrapper as the root key and refuses another one later", async () => {
    const { randomBytes } = await import("node:crypto");
    const { AesKeyWrapper } = await import("./root-key.js");
    const hsmKey = new Uint8Array(randomBytes(32));
    const wrapper = new AesKeyWrapper(hsmKey, "test-hsm");
    const t = await openTemp({ rootKey: wrapper });
    cleanups.push(t.cleanup);
    const { existsSync } = await import("node:fs");
    expect(existsSync(join(t.dir, "root.key"))).toBe(false);
    const { KeyId } = await newKey(t.kms);
    const blob = (await t.kms.encrypt(ROOT, { KeyId, Plaintext: bytes(4) })).CiphertextBlob;
    await t.kms.close();
    const { LocalKms } = await import("./local-kms.js");
    await rejects(
      LocalKms.open({ dataDir: t.dir, rootKey: new AesKeyWrapper(new Uint8Array(randomBytes(32)), "other") }),
      "KMSInternalException",
    );
    await rejects(LocalKms.open({ dataDir: t.dir }), "KMSInternalException");
    const again = await LocalKms.open({ dataDir: t.dir, rootKey: new AesKeyWrapper(hsmKey, "test-hsm") });
    cleanups.push(() => again.close());
    expect((await again.decrypt(ROOT, { CiphertextBlob: blob })).Plaintext).toEqual(bytes(4));
  });

  it("refuses a root key file readable by others", async () => {
    const t = await openTemp();
    cleanups.push(t.cleanup);
    await newKey(t.kms);
    await t.kms.close();
    const { chmodSync } = await import("node:fs");
    chmodSync(join(t.dir, "root.key"), 0o644);
    const { LocalKms } = await import("./local-kms.js");
    const e = await rejects(LocalKms.open({ dataDir: t.dir }), "KMSInternalException");
    expect(e.message).toMatch(/chmod 600/);
  });

  it("authorizes ReEncrypt as ReEncryptFrom on the source and ReEncryptTo on the destination", async () => {
    const { kms } = await setup();
    const a = await newKey(kms);
    const b = await newKey(kms);
    const only = (action: string) =>
      JSON.stringify({
        Version: "2012-10-17",
        Statement: [
          {
            Effect: "Allow",
            Principal: { AWS: `arn:aws:iam::${ACCOUNT}:root` },
            Action: "kms:*",
            Resource: "*",
          },
          { Effect: "Allow", Principal: { AWS: MALLORY.principal }, Action: action, Resource: "*" },
        ],
      });
    await kms.putKeyPolicy(ROOT, { KeyId: a.KeyId, Policy: only("kms:ReEncryptFrom") });
    await kms.putKeyPolicy(ROOT, { KeyId: b.KeyId, Policy: only("kms:Encrypt") });
    const { CiphertextBlob } = await kms.encrypt(ROOT, { KeyId: a.KeyId, Plaintext: bytes(3) });
    const denied = await rejects(
      kms.reEncrypt(MALLORY, { CiphertextBlob, DestinationKeyId: b.KeyId }),
      "AccessDeniedException",
    );
    expect(denied.message).toContain("kms:ReEncryptTo");
    await kms.putKeyPolicy(ROOT, { KeyId: b.KeyId, Policy: only("kms:ReEncrypt*") });
    const re = await kms.reEncrypt(MALLORY, { CiphertextBlob, DestinationKeyId: b.KeyId });
    expect(re.KeyId).toBe(b.Arn);
    // Mallory may re-encrypt but never see the plaintext.
    await rejects(kms.decrypt(MALLORY, { CiphertextBlob: re.CiphertextBlob }), "AccessDeniedException");
  });

  it("keeps callers of other accounts away from account-level operations", async () => {
    const { kms } = await setup();
    await rejects(kms.createKey(MALLORY, {}), "AccessDeniedException");
    await rejects(kms.listKeys(MALLORY), "AccessDeniedException");
    await rejects(kms.listAliases(MALLORY), "AccessDeniedException");
    await rejects(kms.generateRandom(MALLORY, { NumberOfBytes: 8 }), "AccessDeniedException");
    const { KeyId } = await newKey(kms);
    await rejects(kms.describeKey(MALLORY, { KeyId }), "AccessDeniedException");
    await rejects(kms.scheduleKeyDeletion(MALLORY, { KeyId }), "AccessDeniedException");
  });

  it("pages grants and records service deletions in the audit log", async () => {
    const c = testClock();
    const { kms } = await setup({ clock: c.clock });
    const { KeyId, Arn } = await newKey(kms);
    for (let i = 0; i < 5; i++) {
      await kms.createGrant(ROOT, {
        KeyId,
        GranteePrincipal: `arn:aws:iam::${ACCOUNT}:user/u${i}`,
        Operations: ["Encrypt"],
      });
    }
    const p1 = await kms.listGrants(ROOT, { KeyId, Limit: 3 });
    const p2 = await kms.listGrants(ROOT, { KeyId, Limit: 3, Marker: p1.NextMarker });
    expect([p1.Grants.length, p1.Truncated, p2.Grants.length, p2.Truncated]).toEqual([3, true, 2, false]);
    expect(new Set([...p1.Grants, ...p2.Grants].map((g) => g.GranteePrincipal)).size).toBe(5);
    const filtered = await kms.listGrants(ROOT, {
      KeyId,
      GranteePrincipal: `arn:aws:iam::${ACCOUNT}:user/u3`,
    });
    expect(filtered.Grants).toHaveLength(1);
    await kms.scheduleKeyDeletion(ROOT, { KeyId, PendingWindowInDays: 7 });
    c.advanceDays(7);
    await kms.listKeys(ROOT);
    const deletions = await kms.auditLog!.query({ eventName: "DeleteKey" });
    expect(deletions).toHaveLength(1);
    expect(deletions[0]!.userIdentity.arn).toBe("kms.amazonaws.com");
    expect(deletions[0]!.resources[0]!.ARN).toBe(Arn);
  });

  it("refuses calls after close", async () => {
    const t = await openTemp();
    cleanups.push(async () => t.cleanup());
    await t.kms.close();
    await rejects(t.kms.listKeys(ROOT), "KMSInternalException");
  });
});

describe("service owned keys", () => {
  it("are never listed or addressable, and open only their own purpose's blobs", async () => {
    const { kms } = await setup();
    const secret = new TextEncoder().encode("internal state");
    const blob = await kms.sealOwned("backup-index", secret, { v: "1" });
    expect(await kms.openOwned("backup-index", blob, { v: "1" })).toEqual(secret);
    await rejects(kms.openOwned("backup-index", blob, { v: "2" }), "InvalidCiphertextException");
    await rejects(kms.openOwned("other-purpose", blob, { v: "1" }), "InvalidCiphertextException");
    const ownedId = readBlobHeader(blob).keyId;
    expect((await kms.listKeys(ROOT)).Keys).toHaveLength(0);
    await rejects(kms.describeKey(ROOT, { KeyId: ownedId }), "NotFoundException");
    await rejects(
      kms.decrypt(ROOT, { CiphertextBlob: blob, EncryptionContext: { v: "1" } }),
      "NotFoundException",
    );
    await rejects(kms.encrypt(ROOT, { KeyId: ownedId, Plaintext: bytes(1) }), "NotFoundException");
    await rejects(
      kms.createAlias(ROOT, { AliasName: "alias/steal", TargetKeyId: ownedId }),
      "NotFoundException",
    );
    expect(kms.resolveKeyArn(ownedId)).toBeUndefined();
    // The same key serves later calls of the same purpose.
    expect(readBlobHeader(await kms.sealOwned("backup-index", secret)).keyId).toBe(ownedId);
  });
});

describe("changing the root key", () => {
  it("re-wraps every backing key: file → passphrase → KeyWrapper → new file, ciphertexts keep decrypting", async () => {
    const { randomBytes } = await import("node:crypto");
    const { LocalKms } = await import("./local-kms.js");
    const { AesKeyWrapper } = await import("./root-key.js");
    const t = await openTemp();
    cleanups.push(t.cleanup);
    const { KeyId } = await newKey(t.kms);
    await t.kms.rotateKeyOnDemand(ROOT, { KeyId });
    const blob = (await t.kms.encrypt(ROOT, { KeyId, Plaintext: bytes(5) })).CiphertextBlob;
    const old = (await t.kms.encrypt(ROOT, { KeyId, Plaintext: bytes(5, 1) })).CiphertextBlob;
    await t.kms.close();
    const check = async (rootKey: Parameters<typeof LocalKms.open>[0]["rootKey"]) => {
      const kms = await LocalKms.open({ dataDir: t.dir, ...(rootKey ? { rootKey } : {}) });
      try {
        expect((await kms.decrypt(ROOT, { CiphertextBlob: blob })).Plaintext).toEqual(bytes(5));
        expect((await kms.decrypt(ROOT, { CiphertextBlob: old })).Plaintext).toEqual(bytes(5, 1));
      } finally {
        await kms.close();
      }
    };
    const passphrase = { passphrase: "new secret", argon2: { memorySize: 8192, iterations: 1 } };
    expect((await LocalKms.changeRootKey({ dataDir: t.dir, to: passphrase })).rewrapped).toBe(2);
    await check({ passphrase: "new secret" });
    await rejects(LocalKms.open({ dataDir: t.dir }), "KMSInternalException");

    const hsm = new Uint8Array(randomBytes(32));
    await LocalKms.changeRootKey({
      dataDir: t.dir,
      from: { passphrase: "new secret" },
      to: new AesKeyWrapper(hsm, "hsm"),
    });
    await check(new AesKeyWrapper(hsm, "hsm"));
    await rejects(
      LocalKms.open({ dataDir: t.dir, rootKey: { passphrase: "new secret" } }),
      "KMSInternalException",
    );

    const newFile = join(t.dir, "root-2.key");
    await LocalKms.changeRootKey({
      dataDir: t.dir,
      from: new AesKeyWrapper(hsm, "hsm"),
      to: { file: newFile },
    });
    expect(statSync(newFile).mode & 0o777).toBe(0o600);
    await check(undefined);
    await expect(LocalKms.changeRootKey({ dataDir: t.dir, to: { file: newFile } })).rejects.toThrow(
      TypeError,
    );
    // A wrong `from` changes nothing.
    await rejects(
      LocalKms.changeRootKey({ dataDir: t.dir, from: { passphrase: "nope" }, to: { passphrase: "x" } }),
      "KMSInternalException",
    );
    await check({ file: newFile });
  });
});

describe("concurrency", () => {
  it("serves concurrent changes and cryptography, each audited exactly once", async () => {
    const { kms } = await setup();
    const { KeyId } = await newKey(kms);
    const calls: Promise<unknown>[] = [];
    for (let i = 0; i < 30; i++) {
      calls.push(kms.encrypt(ROOT, { KeyId, Plaintext: bytes(8, i) }));
      if (i % 5 === 0) calls.push(kms.rotateKeyOnDemand(ROOT, { KeyId }));
      if (i % 7 === 0) calls.push(kms.createKey(ROOT, {}));
      if (i % 10 === 0) calls.push(kms.describeKey(MALLORY, { KeyId }).catch(() => "denied"));
    }
    const results = await Promise.all(calls);
    const blobs = results.filter(
      (r): r is { CiphertextBlob: Uint8Array } =>
        typeof r === "object" && r !== null && "CiphertextBlob" in r,
    );
    expect(blobs).toHaveLength(30);
    const versions = new Set(blobs.map((b) => readBlobHeader(b.CiphertextBlob).keyVersion));
    expect(versions.size).toBeGreaterThan(1);
    for (let i = 0; i < 30; i++) {
      expect((await kms.decrypt(ROOT, { CiphertextBlob: blobs[i]!.CiphertextBlob })).Plaintext).toEqual(
        bytes(8, i),
      );
    }
    const events = await kms.auditLog!.query({});
    // CreateKey + the concurrent calls + the 30 decrypts, each once.
    expect(events).toHaveLength(1 + calls.length + 30);
    expect(new Set(events.map((e) => e.requestID)).size).toBe(events.length);
    expect((await kms.auditLog!.verify()).ok).toBe(true);
  });
});

describe("read-only calls without the lock", () => {
  it("see every committed change at once: state, policy, alias, grants", async () => {
    const { kms } = await setup();
    const a = await newKey(kms);
    const b = await newKey(kms);
    await kms.createAlias(ROOT, { AliasName: "alias/app", TargetKeyId: a.KeyId });
    // Warm every cached read (row, alias, policy) on the lock-free path first.
    const first = await kms.encrypt(ROOT, { KeyId: "alias/app", Plaintext: bytes(4) });
    expect(first.KeyId).toBe(a.Arn);
    await kms.updateAlias(ROOT, { AliasName: "alias/app", TargetKeyId: b.KeyId });
    expect((await kms.encrypt(ROOT, { KeyId: "alias/app", Plaintext: bytes(4) })).KeyId).toBe(b.Arn);

    await kms.disableKey(ROOT, { KeyId: b.KeyId });
    await rejects(kms.encrypt(ROOT, { KeyId: "alias/app", Plaintext: bytes(4) }), "DisabledException");
    await kms.enableKey(ROOT, { KeyId: b.KeyId });
    await kms.encrypt(ROOT, { KeyId: "alias/app", Plaintext: bytes(4) });

    await rejects(
      kms.generateDataKey(MALLORY, { KeyId: a.KeyId, KeySpec: "AES_256" }),
      "AccessDeniedException",
    );
    const { GrantId } = await kms.createGrant(ROOT, {
      KeyId: a.KeyId,
      GranteePrincipal: MALLORY.principal,
      Operations: ["GenerateDataKey"],
    });
    await kms.generateDataKey(MALLORY, { KeyId: a.KeyId, KeySpec: "AES_256" });
    await kms.revokeGrant(ROOT, { KeyId: a.KeyId, GrantId });
    await rejects(
      kms.generateDataKey(MALLORY, { KeyId: a.KeyId, KeySpec: "AES_256" }),
      "AccessDeniedException",
    );

    const deny = {
      Version: "2012-10-17",
      Statement: [
        { Sid: "root", Effect: "Allow", Principal: { AWS: ROOT.principal }, Action: "kms:*", Resource: "*" },
        { Sid: "no-gdk", Effect: "Deny", Principal: "*", Action: "kms:GenerateDataKey", Resource: "*" },
      ],
    };
    await kms.putKeyPolicy(ROOT, { KeyId: a.KeyId, PolicyName: "default", Policy: JSON.stringify(deny) });
    await rejects(kms.generateDataKey(ROOT, { KeyId: a.KeyId, KeySpec: "AES_256" }), "AccessDeniedException");
  });

  it("never act on a change still in its transaction: they retry under the lock and see it commit or roll back", async () => {
    // An audit sink that holds DisableKey's event, then fails it: the change stays uncommitted for a while and
    // rolls back. Encrypt calls made meanwhile must not see the key disabled.
    let release: () => void = () => {};
    const held = new Promise<void>((resolve) => (release = resolve));
    const { kms } = await setup({
      audit: {
        async append(e) {
          if (e.eventName === "DisableKey") {
            await held;
            throw new Error("disk full");
          }
        },
      },
    });
    const { KeyId } = await newKey(kms);
    await kms.encrypt(ROOT, { KeyId, Plaintext: bytes(4) });
    const disabling = kms.disableKey(ROOT, { KeyId });
    // DisableKey's transaction is open (its UPDATE done) while its event is held.
    await new Promise((r) => setTimeout(r, 20));
    const during = Array.from({ length: 8 }, () => kms.encrypt(ROOT, { KeyId, Plaintext: bytes(4) }));
    let settled = 0;
    for (const p of during)
      void p.then(
        () => settled++,
        () => settled++,
      );
    await new Promise((r) => setTimeout(r, 20));
    // They wait for the lock instead of answering from the uncommitted row.
    expect(settled).toBe(0);
    release();
    await rejects(disabling, "KMSInternalException");
    for (const p of during) await p;
    expect((await kms.describeKey(ROOT, { KeyId })).KeyMetadata.Enabled).toBe(true);
  });

  it("discard what they read once a transaction began meanwhile (a rotation that rolls back)", async () => {
    // ReEncrypt unwraps the source key (slowly here), then reads the destination's current version. Meanwhile a
    // rotation of the destination opens its transaction, adds version 2, and rolls back when its event fails.
    // The ReEncrypt must not seal under that uncommitted version: it retries under the lock and uses version 1.
    const { AesKeyWrapper } = await import("./root-key.js");
    const { randomBytes } = await import("node:crypto");
    const inner = new AesKeyWrapper(new Uint8Array(randomBytes(32)), "slow");
    let slow = false;
    const rootKey = {
      description: "slow",
      wrap: (p: Uint8Array, aad: Uint8Array) => inner.wrap(p, aad),
      async unwrap(w: Uint8Array, aad: Uint8Array) {
        if (slow) await new Promise((r) => setTimeout(r, 30));
        return inner.unwrap(w, aad);
      },
    };
    let failRotation = false;
    const { kms } = await setup({
      rootKey,
      audit: {
        async append(e) {
          if (failRotation && e.eventName === "RotateKeyOnDemand") {
            await new Promise((r) => setTimeout(r, 60));
            throw new Error("disk full");
          }
        },
      },
    });
    const source = await newKey(kms);
    const destination = await newKey(kms);
    const { CiphertextBlob } = await kms.encrypt(ROOT, { KeyId: source.KeyId, Plaintext: bytes(4) });
    await kms.encrypt(ROOT, { KeyId: destination.KeyId, Plaintext: bytes(4) });
    // A failed change rolls back and drops unwrapped keys: the next unwrap is the slow one.
    failRotation = true;
    await rejects(kms.rotateKeyOnDemand(ROOT, { KeyId: destination.KeyId }), "KMSInternalException");
    // Any change makes the next call look for due deletions and rotations under the lock; after that one, calls
    // are lock-free again.
    await kms.describeKey(ROOT, { KeyId: source.KeyId });
    slow = true;
    const reEncrypting = kms.reEncrypt(ROOT, { CiphertextBlob, DestinationKeyId: destination.KeyId });
    const rotating = kms.rotateKeyOnDemand(ROOT, { KeyId: destination.KeyId });
    await rejects(rotating, "KMSInternalException");
    const out = await reEncrypting;
    slow = false;
    failRotation = false;
    expect(readBlobHeader(out.CiphertextBlob).keyVersion).toBe(1);
    expect((await kms.decrypt(ROOT, { CiphertextBlob: out.CiphertextBlob })).Plaintext).toEqual(bytes(4));
  });

  it("count usage in memory and write it before it is read, and on close", async () => {
    const { kms, dir } = await setup();
    const { KeyId } = await newKey(kms);
    await Promise.all(
      Array.from({ length: 25 }, () => kms.generateDataKey(ROOT, { KeyId, KeySpec: "AES_256" })),
    );
    const ops = (await kms.getKeyLastUsage(ROOT, { KeyId })).Operations;
    expect(ops.find((o) => o.Operation === "GenerateDataKey")?.RequestCount).toBe(25);
    await kms.encrypt(ROOT, { KeyId, Plaintext: bytes(1) });
    await kms.close();
    const { LocalKms } = await import("./local-kms.js");
    const again = await LocalKms.open({ dataDir: dir });
    cleanups.push(() => again.close());
    const after = (await again.getKeyLastUsage(ROOT, { KeyId })).Operations;
    expect(after.find((o) => o.Operation === "Encrypt")?.RequestCount).toBe(1);
    expect(after.find((o) => o.Operation === "GetKeyLastUsage")?.RequestCount).toBe(1);
  });
});
