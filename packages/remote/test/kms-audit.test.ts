// With the local KMS behind the handler, every data key issued or unwrapped is in the KMS audit log under the
// principal the application authorized.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generateEnvelopeDataKey, openEnvelopeDataKey } from "@sealkit/core";
import { LocalKms, localKmsProvider } from "@sealkit/kms-local";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDataKeyHandler, remoteProvider } from "../src/index.js";

const ACCOUNT = "111122223333";
let dir: string;
let kms: LocalKms;
let keyArn: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "sealkit-remote-kms-"));
  kms = await LocalKms.open({ dataDir: dir });
  const created = await kms.createKey({ principal: `arn:aws:iam::${ACCOUNT}:root`, account: ACCOUNT }, {});
  keyArn = created.KeyMetadata!.Arn!;
});

afterAll(async () => {
  await kms?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("handler over the local KMS", () => {
  it("records each issue and unwrap under the authorized principal", async () => {
    const handler = createDataKeyHandler({
      provider: ({ principal }) =>
        localKmsProvider({
          kms,
          keyId: keyArn,
          caller: { principal: `arn:aws:iam::${ACCOUNT}:user/${principal}`, account: ACCOUNT },
        }),
      authorize: () => ({ principal: "carol" }),
    });
    const provider = remoteProvider({
      endpoint: "http://app.test",
      fetch: async (input, init) => handler(new Request(input, init)),
    });
    const context = { project: "apollo" };
    const dataKey = await generateEnvelopeDataKey([provider], { context, suite: "XCHACHA20_POLY1305" });
    expect(dataKey.encryptedDataKeys[0]).toMatchObject({ providerId: "aws-kms", keyId: keyArn });
    await openEnvelopeDataKey(dataKey.encryptedDataKeys, [provider], { context });

    const events = kms.auditLog!.query({ principal: `arn:aws:iam::${ACCOUNT}:user/carol` });
    expect(events.map((e) => e.eventName)).toEqual(["GenerateDataKey", "Decrypt"]);
    for (const event of events) {
      expect(event.requestParameters).toMatchObject({ encryptionContext: context });
      expect(event.errorCode).toBeUndefined();
    }
  });
});
