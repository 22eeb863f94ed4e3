// The kms-aws benchmark of issue 6: 1 KiB messages encrypted and decrypted through @sealkit/kms-aws against the
// local KMS server (packages/kms-local, over HTTP with SigV4), uncached and behind core's cachingProvider, beside the
// AWS Encryption SDK with its KMS keyring (default configuration) and its caching materials manager.

import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { median } from "../cipher/measure.mjs";
import { KMS_SERVER_BIN, startKmsServer, stopProcess } from "../kms/server-process.mjs";

const REPO = fileURLToPath(new URL("../../../../", import.meta.url));
const KMS_AWS_DIST = join(REPO, "packages/kms-aws/dist/index.js");

/**
 * @sealkit/kms-aws and @aws-sdk/client-kms are not dependencies of the bench package: load the built provider by
 * path, and the SDK as packages/kms-aws resolves it (Node loads its CommonJS build for `import` too), so the
 * provider and our client share one copy.
 */
async function importKmsAws() {
  const sdk = createRequire(join(REPO, "packages/kms-aws/package.json"))("@aws-sdk/client-kms");
  const kmsAws = await import(pathToFileURL(KMS_AWS_DIST).href);
  return { sdk, kmsAws };
}
const REGION = "us-east-1";
const CREDENTIAL = {
  accessKeyId: "AKIABENCHKMSAWS00001",
  secretAccessKey: "bench-kms-aws-secret-000000000000000000",
  principal: "arn:aws:iam::111122223333:user/bench",
};
const CONTEXT = { purpose: "bench-kms-aws" };

function correctness(message) {
  const error = new Error(`correctness check failed for the kms-aws benchmark: ${message}`);
  error.correctness = true;
  return error;
}

function sameBytes(a, b) {
  return a.length === b.length && Buffer.from(a.buffer, a.byteOffset, a.length).equals(b);
}

/** The server's request counters by operation (successes only), from its Prometheus endpoint. */
async function kmsCalls(url) {
  const text = await (await fetch(`${url}/metrics`)).text();
  const counts = {};
  for (const m of text.matchAll(/^sealkit_kms_requests_total\{operation="([^"]+)",error=""\} (\d+)/gm)) {
    counts[m[1]] = Number(m[2]);
  }
  return counts;
}

function diff(after, before) {
  const out = {};
  for (const [k, v] of Object.entries(after)) if (v - (before[k] ?? 0) > 0) out[k] = v - (before[k] ?? 0);
  return out;
}

/**
 * Times `fn(message)` over every message, `rounds` times after a warm-up, and returns the median rate, with the KMS
 * calls the server counted during one round.
 */
async function rate(url, messages, rounds, fn) {
  for (const m of messages.slice(0, Math.min(16, messages.length))) await fn(m);
  const times = [];
  let calls;
  for (let r = 0; r < rounds; r++) {
    const before = await kmsCalls(url);
    const t = performance.now();
    for (const m of messages) await fn(m);
    times.push(performance.now() - t);
    if (r === 0) calls = diff(await kmsCalls(url), before);
  }
  const ms = median(times);
  return { messages: messages.length, perSecond: messages.length / (ms / 1000), calls };
}

/**
 * Runs the benchmark. Skips (with a note) when @sealkit/kms-aws or the KMS server is not built.
 * @returns {Promise<{ skipped?: string, rows?: object[], target?: object }>}
 * @throws {Error} with `correctness: true` when a round trip fails
 */
export async function runKmsAwsBench({ quick = false, rounds = quick ? 1 : 3, log = () => {} } = {}) {
  let kmsAws;
  let core;
  let cipher;
  let sdk;
  let esdk;
  if (!existsSync(KMS_AWS_DIST)) return { skipped: "@sealkit/kms-aws is not built (packages/kms-aws/dist)" };
  try {
    ({ sdk, kmsAws } = await importKmsAws());
    core = await import("@sealkit/core");
    cipher = await import("@sealkit/cipher");
    esdk = await import("@aws-crypto/client-node");
  } catch (error) {
    return { skipped: `a package is missing or not built (${error.code ?? error.message})` };
  }
  if (typeof kmsAws.awsKmsProvider !== "function" || typeof core.cachingProvider !== "function") {
    return { skipped: "@sealkit/kms-aws has no awsKmsProvider or @sealkit/core no cachingProvider yet" };
  }
  if (!existsSync(KMS_SERVER_BIN))
    return { skipped: "the KMS server (packages/kms-local/dist/bin.js) is not built" };

  const dir = mkdtempSync(join(tmpdir(), "sealkit-bench-kms-aws-"));
  const { proc, url } = await startKmsServer(dir, {
    credential: CREDENTIAL,
    alias: "alias/bench-kms-aws",
    region: REGION,
  });
  try {
    log(`  KMS server at ${url}`);
    const credentials = { accessKeyId: CREDENTIAL.accessKeyId, secretAccessKey: CREDENTIAL.secretAccessKey };
    const client = new sdk.KMSClient({ endpoint: url, region: REGION, credentials });
    const { KeyMetadata } = await client.send(new sdk.DescribeKeyCommand({ KeyId: "alias/bench-kms-aws" }));
    const keyArn = KeyMetadata.Arn;

    const size = 1024;
    const count = (n) => Math.max(8, Math.round(quick ? n / 8 : n));
    const makeMessages = (n) => Array.from({ length: n }, () => crypto.getRandomValues(new Uint8Array(size)));

    // Sealkit: the provider alone, and behind the caching provider (limits well above one run).
    const provider = kmsAws.awsKmsProvider({ generatorKeyId: "alias/bench-kms-aws", client });
    const cached = core.cachingProvider(provider, {
      maxAge: 10 * 60_000,
      maxMessages: 1_000_000,
      maxBytes: 2 ** 40,
      capacity: 16,
    });
    // The AWS Encryption SDK, default configuration (commitment policy, hence suite with ECDSA P-384), KMS keyring
    // on the same server; and the same keyring behind its caching materials manager.
    const { encrypt: esdkEncrypt, decrypt: esdkDecrypt } = esdk.buildClient(
      esdk.CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT,
    );
    const keyring = new esdk.KmsKeyringNode({
      generatorKeyId: keyArn,
      // One client for every call, as the keyring's default clientProvider (cacheKmsClients) keeps one per region;
      // a bare getClient(...) would build a client, and open a connection, per message.
      clientProvider: esdk.cacheClients(
        esdk.getClient(esdk.KMS, { endpoint: url, region: REGION, credentials }),
      ),
    });
    const cmm = new esdk.NodeCachingMaterialsManager({
      backingMaterials: keyring,
      cache: esdk.getLocalCryptographicMaterialsCache(16),
      maxAge: 10 * 60_000,
      maxMessagesEncrypted: 1_000_000,
      maxBytesEncrypted: 2 ** 40,
    });

    const sealkitCase = (p) => ({
      encrypt: (m) => cipher.encrypt(m, { providers: [p], context: CONTEXT }),
      decrypt: async (e) => (await cipher.decrypt(e, { providers: [p] })).plaintext,
    });
    const esdkCase = (materials) => ({
      encrypt: async (m) => (await esdkEncrypt(materials, m, { encryptionContext: CONTEXT })).result,
      decrypt: async (e) => (await esdkDecrypt(materials, e)).plaintext,
    });
    const cases = [
      { id: "sealkit", name: "Sealkit + kms-aws provider, uncached", n: count(64), ...sealkitCase(provider) },
      {
        id: "sealkit-cached",
        name: "Sealkit + kms-aws provider + cachingProvider",
        n: count(2000),
        ...sealkitCase(cached),
      },
      { id: "esdk", name: "AWS Encryption SDK, KMS keyring (defaults)", n: count(48), ...esdkCase(keyring) },
      {
        id: "esdk-cached",
        name: "AWS Encryption SDK, caching materials manager",
        n: count(200),
        ...esdkCase(cmm),
      },
    ];

    const rows = [];
    for (const c of cases) {
      log(`  ${c.name}: ${c.n} messages of 1 KiB`);
      const messages = makeMessages(c.n);
      // Correctness first: every message round-trips through the same stack.
      const envelopes = [];
      for (const m of messages) envelopes.push(await c.encrypt(m));
      for (let i = 0; i < messages.length; i++) {
        if (!sameBytes(await c.decrypt(envelopes[i]), messages[i]))
          throw correctness(`${c.name}: message ${i}`);
      }
      const enc = await rate(url, messages, rounds, c.encrypt);
      let next = 0;
      const dec = await rate(url, envelopes, rounds, async () =>
        c.decrypt(envelopes[next++ % envelopes.length]),
      );
      rows.push({ id: c.id, name: c.name, enc, dec });
    }
    const find = (id) => rows.find((r) => r.id === id);
    const ratio = find("sealkit-cached").enc.perSecond / find("esdk").enc.perSecond;
    return {
      rows,
      keyArn,
      target: {
        text: "kms-aws: cached 1 KiB encryption vs the AWS Encryption SDK's default configuration (KMS keyring)",
        goal: ">= 20x",
        measured: `${ratio.toFixed(1)}x`,
        met: ratio >= 20,
      },
    };
  } finally {
    await stopProcess(proc);
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The results as Markdown: one row per stack, with the KMS calls the server counted per round. */
export function kmsAwsMarkdown(result, { markdownTable }) {
  const fmt = (n) => Math.round(n).toLocaleString("en-US");
  const calls = (c) =>
    Object.entries(c ?? {})
      .map(([op, n]) => `${op} ${fmt(n)}`)
      .join(", ") || "none";
  const esdk = result.rows.find((r) => r.id === "esdk");
  const rows = result.rows.map((r) => [
    r.name,
    fmt(r.enc.perSecond),
    fmt(r.dec.perSecond),
    `${(r.enc.perSecond / esdk.enc.perSecond).toFixed(1)}x`,
    `${fmt(r.enc.messages)}: ${calls(r.enc.calls)}`,
    `${fmt(r.dec.messages)}: ${calls(r.dec.calls)}`,
  ]);
  return markdownTable(
    [
      "stack (1 KiB messages, local KMS server over HTTP)",
      "enc msg/s",
      "dec msg/s",
      "enc vs AWS SDK default",
      "KMS calls while encrypting",
      "KMS calls while decrypting",
    ],
    rows,
  );
}
