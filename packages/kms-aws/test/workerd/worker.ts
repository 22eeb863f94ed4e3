// A test worker: awsKmsProvider with the SDK's fetch handler, behind cachingProvider, encrypting and decrypting with
// @sealkit/cipher (its `workerd` build) through the KMS server named in the bindings. Answers with what it saw.

import { KMSClient } from "@aws-sdk/client-kms";
import { decrypt, encrypt } from "@sealkit/cipher";
import { cachingProvider, parseHeader, SealkitError } from "@sealkit/core";
import { awsKmsProvider } from "../../src/index.js";

interface Env {
  readonly KMS_URL: string;
  readonly KEY_ARN: string;
  readonly ACCESS_KEY_ID: string;
  readonly SECRET_ACCESS_KEY: string;
}

export default {
  async fetch(request: Request, env: Env): Promise<Response> {
    // Clients and providers are made per request here only because workerd forbids randomness in global scope.
    const client = new KMSClient({
      endpoint: env.KMS_URL,
      region: "us-east-1",
      credentials: { accessKeyId: env.ACCESS_KEY_ID, secretAccessKey: env.SECRET_ACCESS_KEY },
    });
    try {
      const provider = cachingProvider(awsKmsProvider({ client, generatorKeyId: env.KEY_ARN }), {
        maxAge: 60_000,
      });
      const context = { tenant: "edge" };
      const body = new TextEncoder().encode(
        new URL(request.url).searchParams.get("text") ?? "hello from workerd",
      );
      const sealed: Uint8Array[] = [];
      for (let i = 0; i < 5; i++) sealed.push(await encrypt(body, { providers: [provider], context }));
      const texts: string[] = [];
      for (const envelope of sealed) {
        texts.push(new TextDecoder().decode((await decrypt(envelope, { providers: [provider] })).plaintext));
      }
      // A provider that does not list the key must refuse (strict mode), with a Sealkit code.
      const stranger = awsKmsProvider({
        client,
        generatorKeyId: env.KEY_ARN.replace(/key\/.*$/, "key/00000000-0000-4000-8000-000000000000"),
      });
      let refused = "";
      try {
        await decrypt(sealed[0]!, { providers: [stranger] });
      } catch (error) {
        refused = SealkitError.isInstance(error) ? error.code : String(error);
      }
      return Response.json({
        texts,
        keyIds: parseHeader(sealed[0]!).encryptedDataKeys.map((k) => k.keyId),
        refused,
        hasProcess: typeof (globalThis as { process?: unknown }).process !== "undefined",
      });
    } catch (error) {
      const e = error as Error & { code?: string };
      return Response.json({ error: `${e.name} ${e.code ?? ""} ${e.message}` }, { status: 500 });
    } finally {
      client.destroy();
    }
  },
};
