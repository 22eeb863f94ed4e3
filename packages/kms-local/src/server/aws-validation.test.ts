// Request validation compared with AWS KMS's: exception names, statuses and the wording of its model validation
// ("1 validation error detected: Value '1025' at 'numberOfBytes' failed to satisfy constraint: ..."), over HTTP
// with the real @aws-sdk/client-kms where the SDK sends the bad value, and with raw signed requests where it would not.

import * as K from "@aws-sdk/client-kms";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GRANT_OPERATIONS } from "../policy/index.js";
import { ALICE, call, type SdkServer, send, signRequest, startSdkServer } from "./test-support.js";

const MISSING_KEY = "arn:aws:kms:us-east-1:111122223333:key/00000000-0000-4000-8000-000000000000";
const PREFIX = "1 validation error detected: ";

describe("request validation as AWS KMS does it", { timeout: 30_000 }, () => {
  let fixture: SdkServer;
  let client: K.KMSClient;
  let keyId: string;

  beforeAll(async () => {
    fixture = await startSdkServer("sealkit-kms-validation-");
    client = fixture.alice;
    keyId = (await client.send(new K.CreateKeyCommand({}))).KeyMetadata!.KeyId!;
  });
  afterAll(() => fixture?.close());

  async function failure(
    command: unknown,
  ): Promise<{ name: string; status: number | undefined; message: string }> {
    try {
      // biome-ignore lint/suspicious/noExplicitAny: each test passes a different command
      await client.send(command as any);
    } catch (e) {
      const err = e as K.KMSServiceException;
      return { name: err.name, status: err.$metadata?.httpStatusCode, message: err.message };
    }
    throw new Error("expected the call to fail");
  }

  const invalid = (message: string) => ({
    name: "ValidationException",
    status: 400,
    message: PREFIX + message,
  });

  describe("length and range constraints (SDK)", () => {
    it("Plaintext of 4,097 bytes or none: the value is left out, as AWS leaves out sensitive members", async () => {
      expect(await failure(new K.EncryptCommand({ KeyId: keyId, Plaintext: new Uint8Array(4097) }))).toEqual(
        invalid(
          "Value at 'plaintext' failed to satisfy constraint: Member must have length less than or equal to 4096",
        ),
      );
      expect(await failure(new K.EncryptCommand({ KeyId: keyId, Plaintext: new Uint8Array(0) }))).toEqual(
        invalid(
          "Value at 'plaintext' failed to satisfy constraint: Member must have length greater than or equal to 1",
        ),
      );
      const ok = await client.send(new K.EncryptCommand({ KeyId: keyId, Plaintext: new Uint8Array(4096) }));
      expect(ok.CiphertextBlob!.length).toBeGreaterThan(4096);
    });

    it("CiphertextBlob of 6,145 bytes", async () => {
      expect(await failure(new K.DecryptCommand({ CiphertextBlob: new Uint8Array(6145) }))).toEqual(
        invalid(
          "Value at 'ciphertextBlob' failed to satisfy constraint: Member must have length less than or equal to 6144",
        ),
      );
    });

    it("NumberOfBytes 0 and 1,025 name the value and the bound crossed (GenerateDataKey*, GenerateRandom)", async () => {
      for (const Command of [K.GenerateDataKeyCommand, K.GenerateDataKeyWithoutPlaintextCommand]) {
        expect(await failure(new Command({ KeyId: keyId, NumberOfBytes: 1025 }))).toEqual(
          invalid(
            "Value '1025' at 'numberOfBytes' failed to satisfy constraint: Member must have value less than or equal to 1024",
          ),
        );
        expect(await failure(new Command({ KeyId: keyId, NumberOfBytes: 0 }))).toEqual(
          invalid(
            "Value '0' at 'numberOfBytes' failed to satisfy constraint: Member must have value greater than or equal to 1",
          ),
        );
      }
      expect(await failure(new K.GenerateRandomCommand({ NumberOfBytes: 2000 }))).toEqual(
        invalid(
          "Value '2000' at 'numberOfBytes' failed to satisfy constraint: Member must have value less than or equal to 1024",
        ),
      );
    });

    it("Limit outside the operation's range", async () => {
      expect(await failure(new K.ListKeysCommand({ Limit: 0 }))).toEqual(
        invalid(
          "Value '0' at 'limit' failed to satisfy constraint: Member must have value greater than or equal to 1",
        ),
      );
      expect(await failure(new K.ListAliasesCommand({ Limit: 101 }))).toEqual(
        invalid(
          "Value '101' at 'limit' failed to satisfy constraint: Member must have value less than or equal to 100",
        ),
      );
    });

    it("Description of 8,193 characters (the value is echoed, as AWS echoes strings)", async () => {
      const long = "d".repeat(8193);
      const r = await failure(new K.UpdateKeyDescriptionCommand({ KeyId: keyId, Description: long }));
      expect({ ...r, message: r.message.replace(long, "<8193 d>") }).toEqual(
        invalid(
          "Value '<8193 d>' at 'description' failed to satisfy constraint: Member must have length less than or equal to 8192",
        ),
      );
      await client.send(new K.UpdateKeyDescriptionCommand({ KeyId: keyId, Description: "" }));
    });

    it("tag keys over 128 and values over 256 characters are ValidationException at 'tags.N.member...'", async () => {
      const longKey = "k".repeat(129);
      expect(
        await failure(
          new K.TagResourceCommand({
            KeyId: keyId,
            Tags: [
              { TagKey: "ok", TagValue: "" },
              { TagKey: longKey, TagValue: "v" },
            ],
          }),
        ),
      ).toEqual(
        invalid(
          `Value '${longKey}' at 'tags.2.member.tagKey' failed to satisfy constraint: Member must have length less than or equal to 128`,
        ),
      );
      const longValue = "v".repeat(257);
      expect(
        await failure(new K.CreateKeyCommand({ Tags: [{ TagKey: "team", TagValue: longValue }] })),
      ).toEqual(
        invalid(
          `Value '${longValue}' at 'tags.1.member.tagValue' failed to satisfy constraint: Member must have length less than or equal to 256`,
        ),
      );
      expect(
        await failure(new K.TagResourceCommand({ KeyId: keyId, Tags: [{ TagKey: "", TagValue: "v" }] })),
      ).toEqual(
        invalid(
          "Value '' at 'tags.1.member.tagKey' failed to satisfy constraint: Member must have length greater than or equal to 1",
        ),
      );
      expect(
        await failure(new K.TagResourceCommand({ KeyId: keyId, Tags: [{ TagKey: "team" } as K.Tag] })),
      ).toEqual(
        invalid(
          "Value null at 'tags.1.member.tagValue' failed to satisfy constraint: Member must not be null",
        ),
      );
      // The reserved prefix stays a TagException, as in AWS KMS; 128 and 256 characters pass.
      expect(
        (
          await failure(
            new K.TagResourceCommand({ KeyId: keyId, Tags: [{ TagKey: "aws:x", TagValue: "v" }] }),
          )
        ).name,
      ).toBe("TagException");
      await client.send(
        new K.TagResourceCommand({
          KeyId: keyId,
          Tags: [{ TagKey: "k".repeat(128), TagValue: "v".repeat(256) }],
        }),
      );
    });
  });

  describe("key ids, alias names, grant names and principals: AWS's length wording", () => {
    it("KeyId over 2,048 characters, AliasName over 256, grant Name off-pattern: 'less than or equal to', one violation per constraint", async () => {
      const longKey = "k".repeat(2049);
      expect(await failure(new K.DescribeKeyCommand({ KeyId: longKey }))).toEqual(
        invalid(
          `Value '${longKey}' at 'keyId' failed to satisfy constraint: Member must have length less than or equal to 2048`,
        ),
      );
      const longAlias = `alias/${"a".repeat(251)}`;
      expect(await failure(new K.CreateAliasCommand({ AliasName: longAlias, TargetKeyId: keyId }))).toEqual(
        invalid(
          `Value '${longAlias}' at 'aliasName' failed to satisfy constraint: Member must have length less than or equal to 256`,
        ),
      );
      expect(
        await failure(
          new K.CreateGrantCommand({
            KeyId: keyId,
            GranteePrincipal: ALICE.principal,
            Operations: ["Decrypt"],
            Name: "has space",
          }),
        ),
      ).toEqual(
        invalid(
          "Value 'has space' at 'name' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[a-zA-Z0-9:/_-]+$",
        ),
      );
      const longPrincipal = `${ALICE.principal}${"x".repeat(256)}`;
      expect(
        await failure(
          new K.CreateGrantCommand({
            KeyId: keyId,
            GranteePrincipal: longPrincipal,
            Operations: ["Decrypt"],
          }),
        ),
      ).toEqual(
        invalid(
          `Value '${longPrincipal}' at 'granteePrincipal' failed to satisfy constraint: Member must have length less than or equal to 256`,
        ),
      );
    });
  });

  describe("several failed constraints: one ValidationException listing them all, in the model's member order", () => {
    const ALGORITHMS = "[SYMMETRIC_DEFAULT, RSAES_OAEP_SHA_1, RSAES_OAEP_SHA_256, SM2PKE]";

    it("GenerateDataKey: keyId and numberOfBytes", async () => {
      const longKey = "k".repeat(2049);
      expect(await failure(new K.GenerateDataKeyCommand({ KeyId: longKey, NumberOfBytes: 0 }))).toEqual({
        name: "ValidationException",
        status: 400,
        message:
          `2 validation errors detected: Value '${longKey}' at 'keyId' failed to satisfy constraint: Member must have length less than or equal to 2048; ` +
          "Value '0' at 'numberOfBytes' failed to satisfy constraint: Member must have value greater than or equal to 1",
      });
    });

    it("Encrypt: plaintext, grantTokens and encryptionAlgorithm, whatever order the request names them in", async () => {
      expect(
        await failure(
          new K.EncryptCommand({
            EncryptionAlgorithm: "AES_GCM" as K.EncryptionAlgorithmSpec,
            GrantTokens: Array(11).fill("t"),
            Plaintext: new Uint8Array(4097),
            KeyId: keyId,
          }),
        ),
      ).toEqual({
        name: "ValidationException",
        status: 400,
        message:
          "3 validation errors detected: Value at 'plaintext' failed to satisfy constraint: Member must have length less than or equal to 4096; " +
          "Value at 'grantTokens' failed to satisfy constraint: Member must have length less than or equal to 10; " +
          `Value 'AES_GCM' at 'encryptionAlgorithm' failed to satisfy constraint: Member must satisfy enum value set: ${ALGORITHMS}`,
      });
    });

    it("ReEncrypt: ciphertextBlob, destinationKeyId and destinationEncryptionAlgorithm", async () => {
      expect(
        await failure(
          new K.ReEncryptCommand({
            CiphertextBlob: new Uint8Array(6145),
            DestinationKeyId: "",
            DestinationEncryptionAlgorithm: "X" as K.EncryptionAlgorithmSpec,
          }),
        ),
      ).toEqual({
        name: "ValidationException",
        status: 400,
        message:
          "3 validation errors detected: Value at 'ciphertextBlob' failed to satisfy constraint: Member must have length less than or equal to 6144; " +
          "Value '' at 'destinationKeyId' failed to satisfy constraint: Member must have length greater than or equal to 1; " +
          `Value 'X' at 'destinationEncryptionAlgorithm' failed to satisfy constraint: Member must satisfy enum value set: ${ALGORITHMS}`,
      });
    });

    it("CreateGrant: granteePrincipal, operations and name; an InvalidArnException waits for a valid model", async () => {
      const r = await failure(
        new K.CreateGrantCommand({
          Name: "has space",
          Operations: ["Fly" as K.GrantOperation],
          GranteePrincipal: "not a principal",
          KeyId: keyId,
        }),
      );
      expect(r.name).toBe("ValidationException");
      expect(r.message).toBe(
        "3 validation errors detected: Value 'not a principal' at 'granteePrincipal' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[\\w+=,.@:/-]+$; " +
          "Value '[Fly]' at 'operations' failed to satisfy constraint: Member must satisfy constraint: [Member must satisfy enum value set: " +
          `[${GRANT_OPERATIONS.join(", ")}]]; ` +
          "Value 'has space' at 'name' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[a-zA-Z0-9:/_-]+$",
      );
      // A well-formed principal that is no ARN is the service's InvalidArnException, after the model's checks.
      expect(
        (
          await failure(
            new K.CreateGrantCommand({
              KeyId: keyId,
              GranteePrincipal: "alice",
              Operations: ["Fly" as K.GrantOperation],
            }),
          )
        ).name,
      ).toBe("ValidationException");
      expect(
        (
          await failure(
            new K.CreateGrantCommand({ KeyId: keyId, GranteePrincipal: "alice", Operations: ["Decrypt"] }),
          )
        ).name,
      ).toBe("InvalidArnException");
    });

    it("CreateKey: description and keyUsage; PutKeyPolicy checks its members before looking the key up", async () => {
      const long = "d".repeat(8193);
      expect(
        await failure(new K.CreateKeyCommand({ KeyUsage: "ENCRYPT" as K.KeyUsageType, Description: long })),
      ).toEqual({
        name: "ValidationException",
        status: 400,
        message:
          `2 validation errors detected: Value '${long}' at 'description' failed to satisfy constraint: Member must have length less than or equal to 8192; ` +
          "Value 'ENCRYPT' at 'keyUsage' failed to satisfy constraint: Member must satisfy enum value set: [ENCRYPT_DECRYPT, SIGN_VERIFY, GENERATE_VERIFY_MAC, KEY_AGREEMENT]",
      });
      const policy = JSON.stringify({
        Statement: { Effect: "Allow", Principal: "*", Action: "kms:*", Resource: "*" },
      });
      expect(
        await failure(
          new K.PutKeyPolicyCommand({ KeyId: MISSING_KEY, PolicyName: "my policy", Policy: policy }),
        ),
      ).toEqual(
        invalid(
          "Value 'my policy' at 'policyName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w]+",
        ),
      );
      expect(
        (await failure(new K.PutKeyPolicyCommand({ KeyId: MISSING_KEY, Policy: " ".repeat(131073) }))).name,
      ).toBe("ValidationException");
      // Valid members: the missing key is what fails.
      expect((await failure(new K.PutKeyPolicyCommand({ KeyId: MISSING_KEY, Policy: policy }))).name).toBe(
        "NotFoundException",
      );
    });

    it("management calls: UpdateKeyDescription, EnableKeyRotation, CreateAlias, TagResource, UntagResource", async () => {
      const longDescription = "d".repeat(8193);
      const emptyKeyId =
        "Value '' at 'keyId' failed to satisfy constraint: Member must have length greater than or equal to 1";
      const cases: [unknown, string[]][] = [
        [
          new K.UpdateKeyDescriptionCommand({ KeyId: "", Description: longDescription }),
          [
            emptyKeyId,
            `Value '${longDescription}' at 'description' failed to satisfy constraint: Member must have length less than or equal to 8192`,
          ],
        ],
        [
          new K.EnableKeyRotationCommand({ KeyId: "", RotationPeriodInDays: 89 }),
          [
            emptyKeyId,
            "Value '89' at 'rotationPeriodInDays' failed to satisfy constraint: Member must have value greater than or equal to 90",
          ],
        ],
        [
          new K.CreateAliasCommand({ AliasName: "", TargetKeyId: "" }),
          [
            "Value '' at 'aliasName' failed to satisfy constraint: Member must have length greater than or equal to 1",
            "Value '' at 'targetKeyId' failed to satisfy constraint: Member must have length greater than or equal to 1",
          ],
        ],
        [
          new K.TagResourceCommand({ KeyId: "", Tags: [{ TagKey: "k".repeat(129), TagValue: "v" }] }),
          [
            emptyKeyId,
            `Value '${"k".repeat(129)}' at 'tags.1.member.tagKey' failed to satisfy constraint: Member must have length less than or equal to 128`,
          ],
        ],
      ];
      for (const [command, errors] of cases) {
        expect(await failure(command)).toEqual({
          name: "ValidationException",
          status: 400,
          message: `${errors.length} validation errors detected: ${errors.join("; ")}`,
        });
      }
      const r = await failure(new K.UntagResourceCommand({ KeyId: "", TagKeys: [""] }));
      expect(r.message).toMatch(
        /^2 validation errors detected: Value '' at 'keyId' .*; Value '\[\]' at 'tagKeys'/,
      );
    });

    it("GrantTokens: an empty or 8,193-character token fails the list's member constraint (the tokens left out)", async () => {
      for (const token of ["", "t".repeat(8193)]) {
        expect(
          await failure(
            new K.EncryptCommand({ KeyId: keyId, Plaintext: new Uint8Array(1), GrantTokens: [token] }),
          ),
        ).toEqual(
          invalid(
            "Value at 'grantTokens' failed to satisfy constraint: Member must satisfy constraint: [Member must have length less than or equal to 8192, Member must have length greater than or equal to 1]",
          ),
        );
      }
      // A token of a good length that this KMS did not issue is the service's InvalidGrantTokenException.
      expect(
        (
          await failure(
            new K.EncryptCommand({ KeyId: keyId, Plaintext: new Uint8Array(1), GrantTokens: ["garbage!"] }),
          )
        ).name,
      ).toBe("InvalidGrantTokenException");
    });

    it("ListGrants checks Limit and KeyId before looking the key up; 101 to 1,000 is the service's refusal", async () => {
      expect(await failure(new K.ListGrantsCommand({ KeyId: MISSING_KEY, Limit: 0 }))).toEqual(
        invalid(
          "Value '0' at 'limit' failed to satisfy constraint: Member must have value greater than or equal to 1",
        ),
      );
      expect(await failure(new K.ListGrantsCommand({ KeyId: "", Limit: 1001 }))).toEqual({
        name: "ValidationException",
        status: 400,
        message:
          "2 validation errors detected: Value '1001' at 'limit' failed to satisfy constraint: Member must have value less than or equal to 1000; " +
          "Value '' at 'keyId' failed to satisfy constraint: Member must have length greater than or equal to 1",
      });
      expect((await failure(new K.ListGrantsCommand({ KeyId: MISSING_KEY, Limit: 101 }))).name).toBe(
        "NotFoundException",
      );
      expect((await failure(new K.ListGrantsCommand({ KeyId: keyId, Limit: 101 }))).message).toContain(
        "less than or equal to 100",
      );
    });

    it("a failed constraint comes before the service's own checks (asymmetric algorithm, NumberOfBytes with KeySpec)", async () => {
      expect(
        await failure(
          new K.EncryptCommand({
            KeyId: keyId,
            Plaintext: new Uint8Array(4097),
            EncryptionAlgorithm: "RSAES_OAEP_SHA_256",
          }),
        ),
      ).toEqual(
        invalid(
          "Value at 'plaintext' failed to satisfy constraint: Member must have length less than or equal to 4096",
        ),
      );
      expect(
        await failure(
          new K.GenerateDataKeyCommand({ KeyId: keyId, NumberOfBytes: 2000, KeySpec: "AES_256" }),
        ),
      ).toEqual(
        invalid(
          "Value '2000' at 'numberOfBytes' failed to satisfy constraint: Member must have value less than or equal to 1024",
        ),
      );
      // Valid members: the service's checks answer as before.
      expect(
        (
          await failure(
            new K.EncryptCommand({
              KeyId: keyId,
              Plaintext: new Uint8Array(1),
              EncryptionAlgorithm: "RSAES_OAEP_SHA_256",
            }),
          )
        ).name,
      ).toBe("InvalidKeyUsageException");
    });
  });

  describe("key policy size (CreateKey, PutKeyPolicy)", () => {
    const base = JSON.stringify({
      Version: "2012-10-17",
      Statement: [
        {
          Effect: "Allow",
          Principal: { AWS: "arn:aws:iam::111122223333:root" },
          Action: "kms:*",
          Resource: "*",
        },
      ],
    });
    const padded = (chars: number, fill = " ") => base.replace("{", `{${fill.repeat(chars - base.length)}`);

    it("over 32,768 UTF-8 bytes is LimitExceededException (the size quota), counting bytes, not characters", async () => {
      await client.send(new K.PutKeyPolicyCommand({ KeyId: keyId, Policy: padded(32768) }));
      const r = await failure(new K.PutKeyPolicyCommand({ KeyId: keyId, Policy: padded(32769) }));
      expect({ name: r.name, status: r.status }).toEqual({ name: "LimitExceededException", status: 400 });
      // 20,000 characters, each U+00A0 (two bytes in UTF-8): 40,000-odd bytes, over the quota.
      const wide = base.replace("{", `{"Id": "${"\u00a0".repeat(20000)}",`);
      expect(wide.length).toBeLessThan(32768);
      expect((await failure(new K.CreateKeyCommand({ Policy: wide }))).name).toBe("LimitExceededException");
      expect((await failure(new K.PutKeyPolicyCommand({ KeyId: keyId, Policy: wide }))).name).toBe(
        "LimitExceededException",
      );
    });

    it("over 131,072 characters fails the model's length constraint (ValidationException, value left out)", async () => {
      expect(await failure(new K.PutKeyPolicyCommand({ KeyId: keyId, Policy: padded(131073) }))).toEqual(
        invalid(
          "Value at 'policy' failed to satisfy constraint: Member must have length less than or equal to 131072",
        ),
      );
      expect((await failure(new K.CreateKeyCommand({ Policy: padded(131073) }))).name).toBe(
        "ValidationException",
      );
    });
  });

  describe("enums (SDK: enum members are plain strings)", () => {
    it("KeySpec other than AES_256/AES_128 names the value and the set", async () => {
      expect(
        await failure(new K.GenerateDataKeyCommand({ KeyId: keyId, KeySpec: "AES-256" as K.DataKeySpec })),
      ).toEqual(
        invalid(
          "Value 'AES-256' at 'keySpec' failed to satisfy constraint: Member must satisfy enum value set: [AES_256, AES_128]",
        ),
      );
    });

    it("EncryptionAlgorithm outside the model's enum; an asymmetric one is InvalidKeyUsageException", async () => {
      const set = "[SYMMETRIC_DEFAULT, RSAES_OAEP_SHA_1, RSAES_OAEP_SHA_256, SM2PKE]";
      expect(
        await failure(
          new K.EncryptCommand({
            KeyId: keyId,
            Plaintext: new Uint8Array(1),
            EncryptionAlgorithm: "AES_GCM" as K.EncryptionAlgorithmSpec,
          }),
        ),
      ).toEqual(
        invalid(
          `Value 'AES_GCM' at 'encryptionAlgorithm' failed to satisfy constraint: Member must satisfy enum value set: ${set}`,
        ),
      );
      const blob = (await client.send(new K.EncryptCommand({ KeyId: keyId, Plaintext: new Uint8Array(1) })))
        .CiphertextBlob!;
      expect(
        await failure(
          new K.ReEncryptCommand({
            CiphertextBlob: blob,
            DestinationKeyId: keyId,
            DestinationEncryptionAlgorithm: "X" as K.EncryptionAlgorithmSpec,
          }),
        ),
      ).toEqual(
        invalid(
          `Value 'X' at 'destinationEncryptionAlgorithm' failed to satisfy constraint: Member must satisfy enum value set: ${set}`,
        ),
      );
      expect(
        (
          await failure(
            new K.EncryptCommand({
              KeyId: keyId,
              Plaintext: new Uint8Array(1),
              EncryptionAlgorithm: "RSAES_OAEP_SHA_256",
            }),
          )
        ).name,
      ).toBe("InvalidKeyUsageException");
    });

    it("KeyUsage outside the model's enum; one the model knows but this KMS does not make is unsupported", async () => {
      const r = await failure(new K.CreateKeyCommand({ KeyUsage: "ENCRYPT" as K.KeyUsageType }));
      expect(r.name).toBe("ValidationException");
      expect(r.message).toMatch(
        /^1 validation error detected: Value 'ENCRYPT' at 'keyUsage' failed to satisfy constraint: Member must satisfy enum value set: \[.*ENCRYPT_DECRYPT.*SIGN_VERIFY.*\]$/,
      );
      expect((await failure(new K.CreateKeyCommand({ KeyUsage: "SIGN_VERIFY" }))).name).toBe(
        "UnsupportedOperationException",
      );
    });
  });

  describe("validation comes before the key is looked up", () => {
    it("Encrypt and GenerateDataKey with bad members on a key that does not exist: ValidationException", async () => {
      expect(
        (await failure(new K.EncryptCommand({ KeyId: MISSING_KEY, Plaintext: new Uint8Array(5000) }))).name,
      ).toBe("ValidationException");
      expect(
        (await failure(new K.GenerateDataKeyCommand({ KeyId: MISSING_KEY, NumberOfBytes: 1025 }))).name,
      ).toBe("ValidationException");
      expect((await failure(new K.GenerateDataKeyCommand({ KeyId: MISSING_KEY }))).name).toBe(
        "ValidationException",
      );
      expect(
        (
          await failure(
            new K.GenerateDataKeyWithoutPlaintextCommand({
              KeyId: MISSING_KEY,
              KeySpec: "AES_512" as K.DataKeySpec,
            }),
          )
        ).name,
      ).toBe("ValidationException");
      // Valid members: the missing key is what fails.
      expect(
        (await failure(new K.GenerateDataKeyCommand({ KeyId: MISSING_KEY, KeySpec: "AES_256" }))).name,
      ).toBe("NotFoundException");
    });
  });

  describe("KeySpec and NumberOfBytes", () => {
    it("both, or neither, is AWS's one message; GenerateRandom without NumberOfBytes answers the same", async () => {
      const either = {
        name: "ValidationException",
        status: 400,
        message: "Please specify either number of bytes or key spec.",
      };
      expect(
        await failure(new K.GenerateDataKeyCommand({ KeyId: keyId, KeySpec: "AES_256", NumberOfBytes: 32 })),
      ).toEqual(either);
      expect(await failure(new K.GenerateDataKeyWithoutPlaintextCommand({ KeyId: keyId }))).toEqual(either);
      expect(await failure(new K.GenerateRandomCommand({}))).toEqual(either);
    });
  });

  describe("tag keys to remove", () => {
    it("a key over 128 characters fails TagKeys' member constraint (ValidationException, was TagException)", async () => {
      const long = "k".repeat(129);
      const r = await failure(new K.UntagResourceCommand({ KeyId: keyId, TagKeys: ["team", long] }));
      expect({ ...r, message: r.message.replace(long, "<129 k>") }).toEqual(
        invalid(
          "Value '[team, <129 k>]' at 'tagKeys' failed to satisfy constraint: Member must satisfy constraint: [Member must have length less than or equal to 128, Member must have length greater than or equal to 1]",
        ),
      );
      expect((await failure(new K.UntagResourceCommand({ KeyId: keyId, TagKeys: [""] }))).name).toBe(
        "ValidationException",
      );
      await client.send(new K.UntagResourceCommand({ KeyId: keyId, TagKeys: ["k".repeat(128)] }));
    });
  });

  describe("management calls also validate before the key is looked up", () => {
    it("TagResource, UntagResource, CreateGrant, UpdateKeyDescription, EnableKeyRotation with bad members on a missing key: ValidationException", async () => {
      const missingId = MISSING_KEY.split("/")[1]!;
      expect(
        (
          await failure(
            new K.TagResourceCommand({
              KeyId: missingId,
              Tags: [{ TagKey: "k".repeat(129), TagValue: "v" }],
            }),
          )
        ).name,
      ).toBe("ValidationException");
      expect(
        (await failure(new K.UntagResourceCommand({ KeyId: missingId, TagKeys: ["k".repeat(129)] }))).name,
      ).toBe("ValidationException");
      expect(
        (
          await failure(
            new K.CreateGrantCommand({
              KeyId: missingId,
              GranteePrincipal: ALICE.principal,
              Operations: ["Fly" as K.GrantOperation],
            }),
          )
        ).name,
      ).toBe("ValidationException");
      expect(
        (
          await failure(
            new K.UpdateKeyDescriptionCommand({ KeyId: missingId, Description: "d".repeat(8193) }),
          )
        ).name,
      ).toBe("ValidationException");
      expect(
        await failure(new K.EnableKeyRotationCommand({ KeyId: missingId, RotationPeriodInDays: 89 })),
      ).toEqual(
        invalid(
          "Value '89' at 'rotationPeriodInDays' failed to satisfy constraint: Member must have value greater than or equal to 90",
        ),
      );
      // Valid members: the missing key is what fails.
      expect(
        (await failure(new K.UpdateKeyDescriptionCommand({ KeyId: missingId, Description: "d" }))).name,
      ).toBe("NotFoundException");
      expect(
        (
          await failure(
            new K.CreateGrantCommand({
              KeyId: missingId,
              GranteePrincipal: ALICE.principal,
              Operations: ["Decrypt"],
            }),
          )
        ).name,
      ).toBe("NotFoundException");
    });
  });

  describe("what was already as AWS answers", () => {
    it("missing required members: 'Value null at ...' for each, counted (SDK sends the request without them)", async () => {
      expect(await failure(new K.EncryptCommand({} as K.EncryptRequest))).toEqual({
        name: "ValidationException",
        status: 400,
        message:
          "2 validation errors detected: Value null at 'keyId' failed to satisfy constraint: Member must not be null; Value null at 'plaintext' failed to satisfy constraint: Member must not be null",
      });
    });

    it("more than 10 grant tokens is a ValidationException at 'grantTokens'", async () => {
      const r = await failure(
        new K.EncryptCommand({
          KeyId: keyId,
          Plaintext: new Uint8Array(1),
          GrantTokens: Array(11).fill("t"),
        }),
      );
      expect(r.name).toBe("ValidationException");
      expect(r.message).toMatch(/at 'grantTokens'.*less than or equal to 10/);
    });
  });

  describe("types and framing (raw signed requests: the SDK would not send these)", () => {
    const rawFailure = async (target: string, payload: unknown) => {
      const r = await call(fixture.server.url, target, payload);
      return { status: r.status, type: r.json().__type as string, message: r.json().message as string };
    };

    it("a member of the wrong type is a SerializationException (400)", async () => {
      const base = { KeyId: keyId };
      for (const [target, payload] of [
        ["GenerateDataKey", { ...base, NumberOfBytes: "32" }],
        ["GenerateRandom", { NumberOfBytes: true }],
        ["Encrypt", { ...base, Plaintext: 5 }],
        ["Encrypt", { ...base, Plaintext: "AA==", EncryptionContext: { tenant: 1 } }],
        ["Encrypt", { ...base, Plaintext: "AA==", EncryptionContext: ["a", "b"] }],
        ["Encrypt", { ...base, Plaintext: "AA==", GrantTokens: { a: "b" } }],
        ["Encrypt", { ...base, Plaintext: "AA==", DryRun: "true" }],
        ["Encrypt", { KeyId: 12, Plaintext: "AA==" }],
        ["CreateKey", { Tags: { TagKey: "a", TagValue: "b" } }],
      ] as const) {
        const r = await rawFailure(target, payload);
        expect({ target, status: r.status, type: r.type }).toEqual({
          target,
          status: 400,
          type: "SerializationException",
        });
      }
    });

    it("a blob that is not base64 is a SerializationException", async () => {
      const r = await rawFailure("Encrypt", { KeyId: keyId, Plaintext: "not base64!" });
      expect([r.status, r.type]).toEqual([400, "SerializationException"]);
    });

    it("null members count as absent; unknown members are ignored", async () => {
      const ok = await call(fixture.server.url, "GenerateDataKey", {
        KeyId: keyId,
        KeySpec: "AES_128",
        NumberOfBytes: null,
        NotAMember: { deep: [1, 2] },
      });
      expect(ok.status).toBe(200);
      expect(Buffer.from(ok.json().Plaintext as string, "base64").length).toBe(16);
    });

    it("a body that is not JSON, JSON that is not an object: SerializationException; an empty body is {}", async () => {
      for (const body of ["{not json", "[1]", '"s"', "null", "3"]) {
        const r = await send(fixture.server.url, await signRequest(fixture.server.url, "ListKeys", body));
        expect({ body, status: r.status, type: r.json().__type }).toEqual({
          body,
          status: 400,
          type: "SerializationException",
        });
      }
      const empty = await send(fixture.server.url, await signRequest(fixture.server.url, "ListKeys", ""));
      expect(empty.status).toBe(200);
      const emptyEncrypt = await send(
        fixture.server.url,
        await signRequest(fixture.server.url, "Encrypt", ""),
      );
      expect([emptyEncrypt.status, emptyEncrypt.json().__type]).toEqual([400, "ValidationException"]);
    });

    it("a number that is not an integer fails the integer member", async () => {
      const r = await rawFailure("GenerateRandom", { NumberOfBytes: 1.5 });
      expect(r.status).toBe(400);
      expect(["ValidationException", "SerializationException"]).toContain(r.type);
    });
  });
});
