// The public shapes of the audit log: what callers append, what is stored, what verification reports.

/** Who made the call, as the KMS server or LocalKms knows it. Structurally compatible with kms-local's `Caller`. */
export interface AuditCaller {
  /** The principal ARN (`arn:aws:iam::111122223333:user/alice`, `arn:aws:iam::111122223333:root`) or a service principal (`s3.amazonaws.com`). */
  principal: string;
  /** The caller's 12-digit account id. */
  account: string;
  accessKeyId?: string;
  sourceIp?: string;
  userAgent?: string;
  /** The AWS service the call came through (`kms:ViaService`), recorded as `userIdentity.invokedBy`. */
  viaService?: string;
}

/** A resource the call touched, as CloudTrail lists it. */
export interface AuditResource {
  ARN: string;
  type?: string;
  accountId?: string;
}

/** What a caller hands to {@link AuditLog.append}. */
export interface AuditEventInput {
  /** The AWS operation name, e.g. `"Decrypt"`. */
  eventName: string;
  /** When the call happened; defaults to the log's clock. */
  eventTime?: Date;
  caller: AuditCaller;
  /** The request's parameters. Must never hold plaintext or key material: keys named Plaintext, CiphertextBlob or KeyMaterial and any binary value are refused. */
  requestParameters?: Record<string, unknown>;
  /** The response's non-secret elements (same restrictions); null for failed calls. */
  responseElements?: Record<string, unknown> | null;
  /** The AWS error name on failure, e.g. `"AccessDeniedException"`. */
  errorCode?: string;
  errorMessage?: string;
  resources?: AuditResource[];
  /** Defaults to true for Describe/Get/List and cryptographic operations, false otherwise, as CloudTrail does. */
  readOnly?: boolean;
  requestId?: string;
  /** The event's `eventID`; a new UUID when absent. */
  eventId?: string;
  /** The key ARN the call was about; indexed for {@link AuditLog.query}. */
  keyId?: string;
}

/** `userIdentity` of a stored event. */
export interface AuditUserIdentity {
  type: "IAMUser" | "Root" | "AWSService";
  principalId: string;
  arn: string;
  accountId: string;
  accessKeyId: string;
  /** Present when the call came through another service (`kms:ViaService`). */
  invokedBy?: string;
}

/** A stored event, shaped like a CloudTrail KMS event, plus its place in the hash chain. */
export interface AuditEvent {
  eventVersion: "1.08";
  userIdentity: AuditUserIdentity;
  /** ISO 8601 with milliseconds, UTC. */
  eventTime: string;
  eventSource: string;
  eventName: string;
  awsRegion?: string;
  sourceIPAddress: string;
  userAgent: string;
  requestParameters: Record<string, unknown> | null;
  responseElements: Record<string, unknown> | null;
  errorCode?: string;
  errorMessage?: string;
  requestID: string;
  /** A random UUID. */
  eventID: string;
  readOnly: boolean;
  resources: AuditResource[];
  eventType: "AwsApiCall";
  managementEvent: true;
  eventCategory: "Management";
  recipientAccountId: string;
  /** The key ARN the event is indexed under, when the call was about a key. */
  keyId?: string;
  /** Position in the log, from 1, without gaps. */
  sequence: number;
  /** `hash` of the previous event; 64 zeros for the first. */
  prevHash: string;
  /** Hex SHA-256 of `prevHash` followed by the canonical JSON of this event without `hash`. */
  hash: string;
}

/** Filters for {@link AuditLog.query}; all optional, combined with AND. */
export interface AuditQuery {
  /**
   * Events about this key: its ARN; its key id (the events of each key ARN ending in `:key/<id>`); or an alias name
   * or alias ARN, which names the key that the latest successful CreateAlias or UpdateAlias of it in the log targeted
   * (no event after a successful DeleteAlias of it): the log's own record, not kms.db's alias table.
   */
  keyId?: string;
  eventName?: string;
  /** The caller's principal ARN (`userIdentity.arn`). */
  principal?: string;
  /** Inclusive lower bound on eventTime. */
  from?: Date;
  /** Inclusive upper bound on eventTime. */
  to?: Date;
  /** Only events with an errorCode. */
  errorsOnly?: boolean;
  /** At most this many events (default 1,000, at most 100,000). */
  limit?: number;
  /** Only events with a sequence greater than this (paging: pass the last sequence of the previous page). */
  after?: number;
}

/** Options of {@link AuditLog.open}. */
export interface AuditLogOptions {
  /** Path of the Ed25519 signing key (PKCS#8 PEM); default `<dataDir>/audit-signing.key`, created with mode 0600 on first start. */
  signingKey?: string;
  /**
   * The signing key's public key (SPKI PEM) as kept outside the data dir. When given, `open` refuses a signing key
   * that does not match it: someone with write access to the data dir could otherwise replace (or delete, so
   * that a new one is made) `audit-signing.key` and sign a rewritten log with their own key.
   */
  trustedPublicKey?: string;
  /** Write a signed digest after this many events (default 1,000). */
  digestEvery?: number;
  /** Write a signed digest at least this often while events arrive, in milliseconds (default 60,000). */
  digestIntervalMs?: number;
  /** The clock for eventTime and digest times (tests). */
  clock?: () => Date;
  /** `eventSource` of stored events (default `"kms.amazonaws.com"`). */
  eventSource?: string;
  /** `awsRegion` of stored events (omitted when not given). */
  region?: string;
}

/** What kind of tampering a verification problem points at. */
export type AuditProblemKind =
  | "edited"
  | "deleted"
  | "inserted"
  | "reordered"
  | "bad-digest-signature"
  | "truncated-after-digest";

/** One finding of {@link AuditLog.verify}. */
export interface AuditProblem {
  /** The event sequence where the problem shows (for digest problems: the last sequence the digest covers). */
  sequence: number;
  kind: AuditProblemKind;
  detail: string;
}

/** The result of {@link AuditLog.verify}. */
export interface AuditVerifyReport {
  /** True when no problem was found. */
  ok: boolean;
  /** Events read. */
  events: number;
  /** Digests read. */
  digests: number;
  /** The smallest sequence with a problem. */
  firstBadSequence?: number;
  problems: AuditProblem[];
  /** Sequence of the last event covered by a valid signed digest (0 when none). */
  lastDigestSequence: number;
  /** Events after the last digest: their chain is checked, but their truncation would not be detectable. */
  eventsAfterLastDigest: number;
}

/** Counters of {@link AuditLog.stats}, exported by the server's /metrics. */
export interface AuditStats {
  /** Events made durable since open. */
  appended: number;
  /** Events waiting for the next group commit. */
  pending: number;
  /** Sequence of the last durable event. */
  lastSequence: number;
  /** Age in milliseconds of the oldest pending event (0 when none is pending). */
  lagMs: number;
}
