// Parsing of AWS KMS key identifiers: key ARNs, alias ARNs, alias names and bare key ids.

/** The parts of an AWS ARN that matter for choosing a client and filtering discovery. */
export interface KmsArn {
  readonly partition: string;
  readonly region: string;
  readonly accountId: string;
  /** "key" or "alias". */
  readonly resourceType: "key" | "alias";
  /** The key id (UUID or mrk-...) or the alias name without the `alias/` prefix. */
  readonly resourceId: string;
}

const ARN = /^arn:([a-z0-9-]+):kms:([a-z0-9-]+):(\d{12}):(key|alias)\/(.+)$/;

/** Parses a KMS key or alias ARN; returns undefined for anything else (alias names, bare key ids). */
export function parseKmsArn(identifier: string): KmsArn | undefined {
  const match = ARN.exec(identifier);
  if (!match) return undefined;
  return {
    partition: match[1]!,
    region: match[2]!,
    accountId: match[3]!,
    resourceType: match[4] as "key" | "alias",
    resourceId: match[5]!,
  };
}

/** True for a key ARN (not an alias ARN): the only form an encrypted data key records. */
export function isKeyArn(identifier: string): boolean {
  return parseKmsArn(identifier)?.resourceType === "key";
}
