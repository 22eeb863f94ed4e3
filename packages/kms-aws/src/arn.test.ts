import { describe, expect, it } from "vitest";
import { isKeyArn, parseKmsArn } from "./arn.js";
import { fromKmsError } from "./errors.js";

describe("parseKmsArn", () => {
  it("parses key and alias ARNs", () => {
    expect(
      parseKmsArn("arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"),
    ).toEqual({
      partition: "aws",
      region: "eu-west-1",
      accountId: "111122223333",
      resourceType: "key",
      resourceId: "1234abcd-12ab-34cd-56ef-1234567890ab",
    });
    expect(parseKmsArn("arn:aws-cn:kms:cn-north-1:111122223333:alias/app")?.resourceType).toBe("alias");
  });

  it.each([
    "alias/app",
    "1234abcd-12ab-34cd-56ef-1234567890ab",
    "arn:aws:s3:::bucket",
    "arn:aws:kms:us-east-1:12:key/x",
  ])("returns undefined for %s", (id) => expect(parseKmsArn(id)).toBeUndefined());

  it("tells key ARNs from alias ARNs", () => {
    expect(isKeyArn("arn:aws:kms:us-east-1:111122223333:key/k")).toBe(true);
    expect(isKeyArn("arn:aws:kms:us-east-1:111122223333:alias/k")).toBe(false);
  });
});

describe("fromKmsError", () => {
  it.each([
    ["AccessDeniedException", "ERR_ACCESS_DENIED"],
    ["DisabledException", "ERR_KEY_DISABLED"],
    ["KMSInvalidStateException", "ERR_KEY_DISABLED"],
    ["NotFoundException", "ERR_KEY_NOT_FOUND"],
    ["ThrottlingException", "ERR_THROTTLED"],
    ["InvalidCiphertextException", "ERR_INVALID_CIPHERTEXT"],
    ["IncorrectKeyException", "ERR_INVALID_CIPHERTEXT"],
    ["SomethingNewException", "ERR_PROVIDER_UNAVAILABLE"],
  ])("maps %s to %s and keeps the SDK error as cause", (name, code) => {
    const sdkError = Object.assign(new Error("reason"), { name });
    const error = fromKmsError(sdkError, "Decrypt", "arn:aws:kms:us-east-1:111122223333:key/k");
    expect(error.code).toBe(code);
    expect(error.cause).toBe(sdkError);
    expect(error.message).toContain(name);
  });

  it("names the key when there is one, and only the operation for a call about no key", () => {
    const sdkError = Object.assign(new Error("no"), { name: "AccessDeniedException" });
    expect(fromKmsError(sdkError, "Decrypt", "alias/app").message).toBe(
      "AWS KMS Decrypt with key alias/app failed: AccessDeniedException: no",
    );
    expect(fromKmsError(sdkError, "ListKeys", "").message).toBe(
      "AWS KMS ListKeys failed: AccessDeniedException: no",
    );
  });
});
