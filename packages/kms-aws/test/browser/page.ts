// A test page: awsKmsProvider with the SDK's browser build (fetch handler), behind cachingProvider, encrypting and
// decrypting with @sealkit/cipher through the KMS server, on another origin that lets this page call it (CORS).

import { KMSClient } from "@aws-sdk/client-kms";
import { decrypt, encrypt } from "@sealkit/cipher";
import { cachingProvider, parseHeader, SealkitError } from "@sealkit/core";
import { awsKmsProvider } from "../../src/index.js";

async function run(): Promise<Record<string, unknown>> {
  const params = new URLSearchParams(location.search);
  const client = new KMSClient({
    endpoint: params.get("endpoint")!,
    region: "us-east-1",
    credentials: { accessKeyId: params.get("id")!, secretAccessKey: params.get("secret")! },
  });
  const keyArn = params.get("key")!;
  const provider = cachingProvider(awsKmsProvider({ client, generatorKeyId: keyArn }));
  const context = { tenant: "browser" };
  const sealed: Uint8Array[] = [];
  for (let i = 0; i < 5; i++) {
    sealed.push(
      await encrypt(new TextEncoder().encode(`sealed in Chromium ${i}`), { providers: [provider], context }),
    );
  }
  const texts: string[] = [];
  for (const envelope of sealed) {
    texts.push(new TextDecoder().decode((await decrypt(envelope, { providers: [provider] })).plaintext));
  }
  const stranger = awsKmsProvider({
    client,
    generatorKeyId: keyArn.replace(/key\/.*$/, "key/00000000-0000-4000-8000-000000000000"),
  });
  let refused = "";
  try {
    await decrypt(sealed[0]!, { providers: [stranger] });
  } catch (error) {
    refused = SealkitError.isInstance(error) ? error.code : String(error);
  }
  return { texts, keyIds: parseHeader(sealed[0]!).encryptedDataKeys.map((k) => k.keyId), refused };
}

(globalThis as { result?: Promise<unknown> }).result = run().catch((error: Error & { code?: string }) => ({
  error: `${error.name} ${error.code ?? ""} ${error.message}`,
}));
