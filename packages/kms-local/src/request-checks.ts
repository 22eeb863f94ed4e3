// Validation of the AWS-shaped requests LocalKms receives: each check throws the error AWS KMS answers with.

import type { EncryptionContext } from "@sealkit/core";
import { checkedContext } from "./ciphertext-blob.js";
import { KmsError, validation } from "./errors.js";
import type { ListResponse, Tag } from "./types.js";

/** A key can have at most this many tags, as in AWS KMS. */
export const MAX_TAGS = 50;

// biome-ignore lint/suspicious/noExplicitAny: request fields are checked one by one below
export type AnyRequest = Record<string, any>;

export function objectRequest(request: unknown): AnyRequest {
  if (typeof request !== "object" || request === null || Array.isArray(request))
    throw validation("The request must be an object.");
  return request as AnyRequest;
}

export function checkString(value: unknown, field: string, min: number, max: number): string {
  if (typeof value !== "string") throw validation(`${field} must be a string`);
  if (value.length < min || value.length > max) {
    throw validation(
      `1 validation error detected: Value at '${field.charAt(0).toLowerCase() + field.slice(1)}' failed to satisfy constraint: Member must have length between ${min} and ${max}`,
    );
  }
  return value;
}

export function optionalString(value: unknown, field: string, min: number, max: number): string | undefined {
  return value === undefined || value === null ? undefined : checkString(value, field, min, max);
}

export function checkInt(value: unknown, field: string, min: number, max: number): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
    throw validation(
      `1 validation error detected: Value at '${field.charAt(0).toLowerCase() + field.slice(1)}' failed to satisfy constraint: Member must be an integer from ${min} to ${max}`,
    );
  }
  return value;
}

export function checkBytes(value: unknown, field: string, min: number, max: number): Uint8Array {
  if (!(value instanceof Uint8Array)) throw validation(`${field} must be bytes`);
  if (value.length < min || value.length > max) {
    throw validation(
      `1 validation error detected: Value at '${field.charAt(0).toLowerCase() + field.slice(1)}' failed to satisfy constraint: Member must have length between ${min} and ${max}`,
    );
  }
  return value;
}

export function checkContext(value: unknown, field: string): EncryptionContext {
  if (value === undefined || value === null) return {};
  if (typeof value !== "object" || Array.isArray(value))
    throw validation(`${field} must be a map of strings`);
  try {
    return checkedContext(value as EncryptionContext);
  } catch (e) {
    throw validation(`${field} is invalid: ${(e as Error).message}`);
  }
}

export function checkAlgorithm(value: unknown): void {
  if (value === undefined || value === "SYMMETRIC_DEFAULT") return;
  if (typeof value === "string" && /^(RSAES_|SM2PKE)/.test(value)) {
    throw new KmsError(
      "InvalidKeyUsageException",
      `The encryption algorithm ${value} is not supported by a symmetric key.`,
    );
  }
  throw validation("EncryptionAlgorithm must be SYMMETRIC_DEFAULT");
}

/** Whether the request is a dry run (`DryRun: true`): checked like the real call, then answered with {@link dryRun}. */
export function isDryRun(value: unknown): boolean {
  if (value === undefined || value === null || value === false) return false;
  if (value === true) return true;
  throw validation("DryRun must be a boolean");
}

/**
 * DryRunOperationException: every check of the call passed (parameters, key state, key policy and grants), and it
 * stops before doing anything, as AWS KMS answers a request with `DryRun: true`.
 */
export function dryRun(): KmsError {
  return new KmsError(
    "DryRunOperationException",
    "The request would have succeeded, but the DryRun option is set.",
  );
}

export function checkEnum(value: unknown, field: string, allowed: string[], unsupported: string[]): void {
  if (value === undefined) return;
  if (typeof value === "string" && allowed.includes(value)) return;
  if (typeof value === "string" && unsupported.includes(value)) {
    throw new KmsError("UnsupportedOperationException", `${field} ${value} is not supported by this KMS.`);
  }
  throw validation(`${field} must be one of ${allowed.join(", ")}`);
}

export function checkLimit(value: unknown, max: number, fallback: number): number {
  return value === undefined ? fallback : checkInt(value, "Limit", 1, max);
}

export function decodeMarker(value: unknown): number {
  if (value === undefined) return 0;
  if (typeof value !== "string") throw new KmsError("InvalidMarkerException", "The marker is not valid.");
  const m = /^skm1\.(\d{1,9})$/.exec(value);
  if (!m) throw new KmsError("InvalidMarkerException", "The marker is not valid.");
  return Number(m[1]);
}

export function pageInfo(truncated: boolean, next: number): ListResponse {
  return truncated ? { NextMarker: `skm1.${next}`, Truncated: true } : { Truncated: false };
}

export function checkTags(value: unknown, required = false): Tag[] {
  if (value === undefined && !required) return [];
  if (!Array.isArray(value) || (required && value.length === 0))
    throw validation("Tags must be a list of {TagKey, TagValue}");
  if (value.length > MAX_TAGS)
    throw new KmsError("LimitExceededException", `A key can have at most ${MAX_TAGS} tags.`);
  return value.map((t: unknown) => {
    const tag = t as Partial<Tag>;
    if (
      typeof tag !== "object" ||
      tag === null ||
      typeof tag.TagKey !== "string" ||
      typeof tag.TagValue !== "string"
    ) {
      throw new KmsError("TagException", "Each tag needs a TagKey and a TagValue string.");
    }
    if (tag.TagKey.length < 1 || tag.TagKey.length > 128 || tag.TagValue.length > 256) {
      throw new KmsError("TagException", "Tag keys must be 1 to 128 characters and values at most 256.");
    }
    if (tag.TagKey.toLowerCase().startsWith("aws:"))
      throw new KmsError("TagException", "Tag keys beginning with aws: are reserved.");
    return { TagKey: tag.TagKey, TagValue: tag.TagValue };
  });
}

export function checkPolicyName(value: unknown): void {
  if (value !== undefined && value !== "default") throw validation("PolicyName must be 'default'");
}

export function checkGrantId(value: unknown): void {
  if (typeof value !== "string" || !/^[A-Za-z0-9-]{1,128}$/.test(value))
    throw new KmsError("InvalidGrantIdException", "The grant id is not valid.");
}
