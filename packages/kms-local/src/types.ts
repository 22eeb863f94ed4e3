// Requests and responses of the LocalKms API: AWS KMS's field names, blobs as Uint8Array, times as Date.

import type { EncryptionContext } from "@sealkit/core";

/** Who is calling, established by the caller of the API (the server after SigV4, or the application). */
export interface Caller {
  /** The principal ARN, e.g. `arn:aws:iam::111122223333:user/alice` or `arn:aws:iam::111122223333:root`. */
  principal: string;
  /** The caller's 12-digit account id. */
  account: string;
  accessKeyId?: string;
  /** The client's IP address (condition key aws:SourceIp, and the audit event's sourceIPAddress). */
  sourceIp?: string;
  /**
   * Whether the request came over TLS (condition key aws:SecureTransport). The server sets false: it speaks plain
   * HTTP. Absent for in-process calls, which have no transport.
   */
  secureTransport?: boolean;
  userAgent?: string;
  /** The AWS service the call comes through, e.g. `s3.us-east-1.amazonaws.com` (condition key kms:ViaService). */
  viaService?: string;
  /** The request id recorded in the audit log; a UUID is made up when absent. */
  requestId?: string;
}

export type KeyState = "Enabled" | "Disabled" | "PendingDeletion";
export type KeyManager = "CUSTOMER" | "AWS";

export interface Tag {
  TagKey: string;
  TagValue: string;
}

export interface KeyMetadata {
  AWSAccountId: string;
  KeyId: string;
  Arn: string;
  CreationDate: Date;
  Enabled: boolean;
  Description: string;
  KeyUsage: "ENCRYPT_DECRYPT";
  KeyState: KeyState;
  DeletionDate?: Date;
  PendingDeletionWindowInDays?: number;
  Origin: "AWS_KMS";
  KeyManager: KeyManager;
  CustomerMasterKeySpec: "SYMMETRIC_DEFAULT";
  KeySpec: "SYMMETRIC_DEFAULT";
  EncryptionAlgorithms: ["SYMMETRIC_DEFAULT"];
  MultiRegion: false;
  /** The id of the key material that encrypts (see {@link RotationsListEntry}). */
  CurrentKeyMaterialId: string;
}

/** One key material of a key, as ListKeyRotations lists it. */
export interface RotationsListEntry {
  /** The key ARN. */
  KeyId: string;
  /** 64 hex digits, stable for the life of the key material. */
  KeyMaterialId: string;
  /** CURRENT encrypts and decrypts; NON_CURRENT only decrypts. */
  KeyMaterialState: "CURRENT" | "NON_CURRENT";
  /** Absent for the first key material (listed only with `IncludeKeyMaterial: "ALL_KEY_MATERIAL"`). */
  RotationDate?: Date;
  RotationType?: "AUTOMATIC" | "ON_DEMAND";
}

export interface GrantConstraints {
  EncryptionContextEquals?: Record<string, string>;
  EncryptionContextSubset?: Record<string, string>;
}

export interface GrantListEntry {
  KeyId: string;
  GrantId: string;
  Name?: string;
  CreationDate: Date;
  GranteePrincipal: string;
  RetiringPrincipal?: string;
  IssuingAccount: string;
  Operations: string[];
  Constraints?: GrantConstraints;
}

export interface AliasListEntry {
  AliasName: string;
  AliasArn: string;
  TargetKeyId?: string;
  CreationDate?: Date;
  LastUpdatedDate?: Date;
}

export interface CreateKeyRequest {
  Policy?: string;
  Description?: string;
  KeyUsage?: string;
  KeySpec?: string;
  CustomerMasterKeySpec?: string;
  Origin?: string;
  BypassPolicyLockoutSafetyCheck?: boolean;
  Tags?: Tag[];
  MultiRegion?: boolean;
}

export interface KeyIdRequest {
  KeyId: string;
}

export interface ListRequest {
  Limit?: number;
  Marker?: string;
}

export interface ListResponse {
  NextMarker?: string;
  Truncated: boolean;
}

export interface EncryptRequest {
  KeyId: string;
  Plaintext: Uint8Array;
  EncryptionContext?: EncryptionContext;
  GrantTokens?: string[];
  EncryptionAlgorithm?: string;
  DryRun?: boolean;
}

export interface EncryptResponse {
  CiphertextBlob: Uint8Array;
  KeyId: string;
  EncryptionAlgorithm: "SYMMETRIC_DEFAULT";
}

export interface DecryptRequest {
  CiphertextBlob: Uint8Array;
  EncryptionContext?: EncryptionContext;
  GrantTokens?: string[];
  KeyId?: string;
  EncryptionAlgorithm?: string;
  DryRun?: boolean;
}

export interface DecryptResponse {
  KeyId: string;
  Plaintext: Uint8Array;
  EncryptionAlgorithm: "SYMMETRIC_DEFAULT";
}

export interface ReEncryptRequest {
  CiphertextBlob: Uint8Array;
  SourceEncryptionContext?: EncryptionContext;
  SourceKeyId?: string;
  DestinationKeyId: string;
  DestinationEncryptionContext?: EncryptionContext;
  SourceEncryptionAlgorithm?: string;
  DestinationEncryptionAlgorithm?: string;
  GrantTokens?: string[];
  DryRun?: boolean;
}

export interface ReEncryptResponse {
  CiphertextBlob: Uint8Array;
  SourceKeyId: string;
  KeyId: string;
  SourceEncryptionAlgorithm: "SYMMETRIC_DEFAULT";
  DestinationEncryptionAlgorithm: "SYMMETRIC_DEFAULT";
}

export interface GenerateDataKeyRequest {
  KeyId: string;
  EncryptionContext?: EncryptionContext;
  NumberOfBytes?: number;
  KeySpec?: "AES_256" | "AES_128";
  GrantTokens?: string[];
  DryRun?: boolean;
}

export interface GenerateDataKeyResponse {
  CiphertextBlob: Uint8Array;
  Plaintext: Uint8Array;
  KeyId: string;
}

export interface GenerateDataKeyWithoutPlaintextResponse {
  CiphertextBlob: Uint8Array;
  KeyId: string;
}

export interface CreateGrantRequest {
  KeyId: string;
  GranteePrincipal: string;
  RetiringPrincipal?: string;
  Operations: string[];
  Constraints?: GrantConstraints;
  GrantTokens?: string[];
  Name?: string;
  DryRun?: boolean;
}

/** Per-operation usage of a key (GetKeyLastUsage's `Operations`, this KMS's addition; see README). */
export interface KeyOperationUsage {
  Operation: string;
  RequestCount: number;
  LastUsedDate: Date;
}

/** GetKeyLastUsage's answer: AWS KMS's members, and this KMS's per-operation counts. */
export interface GetKeyLastUsageResponse {
  /** The key ARN. */
  KeyId: string;
  /**
   * The last successful cryptographic operation (Encrypt, Decrypt, ReEncrypt, GenerateDataKey*), when it ran, its
   * request id (the server's `x-amzn-RequestId`) and the `eventID` of its audit event; an empty object when the key
   * has not been used. The two ids are absent for a use counted by a version before 0.x that did not keep them.
   */
  KeyLastUsage: { Operation?: string; Timestamp?: Date; KmsRequestId?: string; CloudTrailEventId?: string };
  /** When usage tracking of the key started: its creation. */
  TrackingStartDate: Date;
  KeyCreationDate: Date;
  /**
   * Not in AWS's answer (so not sent by the server): every operation ever called on the key, with its count and
   * last use. A ReEncrypt appears as `ReEncrypt` on its source key and `ReEncryptTo` on its destination key.
   */
  Operations: KeyOperationUsage[];
}
