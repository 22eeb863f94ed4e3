import { describe, expect, it } from "vitest";
import { KmsError } from "./errors.js";
import { bytesToUuid, checkAliasName, parseKeyId, serviceOfAlias, uuidToBytes } from "./key-id.js";

const here = { partition: "aws", region: "us-east-1", account: "111122223333" };
const id = "1234abcd-12ab-34cd-56ef-1234567890ab";

const awsName = (f: () => unknown) => {
  try {
    f();
  } catch (e) {
    return KmsError.isInstance(e) ? e.awsName : String(e);
  }
  return "ok";
};

describe("parseKeyId", () => {
  it("accepts the four forms AWS accepts", () => {
    expect(parseKeyId(id, here, true)).toEqual({ kind: "key", id });
    expect(parseKeyId(`arn:aws:kms:us-east-1:111122223333:key/${id}`, here, true)).toEqual({
      kind: "key",
      id,
    });
    expect(parseKeyId("alias/a/b_c-d", here, true)).toEqual({ kind: "alias", name: "alias/a/b_c-d" });
    expect(parseKeyId("arn:aws:kms:us-east-1:111122223333:alias/x", here, true)).toEqual({
      kind: "alias",
      name: "alias/x",
    });
  });

  it("refuses aliases where AWS does, foreign ARNs, malformed ids and wrong lengths", () => {
    expect(awsName(() => parseKeyId("alias/x", here, false))).toBe("NotFoundException");
    expect(awsName(() => parseKeyId("arn:aws:kms:us-east-1:111122223333:alias/x", here, false))).toBe(
      "NotFoundException",
    );
    expect(awsName(() => parseKeyId(`arn:aws:kms:eu-west-1:111122223333:key/${id}`, here, true))).toBe(
      "NotFoundException",
    );
    expect(awsName(() => parseKeyId(`arn:aws:kms:us-east-1:444455556666:key/${id}`, here, true))).toBe(
      "NotFoundException",
    );
    expect(awsName(() => parseKeyId(`arn:aws-cn:kms:us-east-1:111122223333:key/${id}`, here, true))).toBe(
      "NotFoundException",
    );
    expect(awsName(() => parseKeyId(id.toUpperCase(), here, true))).toBe("NotFoundException");
    expect(awsName(() => parseKeyId("", here, true))).toBe("ValidationException");
    expect(awsName(() => parseKeyId("x".repeat(2049), here, true))).toBe("ValidationException");
    expect(awsName(() => parseKeyId(42, here, true))).toBe("ValidationException");
  });

  it("words a KeyId or alias name of the wrong length as AWS's model does (less/greater than or equal to)", () => {
    const message = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        return (e as Error).message;
      }
      return "ok";
    };
    const long = "x".repeat(2049);
    expect(message(() => parseKeyId(long, here, true))).toBe(
      `1 validation error detected: Value '${long}' at 'keyId' failed to satisfy constraint: Member must have length less than or equal to 2048`,
    );
    expect(message(() => parseKeyId("", here, true, "DestinationKeyId"))).toBe(
      "1 validation error detected: Value '' at 'destinationKeyId' failed to satisfy constraint: Member must have length greater than or equal to 1",
    );
    expect(message(() => parseKeyId(undefined, here, true))).toBe(
      "1 validation error detected: Value null at 'keyId' failed to satisfy constraint: Member must not be null",
    );
    const alias = `alias/${"a".repeat(251)}`;
    expect(message(() => checkAliasName(alias))).toBe(
      `1 validation error detected: Value '${alias}' at 'aliasName' failed to satisfy constraint: Member must have length less than or equal to 256`,
    );
    expect(message(() => checkAliasName(""))).toBe(
      "1 validation error detected: Value '' at 'aliasName' failed to satisfy constraint: Member must have length greater than or equal to 1",
    );
  });
});

const messageOf = (f: () => unknown) => {
  try {
    f();
  } catch (e) {
    return (e as Error).message;
  }
  return "ok";
};

describe("alias names", () => {
  it("follow AWS's pattern and reserve alias/aws/", () => {
    expect(checkAliasName("alias/ok_1-2/x")).toBe("alias/ok_1-2/x");
    expect(awsName(() => checkAliasName("alias/aws/s3"))).toBe("InvalidAliasNameException");
    expect(checkAliasName("alias/aws/s3", true)).toBe("alias/aws/s3");
    // Outside the model's pattern ^[a-zA-Z0-9:/_-]+$, a model constraint; the service's own rules after it.
    expect(messageOf(() => checkAliasName("alias/a.b"))).toBe(
      "1 validation error detected: Value 'alias/a.b' at 'aliasName' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[a-zA-Z0-9:/_-]+$",
    );
    expect(messageOf(() => checkAliasName("aliases/a"))).toBe("Invalid identifier");
    expect(messageOf(() => checkAliasName("alias/a:b"))).toBe(
      "alias/a:b contains invalid characters for an alias",
    );
    expect(awsName(() => checkAliasName("alias/"))).toBe("InvalidAliasNameException");
    expect(awsName(() => checkAliasName(`alias/${"a".repeat(250)}`))).toBe("ok");
    expect(awsName(() => checkAliasName(`alias/${"a".repeat(251)}`))).toBe("ValidationException");
    expect(serviceOfAlias("alias/aws/s3")).toBe("s3");
    expect(serviceOfAlias("alias/aws/Bad!")).toBeUndefined();
    expect(serviceOfAlias("alias/app")).toBeUndefined();
  });

  it("converts key ids to and from their 16 bytes", () => {
    expect(uuidToBytes(id)).toHaveLength(16);
    expect(bytesToUuid(uuidToBytes(id))).toBe(id);
  });
});
