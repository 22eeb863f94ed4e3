// AWS's own KMS service model (botocore's service-2.json, read at test time) as the oracle for the server: every answer
// body checked against the operation's output shape, every error against its modeled errors, and request validation
// driven from the input shapes. One server, the real @aws-sdk/client-kms over HTTP and raw signed requests.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as K from "@aws-sdk/client-kms";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LocalKms } from "../local-kms.js";
import { ERROR_STATUS, OPERATION_MODELS, type OperationModel, type Shape } from "./model.generated.js";
import {
  checkValue,
  loadBotocoreKmsModel,
  type ModelShape,
  mutationsOf,
  type ServiceModel,
} from "./model-oracle.js";
import { createKmsServer, type KmsServer } from "./server.js";
import { ALICE, BOB, call, MALLORY } from "./test-support.js";

const LOADED = loadBotocoreKmsModel();
const MISSING_KEY = "arn:aws:kms:us-east-1:111122223333:key/00000000-0000-4000-8000-000000000000";
const MISSING = "run ./scripts/bootstrap.sh --system (boto3 brings botocore, which ships AWS's KMS model)";

/**
 * Members of @aws-sdk/client-kms's model (which the server's model.generated.ts comes from) that botocore's model does
 * not have yet, as "<botocore structure shape>.<member>": the SDK release is newer than botocore's here. The test below
 * checks that these are the only differences, so a response member in neither model still fails.
 */
const NEWER_IN_SDK_MODEL = new Set([
  "KeyMetadata.EncapsulationAlgorithms",
  "GrantListEntry.GranteeServicePrincipal",
  "GrantListEntry.RetiringServicePrincipal",
  "GrantConstraints.SourceArn",
  "CreateGrantRequest.GranteeServicePrincipal",
  "CreateGrantRequest.RetiringServicePrincipal",
  "ListGrantsRequest.GranteeServicePrincipal",
  "ListRetirableGrantsRequest.RetiringServicePrincipal",
]);

/**
 * Members botocore's model requires that the SDK's makes optional, because the newer model adds an alternative
 * member (a service principal instead of a principal ARN). The server requires one of the two (the request validation
 * test below checks that leaving both out is a ValidationException).
 */
const REQUIRED_ONLY_IN_BOTOCORE = new Set([
  "CreateGrant.GranteePrincipal",
  "ListRetirableGrants.RetiringPrincipal",
]);

/**
 * Errors AWS documents for every operation ("Common Errors" in the AWS KMS API Reference), under the names and statuses
 * the JSON protocol answers them with, and SerializationException, the JSON protocol's answer to a body whose members
 * have the wrong JSON types. Only those this test can provoke with signed, well-formed requests.
 */
const COMMON_ERRORS: Record<string, number> = {
  ValidationException: 400,
  SerializationException: 400,
  AccessDeniedException: 400,
  ThrottlingException: 400,
};

interface Answer {
  readonly operation: string;
  readonly status: number;
  readonly body: string;
  readonly what: string;
}

describe("the server against AWS's KMS service model", { timeout: 120_000 }, () => {
  if (typeof LOADED === "string") {
    it("finds botocore's KMS model", () => {
      throw new Error(`${LOADED}: ${MISSING}`);
    });
    return;
  }
  const { model, botocoreVersion, path: modelPath } = LOADED;
  // An older botocore (Debian 12's python3-botocore 1.29 lacks RotateKeyOnDemand, ListKeyRotations, GetKeyLastUsage
  // and the DryRun members) is still an oracle for what it knows: what AWS added since, which the server has from
  // the newer SDK model, is then left unchecked rather than called a divergence.
  const MISSING_OPERATIONS = Object.keys(OPERATION_MODELS).filter((op) => model.operations[op] === undefined);
  const OLDER_MODEL = MISSING_OPERATIONS.length > 0;
  const SDK_MEMBERS = OLDER_MODEL ? memberNames(Object.values(OPERATION_MODELS)) : new Set<string>();
  // Members an older model requires that AWS has made optional since (PolicyName, CiphertextBlob with Recipient).
  const stillRequired = (operation: string, what: string): boolean => {
    const left = / left out \(required\)$/.exec(what)
      ? what.replace(/ left out \(required\)$/, "")
      : undefined;
    return (
      !OLDER_MODEL ||
      left === undefined ||
      left.includes(".") ||
      (OPERATION_MODELS[operation]?.required ?? []).includes(left)
    );
  };
  const allowExtra = (structureMember: string): boolean =>
    NEWER_IN_SDK_MODEL.has(structureMember) ||
    SDK_MEMBERS.has(structureMember.slice(structureMember.indexOf(".") + 1));
  const answers: Answer[] = [];
  let dir: string;
  let server: KmsServer;
  let alice: K.KMSClient;
  let bob: K.KMSClient;
  let mallory: K.KMSClient;
  let note = "";
  // The valid requests of the request validation test, for the test after it.
  let validated: { baselines: Record<string, Record<string, unknown>>; keys: string[] } | undefined;

  function recordingClient(who: typeof ALICE): K.KMSClient {
    const client = new K.KMSClient({
      endpoint: server.url,
      region: "us-east-1",
      credentials: { accessKeyId: who.accessKeyId, secretAccessKey: who.secretAccessKey },
      maxAttempts: 1,
    });
    // The raw bodies, as the server sent them, before the SDK parses them: the handler's answer is read once,
    // recorded, and handed on as bytes (the SDK's body collector takes a Uint8Array as it is).
    const handler = client.config.requestHandler as unknown as {
      handle(request: { headers: Record<string, string> }, options?: unknown): Promise<{ response: Raw }>;
    };
    const handle = handler.handle.bind(handler);
    handler.handle = async (request, options) => {
      const result = await handle(request, options);
      const chunks: Buffer[] = [];
      for await (const chunk of result.response.body as AsyncIterable<Buffer>)
        chunks.push(Buffer.from(chunk));
      const body = Buffer.concat(chunks);
      answers.push({
        operation: String(request.headers["x-amz-target"]).replace(/^TrentService\./, ""),
        status: result.response.statusCode,
        body: body.toString("utf8"),
        what: `SDK ${note}`,
      });
      result.response.body = new Uint8Array(body);
      return result;
    };
    return client;
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "sealkit-kms-model-"));
    const kms = await LocalKms.open({
      dataDir: join(dir, "kms"),
      region: "us-east-1",
      account: "111122223333",
    });
    server = createKmsServer({ kms, credentials: [ALICE, BOB, MALLORY], region: "us-east-1" });
    await server.listen(0, "127.0.0.1");
    alice = recordingClient(ALICE);
    bob = recordingClient(BOB);
    mallory = recordingClient(MALLORY);
  });

  afterAll(async () => {
    alice?.destroy();
    bob?.destroy();
    mallory?.destroy();
    await server?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** A raw signed request (as Alice), recorded like the SDK's. */
  /**
   * Sends each request that breaks one input rule of `baseline`, adding to `wrong` every answer that is not a 400
   * ValidationException (or SerializationException for a wrong JSON type); returns how many were sent.
   */
  async function sendBroken(
    operation: string,
    shape: string,
    baseline: Record<string, unknown>,
    label: string,
    wrong: string[],
  ): Promise<number> {
    let sent = 0;
    for (const m of mutationsOf(model, shape, baseline).filter((m) => stillRequired(operation, m.what))) {
      const a = await raw(operation, m.body, `${m.what}${label}`);
      sent++;
      const type = a.status === 200 ? "(success)" : (JSON.parse(a.body) as { __type?: string }).__type;
      const okTypes =
        m.expect === "constraint"
          ? ["ValidationException"]
          : ["SerializationException", "ValidationException"];
      if (a.status !== 400 || !okTypes.includes(type as string))
        wrong.push(`${operation} ${m.what}: ${a.status} ${a.body.slice(0, 160)}`);
    }
    return sent;
  }

  async function raw(operation: string, body: unknown, what: string): Promise<Answer> {
    const res = await call(server.url, operation, body);
    const answer = { operation, status: res.status, body: res.text, what };
    answers.push(answer);
    return answer;
  }

  /** The problems of one answer: a success against the output shape, an error against the operation's errors. */
  function problemsOf(a: Answer): string[] {
    const problems: string[] = [];
    const op = model.operations[a.operation];
    const where = `${a.operation} (${a.what})`;
    if (op === undefined) return OLDER_MODEL ? [] : [`${where}: not an operation of the model`];
    let json: unknown;
    try {
      json = JSON.parse(a.body);
    } catch {
      return [`${where}: status ${a.status}, body is not JSON: ${a.body.slice(0, 100)}`];
    }
    if (a.status === 200) {
      const found: string[] = [];
      if (op.output === undefined) {
        if (typeof json !== "object" || json === null || Object.keys(json).length > 0)
          found.push(`the model has no output, the body is ${a.body.slice(0, 100)}`);
      } else {
        checkValue(model, op.output.shape, json, "", found, allowExtra);
      }
      return found.map((p) => `${where}: ${p}`);
    }
    const err = json as { __type?: unknown; message?: unknown };
    const type = typeof err.__type === "string" ? err.__type.replace(/^.*#/, "") : undefined;
    if (type === undefined) return [`${where}: status ${a.status} without a __type: ${a.body.slice(0, 100)}`];
    if (typeof err.message !== "string") problems.push(`${where}: ${type} without a message`);
    const modeled = op.errors?.some((e) => e.shape === type) ?? false;
    let expected: number | undefined;
    if (modeled) {
      const shape = model.shapes[type] as ModelShape;
      // botocore's KMS model gives no error.httpStatusCode; the SDK's (Smithy's @httpError) does. Both must agree with
      // the fault side: a server fault is 5xx, a client fault 4xx.
      expected = shape.error?.httpStatusCode ?? ERROR_STATUS[type];
      if (shape.fault === true ? a.status < 500 : a.status >= 500)
        problems.push(
          `${where}: ${type} with status ${a.status}, but the model says ${shape.fault ? "server" : "client"} fault`,
        );
    } else if (type in COMMON_ERRORS) {
      expected = COMMON_ERRORS[type];
    } else if (OLDER_MODEL && type in ERROR_STATUS) {
      expected = ERROR_STATUS[type];
    } else {
      problems.push(`${where}: ${type} (status ${a.status}) is not an error of ${a.operation} in the model`);
    }
    if (expected !== undefined && a.status !== expected)
      problems.push(`${where}: ${type} with status ${a.status}, the model says ${expected}`);
    return problems;
  }

  function problemsSince(from: number): string[] {
    return answers.slice(from).flatMap(problemsOf);
  }

  /** Sends a command through the SDK; resolves with its output, or with the error it threw. */
  async function sdk<T>(client: K.KMSClient, what: string, command: unknown): Promise<T> {
    note = what;
    // biome-ignore lint/suspicious/noExplicitAny: one helper for every command
    return (await client.send(command as any)) as T;
  }

  async function sdkError(client: K.KMSClient, what: string, command: unknown): Promise<string> {
    try {
      await sdk(client, what, command);
    } catch (e) {
      return (e as Error).name;
    }
    throw new Error(`${what}: expected an error`);
  }

  it(`botocore ${botocoreVersion}'s model has the server's operations (${MISSING_OPERATIONS.length === 0 ? "all" : `all but ${MISSING_OPERATIONS.join(", ")}`}) with the server's members`, () => {
    expect(modelPath).toMatch(/service-2\.json(\.gz)?$/);
    expect(model.metadata.targetPrefix).toBe("TrentService");
    const differences: string[] = [];
    for (const [name, ours] of Object.entries(OPERATION_MODELS)) {
      const op = model.operations[name];
      if (op === undefined) continue;
      const input = op.input?.shape;
      const output = op.output?.shape;
      compareShape(model, input, ours.input, `${name} input`, differences, allowExtra);
      compareShape(model, output, ours.output, `${name} output`, differences, allowExtra);
      // A member AWS requires, the server must require too (the other way round is a NEWER_IN_SDK_MODEL difference).
      const required = input === undefined ? [] : ((model.shapes[input] as ModelShape).required ?? []);
      for (const m of required)
        if (!ours.required.includes(m) && !REQUIRED_ONLY_IN_BOTOCORE.has(`${name}.${m}`) && !OLDER_MODEL)
          differences.push(`${name}: ${m} is required by the model, not by the server`);
    }
    expect(differences).toEqual([]);
    // With botocore 1.43 and later (pip, pyenv), every operation is checked; an older one leaves out these only.
    for (const op of MISSING_OPERATIONS)
      expect(["RotateKeyOnDemand", "ListKeyRotations", "GetKeyLastUsage", "ListRetirableGrants"]).toContain(
        op,
      );
  });

  it("every operation, through the SDK: each success body fits the output shape, each error is one the operation models", async () => {
    const from = answers.length;
    const created = await sdk<K.CreateKeyCommandOutput>(
      alice,
      "CreateKey with description and tags",
      new K.CreateKeyCommand({ Description: "model", Tags: [{ TagKey: "team", TagValue: "a" }] }),
    );
    const keyId = created.KeyMetadata?.KeyId as string;
    const arn = created.KeyMetadata?.Arn as string;
    await sdk(
      alice,
      "CreateKey SYMMETRIC_DEFAULT",
      new K.CreateKeyCommand({ KeySpec: "SYMMETRIC_DEFAULT", KeyUsage: "ENCRYPT_DECRYPT" }),
    );
    await sdk(alice, "DescribeKey by ARN", new K.DescribeKeyCommand({ KeyId: arn }));
    await sdk(
      alice,
      "UpdateKeyDescription",
      new K.UpdateKeyDescriptionCommand({ KeyId: keyId, Description: "" }),
    );
    await sdk(
      alice,
      "CreateAlias",
      new K.CreateAliasCommand({ AliasName: "alias/model-a", TargetKeyId: keyId }),
    );
    await sdk(
      alice,
      "CreateAlias 2",
      new K.CreateAliasCommand({ AliasName: "alias/model-b", TargetKeyId: keyId }),
    );
    await sdk(alice, "DescribeKey by alias", new K.DescribeKeyCommand({ KeyId: "alias/model-a" }));
    // Pagination: Limit 1 and the markers the server hands out, to the end.
    for (const [list, make] of [
      ["ListKeys", (m?: string) => new K.ListKeysCommand({ Limit: 1, Marker: m })],
      ["ListAliases", (m?: string) => new K.ListAliasesCommand({ Limit: 1, Marker: m })],
      ["ListAliases by key", (m?: string) => new K.ListAliasesCommand({ KeyId: keyId, Limit: 1, Marker: m })],
      [
        "ListKeyPolicies",
        (m?: string) => new K.ListKeyPoliciesCommand({ KeyId: keyId, Limit: 1, Marker: m }),
      ],
      [
        "ListResourceTags",
        (m?: string) => new K.ListResourceTagsCommand({ KeyId: keyId, Limit: 1, Marker: m }),
      ],
    ] as const) {
      let marker: string | undefined;
      let pages = 0;
      do {
        const page = await sdk<{ NextMarker?: string; Truncated?: boolean }>(
          alice,
          `${list} Limit 1`,
          make(marker),
        );
        marker = page.Truncated ? page.NextMarker : undefined;
        pages++;
      } while (marker !== undefined && pages < 20);
    }
    await sdk(alice, "ListKeys", new K.ListKeysCommand({}));
    await sdk(
      alice,
      "TagResource",
      new K.TagResourceCommand({ KeyId: keyId, Tags: [{ TagKey: "env", TagValue: "" }] }),
    );
    await sdk(alice, "UntagResource", new K.UntagResourceCommand({ KeyId: keyId, TagKeys: ["team"] }));
    await sdk(alice, "ListResourceTags", new K.ListResourceTagsCommand({ KeyId: keyId }));
    const policy = await sdk<K.GetKeyPolicyCommandOutput>(
      alice,
      "GetKeyPolicy",
      new K.GetKeyPolicyCommand({ KeyId: keyId }),
    );
    await sdk(
      alice,
      "GetKeyPolicy default",
      new K.GetKeyPolicyCommand({ KeyId: keyId, PolicyName: "default" }),
    );
    await sdk(
      alice,
      "PutKeyPolicy",
      new K.PutKeyPolicyCommand({ KeyId: keyId, PolicyName: "default", Policy: policy.Policy }),
    );
    await sdk(
      alice,
      "PutKeyPolicy no name",
      new K.PutKeyPolicyCommand({ KeyId: keyId, Policy: policy.Policy }),
    );
    await sdk(alice, "ListKeyPolicies", new K.ListKeyPoliciesCommand({ KeyId: keyId }));
    // Rotation.
    await sdk(alice, "GetKeyRotationStatus off", new K.GetKeyRotationStatusCommand({ KeyId: keyId }));
    await sdk(
      alice,
      "EnableKeyRotation 90",
      new K.EnableKeyRotationCommand({ KeyId: keyId, RotationPeriodInDays: 90 }),
    );
    await sdk(alice, "GetKeyRotationStatus on", new K.GetKeyRotationStatusCommand({ KeyId: keyId }));
    await sdk(alice, "RotateKeyOnDemand", new K.RotateKeyOnDemandCommand({ KeyId: keyId }));
    await sdk(alice, "ListKeyRotations", new K.ListKeyRotationsCommand({ KeyId: keyId }));
    for (const IncludeKeyMaterial of ["ALL_KEY_MATERIAL", "ROTATIONS_ONLY"] as const)
      await sdk(
        alice,
        `ListKeyRotations ${IncludeKeyMaterial} Limit 1`,
        new K.ListKeyRotationsCommand({ KeyId: keyId, IncludeKeyMaterial, Limit: 1 }),
      );
    await sdk(alice, "DisableKeyRotation", new K.DisableKeyRotationCommand({ KeyId: keyId }));
    // Cryptography, with an encryption context, every KeySpec and NumberOfBytes at both ends.
    const context = { tenant: "acme", purpose: "" };
    const encrypted = await sdk<K.EncryptCommandOutput>(
      alice,
      "Encrypt",
      new K.EncryptCommand({
        KeyId: keyId,
        Plaintext: new Uint8Array(4096),
        EncryptionContext: context,
        EncryptionAlgorithm: "SYMMETRIC_DEFAULT",
      }),
    );
    await sdk(
      alice,
      "Decrypt",
      new K.DecryptCommand({ CiphertextBlob: encrypted.CiphertextBlob, EncryptionContext: context }),
    );
    await sdk(
      alice,
      "Decrypt with KeyId",
      new K.DecryptCommand({
        CiphertextBlob: encrypted.CiphertextBlob,
        EncryptionContext: context,
        KeyId: keyId,
        EncryptionAlgorithm: "SYMMETRIC_DEFAULT",
      }),
    );
    await sdk(
      alice,
      "ReEncrypt",
      new K.ReEncryptCommand({
        CiphertextBlob: encrypted.CiphertextBlob,
        SourceEncryptionContext: context,
        DestinationKeyId: "alias/model-b",
        DestinationEncryptionContext: { a: "b" },
      }),
    );
    for (const KeySpec of ["AES_256", "AES_128"] as const) {
      await sdk(
        alice,
        `GenerateDataKey ${KeySpec}`,
        new K.GenerateDataKeyCommand({ KeyId: keyId, KeySpec, EncryptionContext: context }),
      );
      await sdk(
        alice,
        `GenerateDataKeyWithoutPlaintext ${KeySpec}`,
        new K.GenerateDataKeyWithoutPlaintextCommand({ KeyId: keyId, KeySpec }),
      );
    }
    for (const NumberOfBytes of [1, 1024]) {
      await sdk(
        alice,
        `GenerateDataKey ${NumberOfBytes} bytes`,
        new K.GenerateDataKeyCommand({ KeyId: keyId, NumberOfBytes }),
      );
      await sdk(
        alice,
        `GenerateDataKeyWithoutPlaintext ${NumberOfBytes} bytes`,
        new K.GenerateDataKeyWithoutPlaintextCommand({ KeyId: keyId, NumberOfBytes }),
      );
      await sdk(alice, `GenerateRandom ${NumberOfBytes}`, new K.GenerateRandomCommand({ NumberOfBytes }));
    }
    await sdk(alice, "GetKeyLastUsage", new K.GetKeyLastUsageCommand({ KeyId: keyId }));
    const unused = (
      await sdk<K.CreateKeyCommandOutput>(alice, "CreateKey unused", new K.CreateKeyCommand({}))
    ).KeyMetadata?.KeyId;
    await sdk(alice, "GetKeyLastUsage never used", new K.GetKeyLastUsageCommand({ KeyId: unused }));
    // Grants, grant tokens, DryRun.
    const grant = await sdk<K.CreateGrantCommandOutput>(
      alice,
      "CreateGrant",
      new K.CreateGrantCommand({
        KeyId: keyId,
        GranteePrincipal: BOB.principal,
        RetiringPrincipal: ALICE.principal,
        Operations: ["Encrypt", "Decrypt", "GenerateDataKey", "RetireGrant"],
        Constraints: { EncryptionContextSubset: { tenant: "acme" } },
        Name: "model-grant",
      }),
    );
    await sdk(
      bob,
      "Encrypt with a grant token",
      new K.EncryptCommand({
        KeyId: arn,
        Plaintext: new Uint8Array([1]),
        EncryptionContext: { tenant: "acme" },
        GrantTokens: [grant.GrantToken as string],
      }),
    );
    await sdk(
      bob,
      "GenerateDataKey with a grant token",
      new K.GenerateDataKeyCommand({
        KeyId: arn,
        KeySpec: "AES_256",
        EncryptionContext: { tenant: "acme" },
        GrantTokens: [grant.GrantToken as string],
      }),
    );
    await sdk(alice, "ListGrants", new K.ListGrantsCommand({ KeyId: keyId }));
    await sdk(alice, "ListGrants by id", new K.ListGrantsCommand({ KeyId: keyId, GrantId: grant.GrantId }));
    await sdk(
      alice,
      "ListGrants by grantee",
      new K.ListGrantsCommand({ KeyId: keyId, GranteePrincipal: BOB.principal, Limit: 1 }),
    );
    const second = await sdk<K.CreateGrantCommandOutput>(
      alice,
      "CreateGrant equals",
      new K.CreateGrantCommand({
        KeyId: keyId,
        GranteePrincipal: BOB.principal,
        Operations: ["Decrypt"],
        Constraints: { EncryptionContextEquals: { tenant: "acme" } },
      }),
    );
    let marker: string | undefined;
    do {
      const page = await sdk<K.ListGrantsCommandOutput>(
        alice,
        "ListGrants Limit 1",
        new K.ListGrantsCommand({ KeyId: keyId, Limit: 1, Marker: marker }),
      );
      marker = page.Truncated ? page.NextMarker : undefined;
    } while (marker !== undefined);
    do {
      const page: { Truncated?: boolean; NextMarker?: string } = await sdk(
        alice,
        "ListRetirableGrants Limit 1",
        new K.ListRetirableGrantsCommand({ RetiringPrincipal: ALICE.principal, Limit: 1, Marker: marker }),
      );
      marker = page.Truncated ? page.NextMarker : undefined;
    } while (marker !== undefined);
    const dry = [
      await sdkError(
        alice,
        "Encrypt DryRun",
        new K.EncryptCommand({ KeyId: keyId, Plaintext: new Uint8Array([1]), DryRun: true }),
      ),
      await sdkError(
        alice,
        "Decrypt DryRun",
        new K.DecryptCommand({
          CiphertextBlob: encrypted.CiphertextBlob,
          EncryptionContext: context,
          DryRun: true,
        }),
      ),
      await sdkError(
        alice,
        "ReEncrypt DryRun",
        new K.ReEncryptCommand({
          CiphertextBlob: encrypted.CiphertextBlob,
          SourceEncryptionContext: context,
          DestinationKeyId: keyId,
          DryRun: true,
        }),
      ),
      await sdkError(
        alice,
        "GenerateDataKey DryRun",
        new K.GenerateDataKeyCommand({ KeyId: keyId, KeySpec: "AES_256", DryRun: true }),
      ),
      await sdkError(
        alice,
        "GenerateDataKeyWithoutPlaintext DryRun",
        new K.GenerateDataKeyWithoutPlaintextCommand({ KeyId: keyId, KeySpec: "AES_256", DryRun: true }),
      ),
      await sdkError(
        alice,
        "CreateGrant DryRun",
        new K.CreateGrantCommand({
          KeyId: keyId,
          GranteePrincipal: BOB.principal,
          Operations: ["Decrypt"],
          DryRun: true,
        }),
      ),
      await sdkError(
        alice,
        "RetireGrant DryRun",
        new K.RetireGrantCommand({ KeyId: keyId, GrantId: second.GrantId, DryRun: true }),
      ),
      await sdkError(
        alice,
        "RevokeGrant DryRun",
        new K.RevokeGrantCommand({ KeyId: keyId, GrantId: second.GrantId, DryRun: true }),
      ),
    ];
    expect(dry).toEqual(Array(dry.length).fill("DryRunOperationException"));
    await sdk(alice, "RetireGrant by token", new K.RetireGrantCommand({ GrantToken: grant.GrantToken }));
    await sdk(alice, "RevokeGrant", new K.RevokeGrantCommand({ KeyId: keyId, GrantId: second.GrantId }));
    // Key states.
    await sdk(alice, "DisableKey", new K.DisableKeyCommand({ KeyId: keyId }));
    await sdk(alice, "DescribeKey disabled", new K.DescribeKeyCommand({ KeyId: keyId }));
    await sdk(alice, "EnableKey", new K.EnableKeyCommand({ KeyId: keyId }));
    await sdk(
      alice,
      "UpdateAlias",
      new K.UpdateAliasCommand({ AliasName: "alias/model-b", TargetKeyId: unused }),
    );
    await sdk(alice, "DeleteAlias", new K.DeleteAliasCommand({ AliasName: "alias/model-b" }));
    await sdk(
      alice,
      "ScheduleKeyDeletion",
      new K.ScheduleKeyDeletionCommand({ KeyId: unused, PendingWindowInDays: 7 }),
    );
    await sdk(alice, "DescribeKey pending deletion", new K.DescribeKeyCommand({ KeyId: unused }));
    await sdk(alice, "CancelKeyDeletion", new K.CancelKeyDeletionCommand({ KeyId: unused }));
    await sdk(alice, "DescribeKey after cancel", new K.DescribeKeyCommand({ KeyId: unused }));
    await sdk(alice, "ListAliases", new K.ListAliasesCommand({}));

    const covered = new Set(
      answers
        .slice(from)
        .filter((a) => a.status === 200)
        .map((a) => a.operation),
    );
    expect(Object.keys(OPERATION_MODELS).filter((op) => !covered.has(op))).toEqual([]);
    expect(problemsSince(from)).toEqual([]);
  });

  it("errors through the SDK: each __type is one the operation models (or a common error), with the model's status", async () => {
    const from = answers.length;
    const keyId = (await sdk<K.CreateKeyCommandOutput>(alice, "CreateKey", new K.CreateKeyCommand({})))
      .KeyMetadata?.KeyId as string;
    const missing = "arn:aws:kms:us-east-1:111122223333:key/00000000-0000-4000-8000-000000000000";
    const ct = (
      await sdk<K.EncryptCommandOutput>(
        alice,
        "Encrypt",
        new K.EncryptCommand({ KeyId: keyId, Plaintext: new Uint8Array([1]) }),
      )
    ).CiphertextBlob;
    const other = (await sdk<K.CreateKeyCommandOutput>(alice, "CreateKey", new K.CreateKeyCommand({})))
      .KeyMetadata?.KeyId as string;
    const names = [
      await sdkError(alice, "DescribeKey missing", new K.DescribeKeyCommand({ KeyId: missing })),
      await sdkError(
        alice,
        "Encrypt missing",
        new K.EncryptCommand({ KeyId: missing, Plaintext: new Uint8Array([1]) }),
      ),
      await sdkError(alice, "Decrypt garbage", new K.DecryptCommand({ CiphertextBlob: new Uint8Array(64) })),
      await sdkError(
        alice,
        "Decrypt wrong context",
        new K.DecryptCommand({ CiphertextBlob: ct, EncryptionContext: { a: "b" } }),
      ),
      await sdkError(alice, "Decrypt wrong key", new K.DecryptCommand({ CiphertextBlob: ct, KeyId: other })),
      await sdkError(
        alice,
        "CreateAlias bad name",
        new K.CreateAliasCommand({ AliasName: "model-no-prefix", TargetKeyId: keyId }),
      ),
      await sdkError(
        alice,
        "CreateAlias aws/",
        new K.CreateAliasCommand({ AliasName: "alias/aws/model", TargetKeyId: keyId }),
      ),
      await sdkError(
        alice,
        "DeleteAlias missing",
        new K.DeleteAliasCommand({ AliasName: "alias/model-none" }),
      ),
      await sdkError(alice, "ListKeys bad marker", new K.ListKeysCommand({ Marker: "not-a-marker" })),
      await sdkError(alice, "ListAliases bad marker", new K.ListAliasesCommand({ Marker: "not-a-marker" })),
      await sdkError(
        alice,
        "ListGrants bad marker",
        new K.ListGrantsCommand({ KeyId: keyId, Marker: "not-a-marker" }),
      ),
      await sdkError(
        alice,
        "ListKeyRotations bad marker",
        new K.ListKeyRotationsCommand({ KeyId: keyId, Marker: "not-a-marker" }),
      ),
      await sdkError(
        alice,
        "ListResourceTags bad marker",
        new K.ListResourceTagsCommand({ KeyId: keyId, Marker: "not-a-marker" }),
      ),
      await sdkError(
        alice,
        "ListKeyPolicies bad marker",
        new K.ListKeyPoliciesCommand({ KeyId: keyId, Marker: "not-a-marker" }),
      ),
      await sdkError(
        alice,
        "RevokeGrant bad id",
        new K.RevokeGrantCommand({ KeyId: keyId, GrantId: "0".repeat(64) }),
      ),
      await sdkError(alice, "RetireGrant bad token", new K.RetireGrantCommand({ GrantToken: "not-a-token" })),
      await sdkError(
        alice,
        "Encrypt bad grant token",
        new K.EncryptCommand({ KeyId: keyId, Plaintext: new Uint8Array([1]), GrantTokens: ["not-a-token"] }),
      ),
      await sdkError(
        alice,
        "PutKeyPolicy malformed",
        new K.PutKeyPolicyCommand({ KeyId: keyId, Policy: "{" }),
      ),
      await sdkError(
        alice,
        "GetKeyPolicy other name",
        new K.GetKeyPolicyCommand({ KeyId: keyId, PolicyName: "other" }),
      ),
      await sdkError(
        alice,
        "TagResource aws: prefix",
        new K.TagResourceCommand({ KeyId: keyId, Tags: [{ TagKey: "aws:x", TagValue: "v" }] }),
      ),
      await sdkError(
        alice,
        "Encrypt asymmetric algorithm",
        new K.EncryptCommand({
          KeyId: keyId,
          Plaintext: new Uint8Array([1]),
          EncryptionAlgorithm: "RSAES_OAEP_SHA_256",
        }),
      ),
      await sdkError(
        alice,
        "CreateKey asymmetric",
        new K.CreateKeyCommand({ KeySpec: "RSA_2048", KeyUsage: "ENCRYPT_DECRYPT" }),
      ),
      await sdkError(
        alice,
        "CreateGrant bad principal",
        new K.CreateGrantCommand({ KeyId: keyId, GranteePrincipal: "not-an-arn", Operations: ["Decrypt"] }),
      ),
      await sdkError(
        mallory,
        "Encrypt from another account",
        new K.EncryptCommand({ KeyId: keyId, Plaintext: new Uint8Array([1]) }),
      ),
      await sdkError(
        alice,
        "GenerateDataKey both",
        new K.GenerateDataKeyCommand({ KeyId: keyId, KeySpec: "AES_256", NumberOfBytes: 32 }),
      ),
      await sdkError(
        alice,
        "ScheduleKeyDeletion 6 days",
        new K.ScheduleKeyDeletionCommand({ KeyId: keyId, PendingWindowInDays: 6 }),
      ),
      await sdkError(alice, "DisableKey missing", new K.DisableKeyCommand({ KeyId: missing })),
      await sdkError(alice, "GetKeyLastUsage missing", new K.GetKeyLastUsageCommand({ KeyId: missing })),
    ];
    await sdk(
      alice,
      "CreateAlias",
      new K.CreateAliasCommand({ AliasName: "alias/model-dup", TargetKeyId: keyId }),
    );
    names.push(
      await sdkError(
        alice,
        "CreateAlias twice",
        new K.CreateAliasCommand({ AliasName: "alias/model-dup", TargetKeyId: keyId }),
      ),
    );
    await sdk(alice, "DisableKey", new K.DisableKeyCommand({ KeyId: keyId }));
    names.push(
      await sdkError(
        alice,
        "Encrypt disabled",
        new K.EncryptCommand({ KeyId: keyId, Plaintext: new Uint8Array([1]) }),
      ),
    );
    names.push(
      await sdkError(alice, "EnableKeyRotation disabled", new K.EnableKeyRotationCommand({ KeyId: keyId })),
    );
    names.push(
      await sdkError(alice, "RotateKeyOnDemand disabled", new K.RotateKeyOnDemandCommand({ KeyId: keyId })),
    );
    await sdk(
      alice,
      "ScheduleKeyDeletion",
      new K.ScheduleKeyDeletionCommand({ KeyId: keyId, PendingWindowInDays: 30 }),
    );
    for (const [what, command] of [
      ["Encrypt pending deletion", new K.EncryptCommand({ KeyId: keyId, Plaintext: new Uint8Array([1]) })],
      ["Decrypt pending deletion", new K.DecryptCommand({ CiphertextBlob: ct })],
      ["EnableKey pending deletion", new K.EnableKeyCommand({ KeyId: keyId })],
      [
        "UpdateKeyDescription pending deletion",
        new K.UpdateKeyDescriptionCommand({ KeyId: keyId, Description: "x" }),
      ],
      ["GetKeyRotationStatus pending deletion", new K.GetKeyRotationStatusCommand({ KeyId: keyId })],
      ["ListKeyRotations pending deletion", new K.ListKeyRotationsCommand({ KeyId: keyId })],
      ["GetKeyPolicy pending deletion", new K.GetKeyPolicyCommand({ KeyId: keyId })],
      [
        "CreateGrant pending deletion",
        new K.CreateGrantCommand({ KeyId: keyId, GranteePrincipal: BOB.principal, Operations: ["Decrypt"] }),
      ],
      [
        "TagResource pending deletion",
        new K.TagResourceCommand({ KeyId: keyId, Tags: [{ TagKey: "a", TagValue: "b" }] }),
      ],
      ["ScheduleKeyDeletion twice", new K.ScheduleKeyDeletionCommand({ KeyId: keyId })],
      ["GetKeyLastUsage pending deletion", new K.GetKeyLastUsageCommand({ KeyId: keyId })],
      [
        "UpdateAlias to pending deletion",
        new K.UpdateAliasCommand({ AliasName: "alias/model-dup", TargetKeyId: keyId }),
      ],
    ] as const) {
      note = what;
      try {
        // biome-ignore lint/suspicious/noExplicitAny: several command types
        await alice.send(command as any);
      } catch {
        // Recorded; checked below.
      }
    }
    const errors = answers.slice(from).filter((a) => a.status !== 200);
    expect(errors.length).toBeGreaterThanOrEqual(names.length);
    expect(names).not.toContain("Error");
    expect(problemsSince(from)).toEqual([]);
  });

  it("request validation from the input shapes (raw signed requests): each broken rule is a 400 ValidationException, a wrong JSON type a 400 SerializationException", async () => {
    const from = answers.length;
    const keyId = (await sdk<K.CreateKeyCommandOutput>(alice, "CreateKey", new K.CreateKeyCommand({})))
      .KeyMetadata?.KeyId as string;
    const ct = (
      await sdk<K.EncryptCommandOutput>(
        alice,
        "Encrypt",
        new K.EncryptCommand({ KeyId: keyId, Plaintext: new Uint8Array([1]), EncryptionContext: { a: "b" } }),
      )
    ).CiphertextBlob as Uint8Array;
    const blob = Buffer.from(ct).toString("base64");
    // DisableKey, ScheduleKeyDeletion and CancelKeyDeletion (which leaves it disabled) run on a key of their own.
    const stateKey = (await sdk<K.CreateKeyCommandOutput>(alice, "CreateKey", new K.CreateKeyCommand({})))
      .KeyMetadata?.KeyId as string;
    const grant = await sdk<K.CreateGrantCommandOutput>(
      alice,
      "CreateGrant",
      new K.CreateGrantCommand({ KeyId: keyId, GranteePrincipal: BOB.principal, Operations: ["Decrypt"] }),
    );
    const token = grant.GrantToken as string;
    // A valid request of every operation; each is sent once (it must succeed), then broken one rule at a time.
    const baselines: Record<string, Record<string, unknown>> = {
      CreateKey: {
        Description: "d",
        KeyUsage: "ENCRYPT_DECRYPT",
        KeySpec: "SYMMETRIC_DEFAULT",
        Origin: "AWS_KMS",
        Tags: [{ TagKey: "k", TagValue: "v" }],
        BypassPolicyLockoutSafetyCheck: false,
        MultiRegion: false,
      },
      DescribeKey: { KeyId: keyId, GrantTokens: [token] },
      ListKeys: { Limit: 10 },
      UpdateKeyDescription: { KeyId: keyId, Description: "d" },
      EnableKey: { KeyId: stateKey },
      DisableKey: { KeyId: stateKey },
      ScheduleKeyDeletion: { KeyId: stateKey, PendingWindowInDays: 7 },
      CancelKeyDeletion: { KeyId: stateKey },
      CreateAlias: { AliasName: "alias/model-v", TargetKeyId: keyId },
      UpdateAlias: { AliasName: "alias/model-v", TargetKeyId: keyId },
      DeleteAlias: { AliasName: "alias/model-v" },
      ListAliases: { KeyId: keyId, Limit: 10 },
      EnableKeyRotation: { KeyId: keyId, RotationPeriodInDays: 365 },
      DisableKeyRotation: { KeyId: keyId },
      GetKeyRotationStatus: { KeyId: keyId },
      RotateKeyOnDemand: { KeyId: keyId },
      ListKeyRotations: { KeyId: keyId, IncludeKeyMaterial: "ALL_KEY_MATERIAL", Limit: 10 },
      GetKeyPolicy: { KeyId: keyId, PolicyName: "default" },
      PutKeyPolicy: {
        KeyId: keyId,
        PolicyName: "default",
        Policy: "",
        BypassPolicyLockoutSafetyCheck: false,
      },
      ListKeyPolicies: { KeyId: keyId, Limit: 10 },
      CreateGrant: {
        KeyId: keyId,
        GranteePrincipal: BOB.principal,
        RetiringPrincipal: ALICE.principal,
        Operations: ["Decrypt"],
        Constraints: { EncryptionContextSubset: { a: "b" } },
        GrantTokens: [token],
        Name: "n",
        DryRun: false,
      },
      ListGrants: { KeyId: keyId, Limit: 10, GrantId: grant.GrantId, GranteePrincipal: BOB.principal },
      RetireGrant: { KeyId: keyId, GrantId: grant.GrantId, DryRun: true },
      RevokeGrant: { KeyId: keyId, GrantId: grant.GrantId, DryRun: true },
      TagResource: { KeyId: keyId, Tags: [{ TagKey: "k", TagValue: "v" }] },
      UntagResource: { KeyId: keyId, TagKeys: ["k"] },
      ListResourceTags: { KeyId: keyId, Limit: 10 },
      Encrypt: {
        KeyId: keyId,
        Plaintext: "AQ==",
        EncryptionContext: { a: "b" },
        GrantTokens: [token],
        EncryptionAlgorithm: "SYMMETRIC_DEFAULT",
        DryRun: false,
      },
      Decrypt: {
        CiphertextBlob: blob,
        EncryptionContext: { a: "b" },
        GrantTokens: [token],
        KeyId: keyId,
        EncryptionAlgorithm: "SYMMETRIC_DEFAULT",
        DryRun: false,
      },
      ReEncrypt: {
        CiphertextBlob: blob,
        SourceEncryptionContext: { a: "b" },
        SourceKeyId: keyId,
        DestinationKeyId: keyId,
        DestinationEncryptionContext: { c: "d" },
        SourceEncryptionAlgorithm: "SYMMETRIC_DEFAULT",
        DestinationEncryptionAlgorithm: "SYMMETRIC_DEFAULT",
        GrantTokens: [token],
        DryRun: false,
      },
      GenerateDataKey: {
        KeyId: keyId,
        EncryptionContext: { a: "b" },
        KeySpec: "AES_256",
        GrantTokens: [token],
        DryRun: false,
      },
      GenerateDataKeyWithoutPlaintext: {
        KeyId: keyId,
        EncryptionContext: { a: "b" },
        NumberOfBytes: 32,
        GrantTokens: [token],
        DryRun: false,
      },
      GenerateRandom: { NumberOfBytes: 32 },
      GetKeyLastUsage: { KeyId: keyId },
      ListRetirableGrants: { RetiringPrincipal: ALICE.principal, Limit: 10 },
    };
    const policy = JSON.parse((await raw("GetKeyPolicy", { KeyId: keyId }, "policy for the baseline")).body)
      .Policy as string;
    (baselines.PutKeyPolicy as Record<string, unknown>).Policy = policy;
    const order = Object.keys(OPERATION_MODELS);
    expect(Object.keys(baselines).sort()).toEqual([...order].sort());
    const wrong: string[] = [];
    let sent = 0;
    for (const operation of order) {
      const baseline = baselines[operation] as Record<string, unknown>;
      const op = model.operations[operation];
      if (op?.input === undefined) continue;
      const ok = await raw(operation, baseline, "baseline");
      // DryRun: true baselines (RetireGrant, RevokeGrant keep the grant) answer DryRunOperationException.
      const dryRun = baseline.DryRun === true;
      if (dryRun ? !ok.body.includes("DryRunOperationException") : ok.status !== 200)
        wrong.push(`${operation} baseline: ${ok.status} ${ok.body.slice(0, 200)}`);
      sent += await sendBroken(operation, op.input.shape, baseline, "", wrong);
    }
    expect(sent).toBeGreaterThan(300);
    expect(wrong).toEqual([]);
    expect(problemsSince(from)).toEqual([]);
    validated = { baselines, keys: [keyId, stateKey] };
  });

  it("the same broken requests naming a key that does not exist: the model is checked before the key is looked up", async () => {
    expect(validated).toBeDefined();
    const { baselines, keys } = validated as NonNullable<typeof validated>;
    const from = answers.length;
    const wrong: string[] = [];
    let sent = 0;
    for (const [operation, baseline] of Object.entries(baselines)) {
      const op = model.operations[operation];
      const named = Object.entries(baseline).filter(([, v]) => keys.includes(v as string));
      if (op?.input === undefined || named.length === 0) continue;
      const missing = Object.fromEntries(
        Object.entries(baseline).map(([k, v]) => [k, keys.includes(v as string) ? MISSING_KEY : v]),
      );
      sent += await sendBroken(operation, op.input.shape, missing, " (missing key)", wrong);
    }
    expect(sent).toBeGreaterThan(200);
    expect(wrong).toEqual([]);
    expect(problemsSince(from)).toEqual([]);
  });
});

interface Raw {
  statusCode: number;
  body: unknown;
}

/** Differences between botocore's shape `shapeName` and the server's model of it, except the `allowExtra` members. */
function compareShape(
  model: ServiceModel,
  shapeName: string | undefined,
  ours: Shape | { readonly [m: string]: Shape },
  path: string,
  out: string[],
  allowExtra: (structureMember: string) => boolean,
): void {
  if (shapeName === undefined) {
    if (typeof ours === "object" && !Array.isArray(ours) && Object.keys(ours).length > 0)
      out.push(`${path}: the model has no shape, the server has members`);
    return;
  }
  const shape = model.shapes[shapeName] as ModelShape;
  const code: Record<string, Shape> = {
    string: "s",
    integer: "n",
    long: "n",
    double: "n",
    boolean: "b",
    blob: "B",
    timestamp: "t",
  };
  switch (shape.type) {
    case "structure": {
      if (typeof ours !== "object" || Array.isArray(ours)) {
        out.push(`${path}: a structure in the model, ${JSON.stringify(ours)} in the server's`);
        return;
      }
      const members = ours as { readonly [m: string]: Shape };
      for (const [name, ref] of Object.entries(shape.members ?? {})) {
        if (members[name] === undefined) out.push(`${path}.${name}: in the model, not in the server's`);
        else compareShape(model, ref.shape, members[name], `${path}.${name}`, out, allowExtra);
      }
      for (const name of Object.keys(members))
        if (shape.members?.[name] === undefined && !allowExtra(`${shapeName}.${name}`))
          out.push(`${path}.${name}: in the server's model, not in botocore's`);
      return;
    }
    case "list":
    case "map": {
      const tag = shape.type === "list" ? "l" : "m";
      if (!Array.isArray(ours) || ours[0] !== tag) {
        out.push(`${path}: a ${shape.type} in the model, ${JSON.stringify(ours)} in the server's`);
        return;
      }
      const inner = shape.type === "list" ? shape.member?.shape : shape.value?.shape;
      compareShape(model, inner, ours[1] as Shape, `${path}[]`, out, allowExtra);
      return;
    }
    default:
      if (code[shape.type] !== ours)
        out.push(`${path}: ${shape.type} in the model, ${JSON.stringify(ours)} in the server's`);
  }
}

/** Every member name of the server's (SDK-generated) model, at any depth. */
function memberNames(models: readonly OperationModel[]): Set<string> {
  const names = new Set<string>();
  const walk = (shape: Shape): void => {
    if (typeof shape === "string") return;
    if (Array.isArray(shape)) {
      walk(shape[1] as Shape);
      return;
    }
    for (const [name, inner] of Object.entries(shape as { readonly [m: string]: Shape })) {
      names.add(name);
      walk(inner);
    }
  };
  for (const m of models) {
    walk(m.input);
    walk(m.output);
  }
  return names;
}
