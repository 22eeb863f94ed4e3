// Signed audit digests: what a digest covers, the exact bytes signed, signing and checking.

import { type KeyObject, sign, verify } from "node:crypto";
import { canonicalJson } from "./canonical-json.js";

/**
 * A signed statement that the log held events `firstSequence..lastSequence` ending with `lastHash` at
 * `digestTime`. Digests form their own chain through `previousSignature`, so a copy of the latest digest
 * kept elsewhere vouches for every earlier one.
 */
export interface AuditDigest {
  /** 1, 2, 3, ... without gaps. */
  digestNumber: number;
  /** The first event sequence this digest adds (the previous digest's lastSequence + 1). */
  firstSequence: number;
  /** The last event sequence covered. */
  lastSequence: number;
  /** `hash` of the event at lastSequence (64 zeros for an empty log). */
  lastHash: string;
  /** `eventID` of the event at lastSequence (empty for an empty log): tells insertions from deletions when a chain was recomputed. */
  lastEventId: string;
  /** ISO 8601 time the digest was written. */
  digestTime: string;
  /** Base64 signature of the previous digest; empty for the first. */
  previousSignature: string;
  /** Hex SHA-256 of the signing public key's SPKI DER. */
  publicKeyFingerprint: string;
  /** Base64 Ed25519 signature over {@link digestSigningInput} of the other fields. */
  signature: string;
}

/** The bytes a digest's signature covers: a domain-separation prefix and the canonical JSON of its fields. */
export function digestSigningInput(digest: Omit<AuditDigest, "signature">): Buffer {
  const body = canonicalJson({
    digestNumber: digest.digestNumber,
    firstSequence: digest.firstSequence,
    lastSequence: digest.lastSequence,
    lastHash: digest.lastHash,
    lastEventId: digest.lastEventId,
    digestTime: digest.digestTime,
    previousSignature: digest.previousSignature,
    publicKeyFingerprint: digest.publicKeyFingerprint,
  });
  return Buffer.from(`sealkit-audit-digest-v1\n${body}`, "utf8");
}

/** Signs the digest fields with the Ed25519 private key. */
export function signDigest(fields: Omit<AuditDigest, "signature">, privateKey: KeyObject): AuditDigest {
  const signature = sign(null, digestSigningInput(fields), privateKey).toString("base64");
  return { ...fields, signature };
}

/** True when the digest's signature verifies under `publicKey` (Ed25519 verification does not leak timing on the signature). */
export function checkDigestSignature(digest: AuditDigest, publicKey: KeyObject): boolean {
  // A row or a kept copy can hold anything (NULL, a number, a BLOB): none of that is a signature.
  if (digest === null || typeof digest !== "object" || typeof digest.signature !== "string") return false;
  const signature = Buffer.from(digest.signature, "base64");
  if (signature.length !== 64 || signature.toString("base64") !== digest.signature) return false;
  try {
    return verify(null, digestSigningInput(digest), publicKey, signature);
  } catch {
    return false;
  }
}
