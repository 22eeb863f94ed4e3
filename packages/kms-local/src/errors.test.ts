import { SealkitError } from "@sealkit/core";
import { describe, expect, it } from "vitest";
import { KmsError, kmsHttpStatus } from "./errors.js";

describe("KmsError", () => {
  it("carries the AWS name, the AWS HTTP status and the Sealkit code", () => {
    const e = new KmsError("NotFoundException", "key/x is not found.");
    expect(e.awsName).toBe("NotFoundException");
    expect(e.httpStatus).toBe(404);
    expect(e.code).toBe("ERR_KEY_NOT_FOUND");
    expect(SealkitError.isInstance(e, "ERR_KEY_NOT_FOUND")).toBe(true);
    expect(KmsError.isInstance(e)).toBe(true);
    expect(KmsError.isInstance(e, "NotFoundException")).toBe(true);
    expect(KmsError.isInstance(e, "DisabledException")).toBe(false);
    expect(KmsError.isInstance(new SealkitError("ERR_KEY_NOT_FOUND", "x"))).toBe(false);
  });

  it.each([
    ["DisabledException", 409, "ERR_KEY_DISABLED"],
    ["KMSInvalidStateException", 409, "ERR_KEY_DISABLED"],
    ["AccessDeniedException", 400, "ERR_ACCESS_DENIED"],
    ["InvalidCiphertextException", 400, "ERR_INVALID_CIPHERTEXT"],
    ["IncorrectKeyException", 400, "ERR_INVALID_CIPHERTEXT"],
    ["ValidationException", 400, "ERR_REQUEST_INVALID"],
    ["MalformedPolicyDocumentException", 400, "ERR_REQUEST_INVALID"],
    ["ThrottlingException", 400, "ERR_THROTTLED"],
    ["KMSInternalException", 500, "ERR_PROVIDER_UNAVAILABLE"],
    ["DependencyTimeoutException", 503, "ERR_PROVIDER_UNAVAILABLE"],
    ["AlreadyExistsException", 409, "ERR_REQUEST_INVALID"],
  ] as const)("%s → %i, %s", (name, status, code) => {
    const e = new KmsError(name, "m");
    expect(e.httpStatus).toBe(status);
    expect(kmsHttpStatus(name)).toBe(status);
    expect(e.code).toBe(code);
  });
});
