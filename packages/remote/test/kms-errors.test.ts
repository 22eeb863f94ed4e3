// With the local KMS behind the handler, the KMS's refusals reach the page as their Sealkit code and a fixed
// message: KMS messages name the server's own IAM principal, account and key ARNs, which are not the page's to know.
// And a key id the page claims cannot smuggle another key's ciphertext past an authorize hook that decides by key.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generateEnvelopeDataKey, SealkitError } from "@sealkit/core";
import { LocalKms, localKmsProvider } from "@sealkit/kms-local";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDataKeyHandler, type DataKeyEvent, remoteProvider } from "../src/index.js";

const ACCOUNT = "111122223333";
const ROOT = { principal: `arn:aws:iam::${ACCOUNT}:root`, account: ACCOUNT };
let dir: string;
let kms: LocalKms;
let keyArn: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "sealkit-remote-kms-errors-"));
  kms = await LocalKms.open({ dataDir: dir });
  keyArn = (await kms.createKey(ROOT, {})).KeyMetadata!.Arn!;
});

afterAll(async () => {
  await kms?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A page's provider talking to a handler whose KMS caller is `caller`, and the handler's events. */
function pageAndServer(caller: { principal: string; account: string }) {
  const events: DataKeyEvent[] = [];
  const handler = createDataKeyHandler({
    provider: localKmsProvider({ kms, keyId: keyArn, caller }),
    authorize: () => ({ principal: "carol" }),
    onEvent: (event) => events.push(event),
  });
  const page = remoteProvider({
    endpoint: "http://app.test",
    fetch: async (input, init) => handler(new Request(input, init)),
  });
  return { page, events };
}

async function rejection(promise: Promise<unknown>): Promise<SealkitError> {
  const error = await promise.then(
    () => expect.unreachable("expected a rejection"),
    (e: unknown) => e,
  );
  expect(SealkitError.isInstance(error)).toBe(true);
  return error as SealkitError;
}

describe("KMS refusals behind the handler", () => {
  it("answers a KMS AccessDenied as 403 ERR_ACCESS_DENIED without the server's principal or account", async () => {
    // A server role of another account: the key policy does not let it use the key.
    const { page, events } = pageAndServer({
      principal: "arn:aws:iam::444455556666:role/app-server",
      account: "444455556666",
    });
    const error = await rejection(page.generateDataKey({ length: 32, context: { doc: "1" } }));
    expect(error.code).toBe("ERR_ACCESS_DENIED");
    expect(error.message).toMatch(/\(403\)/);
    expect(error.message).not.toMatch(/444455556666|app-server|arn:/);
    // The server's own record keeps what the KMS said.
    expect(events.at(-1)).toMatchObject({
      outcome: "refused",
      status: 403,
      code: "ERR_ACCESS_DENIED",
      providerMessage: expect.stringContaining("arn:aws:iam::444455556666:role/app-server"),
    });
  });

  it("answers a disabled key as 409 ERR_KEY_DISABLED without the key's ARN", async () => {
    const { page } = pageAndServer({ principal: `arn:aws:iam::${ACCOUNT}:user/app`, account: ACCOUNT });
    const context = { doc: "2" };
    const dataKey = await generateEnvelopeDataKey([page], { context, suite: "AES_256_GCM" });
    await kms.disableKey(ROOT, { KeyId: keyArn });
    try {
      const error = await rejection(
        page.decryptDataKey({ encryptedDataKey: dataKey.encryptedDataKeys[0]!, context }),
      );
      expect(error.code).toBe("ERR_KEY_DISABLED");
      expect(error.message).not.toContain(keyArn);
    } finally {
      await kms.enableKey(ROOT, { KeyId: keyArn });
    }
  });
});

describe("key ids the page claims", () => {
  it("cannot pass another key's ciphertext off as that of a key authorize allows", async () => {
    const app = { principal: `arn:aws:iam::${ACCOUNT}:user/app`, account: ACCOUNT };
    const archive = (await kms.createKey(ROOT, {})).KeyMetadata!.Arn!;
    // Data keys are wrapped under both keys; this user may only have keys of the archive key opened.
    const handler = createDataKeyHandler({
      provider: localKmsProvider({ kms, keyId: keyArn, additionalKeyIds: [archive], caller: app }),
      authorize: (_request, { operation, encryptedDataKey }) =>
        operation === "generate" || encryptedDataKey?.keyId === archive ? { principal: "auditor" } : null,
    });
    const page = remoteProvider({
      endpoint: "http://app.test",
      fetch: async (input, init) => handler(new Request(input, init)),
    });
    const context = { doc: "3" };
    const dataKey = await generateEnvelopeDataKey([page], { context, suite: "AES_256_GCM" });
    const [underMain, underArchive] = dataKey.encryptedDataKeys;
    expect([underMain!.keyId, underArchive!.keyId]).toEqual([keyArn, archive]);
    // The archive key's own ciphertext opens; the main key's is refused by authorize.
    const opened = await page.decryptDataKey({ encryptedDataKey: underArchive!, context });
    expect(opened).toEqual(dataKey.plaintext);
    expect((await rejection(page.decryptDataKey({ encryptedDataKey: underMain!, context }))).code).toBe(
      "ERR_ACCESS_DENIED",
    );
    // Relabelled as the archive key, the main key's ciphertext passes authorize but not the KMS, which decrypts
    // under the key id it is given and checks that the ciphertext is that key's.
    const relabelled = { ...underMain!, keyId: archive };
    expect((await rejection(page.decryptDataKey({ encryptedDataKey: relabelled, context }))).code).toBe(
      "ERR_INVALID_CIPHERTEXT",
    );
  });
});

describe("the decrypt endpoint as a KMS Decrypt oracle", () => {
  it("opens only data keys (16 to 64 bytes), not other ciphertexts of the same KMS key", async () => {
    // The server also encrypts its own secrets with KMS Encrypt under the same key, without a context. The decrypt
    // endpoint opened any ciphertext of the key for any authorized caller whose context matched, so a user with no
    // requireContext read back a 96-byte secret through it. A data key is never longer than 64 bytes (generate's
    // limit), so a longer plaintext is not one: refused and wiped. Shorter secrets still open; keep a key for
    // this endpoint alone (README).
    const app = { principal: `arn:aws:iam::${ACCOUNT}:user/app`, account: ACCOUNT };
    const handler = createDataKeyHandler({
      provider: localKmsProvider({ kms, keyId: keyArn, caller: app }),
      authorize: () => ({ principal: "mallory" }),
    });
    const page = remoteProvider({
      endpoint: "http://app.test",
      fetch: async (input, init) => handler(new Request(input, init)),
    });
    const secret = new TextEncoder().encode("database password: correct horse battery staple ".repeat(2));
    expect(secret.length).toBe(96);
    const sealed = await kms.encrypt(app, { KeyId: keyArn, Plaintext: secret });
    const encryptedDataKey = { providerId: "aws-kms", keyId: keyArn, ciphertext: sealed.CiphertextBlob! };
    const error = await rejection(page.decryptDataKey({ encryptedDataKey, context: {} }));
    expect(error.code).toBe("ERR_INVALID_CIPHERTEXT");
    // A data key of the same key still opens.
    const dataKey = await page.generateDataKey({ length: 32, context: {} });
    const opened = await page.decryptDataKey({
      encryptedDataKey: dataKey.encryptedDataKeys[0]!,
      context: {},
    });
    expect(opened).toEqual(dataKey.plaintext);
  });
});
