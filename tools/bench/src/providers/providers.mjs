// What each key provider costs a Node service, measured side by side in one run: 1 KiB envelopes encrypted, then
// decrypted, one after another (a request handler's pattern), through every provider Sealkit ships, uncached and
// behind core's cachingProvider, against the raw provider (a key in memory: the floor).
//
// Every provider is the real one: the local KMS on SQLite with its audit log, the same KMS behind its HTTP server
// in another process (SigV4, reached through @sealkit/kms-aws and the AWS SDK), a SoftHSM2 token over PKCS#11, and
// @sealkit/remote's handler on a node:http server (in this process, so its cost is counted in full).

import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { median } from "../cipher/measure.mjs";
import { KMS_SERVER_BIN, startKmsServer, stopProcess } from "../kms/server-process.mjs";

const REPO = fileURLToPath(new URL("../../../../", import.meta.url));
const SOFTHSM_LIBRARY = "/usr/lib/softhsm/libsofthsm2.so";
const REGION = "us-east-1";
const CALLER = { principal: "arn:aws:iam::111122223333:user/bench", account: "111122223333" };
const CREDENTIAL = {
  accessKeyId: "AKIABENCHPROVIDERS01",
  secretAccessKey: "bench-providers-secret-00000000000000000",
  principal: CALLER.principal,
};
const CONTEXT = { purpose: "bench-providers" };
/** Limits well above one run, so that a cached row shows the cache at its best: one data key for the whole run. */
const CACHE_LIMITS = { maxAge: 10 * 60_000, maxMessages: 1_000_000, maxBytes: 2 ** 40, capacity: 16 };

/** A workspace package's build (dist/), or a note that it is not built yet (`pnpm build`). */
async function importBuilt(name) {
  try {
    return await import(name);
  } catch (error) {
    if (error?.code !== "ERR_MODULE_NOT_FOUND") throw error;
    throw Object.assign(new Error(`${name} is not built (${error.message.split("\n")[0]})`), {
      notBuilt: true,
    });
  }
}

/**
 * Counts the calls that reach a provider: wrapped under the cache, it shows the KMS, HSM or server calls the cache
 * saved.
 */
export function countCalls(provider) {
  const calls = { generateDataKey: 0, encryptDataKey: 0, decryptDataKey: 0 };
  const counted = {
    providerId: provider.providerId,
    canDecrypt: (edk) => provider.canDecrypt(edk),
    generateDataKey: (request) => {
      calls.generateDataKey++;
      return provider.generateDataKey(request);
    },
    encryptDataKey: (request) => {
      calls.encryptDataKey++;
      return provider.encryptDataKey(request);
    },
    decryptDataKey: (request) => {
      calls.decryptDataKey++;
      return provider.decryptDataKey(request);
    },
  };
  return { provider: counted, calls };
}

/** A fresh SoftHSM2 token in `dir` (SOFTHSM2_CONF must be set before the library loads: once per process). */
function softHsmToken(dir) {
  const tokendir = join(dir, "tokens");
  mkdirSync(tokendir);
  const conf = join(dir, "softhsm2.conf");
  writeFileSync(conf, `directories.tokendir = ${tokendir}\nobjectstore.backend = file\nlog.level = ERROR\n`);
  process.env.SOFTHSM2_CONF = conf;
  const token = { label: "bench", pin: "1234" };
  const init = spawnSync(
    "softhsm2-util",
    ["--init-token", "--free", "--label", token.label, "--pin", token.pin, "--so-pin", "5678"],
    { encoding: "utf8" },
  );
  if (init.status !== 0) throw new Error(`softhsm2-util --init-token failed: ${init.stderr}`);
  return { library: SOFTHSM_LIBRARY, tokenLabel: token.label, pin: token.pin, profile: "softhsm" };
}

/** Serves a fetch handler ((Request) => Promise<Response>) on 127.0.0.1 with node:http. */
function serveFetchHandler(handler) {
  const server = createServer(async (req, res) => {
    const chunks = [];
    for await (const chunk of req) chunks.push(chunk);
    const body = chunks.length > 0 ? Buffer.concat(chunks) : undefined;
    const headers = new Headers();
    for (const [name, value] of Object.entries(req.headers)) headers.set(name, String(value));
    const response = await handler(
      new Request(`http://127.0.0.1${req.url}`, { method: req.method, headers, body }),
    );
    res.writeHead(response.status, Object.fromEntries(response.headers));
    res.end(Buffer.from(await response.arrayBuffer()));
  });
  return new Promise((resolve) => {
    server.listen(0, "127.0.0.1", () => {
      resolve({ url: `http://127.0.0.1:${server.address().port}`, close: () => server.close() });
    });
  });
}

/**
 * The providers, each `{ id, name, where, open() }`; `open` resolves to `{ provider, close }` or throws
 * `{ skip: reason }` when its real part is missing here (SoftHSM2 not installed).
 */
function providerCases({ core, localKms, dir }) {
  return [
    {
      id: "raw",
      name: "raw key in memory (core rawKeyProvider)",
      open: async () => ({
        provider: core.rawKeyProvider({ keyId: "bench", key: crypto.getRandomValues(new Uint8Array(32)) }),
      }),
    },
    {
      id: "local",
      name: "local KMS in process (kms-local, SQLite, audit on)",
      open: async () => {
        const { LocalKms, localKmsProvider } = localKms;
        const kms = await LocalKms.open({ dataDir: join(dir, "local") });
        const { KeyMetadata } = await kms.createKey(CALLER, { Description: "bench" });
        return {
          provider: localKmsProvider({ kms, keyId: KeyMetadata.KeyId, caller: CALLER }),
          close: () => kms.close(),
        };
      },
    },
    {
      id: "server",
      name: "local KMS server over HTTP (kms-aws + AWS SDK, SigV4)",
      open: async () => {
        const kmsAws = await importBuilt("@sealkit/kms-aws");
        const sdk = createRequire(join(REPO, "packages/kms-aws/package.json"))("@aws-sdk/client-kms");
        if (!existsSync(KMS_SERVER_BIN)) throw { skip: "packages/kms-local is not built (dist/bin.js)" };
        mkdirSync(join(dir, "server"));
        const { proc, url } = await startKmsServer(join(dir, "server"), {
          credential: CREDENTIAL,
          alias: "alias/bench",
          region: REGION,
        });
        const credentials = {
          accessKeyId: CREDENTIAL.accessKeyId,
          secretAccessKey: CREDENTIAL.secretAccessKey,
        };
        const client = new sdk.KMSClient({ endpoint: url, region: REGION, credentials });
        return {
          provider: kmsAws.awsKmsProvider({ generatorKeyId: "alias/bench", client }),
          close: async () => {
            client.destroy();
            await stopProcess(proc);
          },
        };
      },
    },
    {
      id: "hsm",
      name: "SoftHSM2 token over PKCS#11 (kms-cloudhsm)",
      open: async () => {
        if (!existsSync(SOFTHSM_LIBRARY) || spawnSync("softhsm2-util", ["--version"]).status !== 0)
          throw { skip: "SoftHSM2 is not installed (apt-get install softhsm2)" };
        const cloudhsm = await importBuilt("@sealkit/kms-cloudhsm");
        mkdirSync(join(dir, "hsm"));
        const token = softHsmToken(join(dir, "hsm"));
        await cloudhsm.createAesKey(token, { label: "bench" });
        const provider = cloudhsm.pkcs11Provider({ ...token, keyLabel: "bench" });
        return { provider, close: () => provider.close() };
      },
    },
    {
      id: "remote",
      name: "remote data-key endpoint over HTTP (remote, local KMS behind it)",
      open: async () => {
        const remote = await importBuilt("@sealkit/remote");
        const { LocalKms, localKmsProvider } = localKms;
        const kms = await LocalKms.open({ dataDir: join(dir, "remote") });
        const { KeyMetadata } = await kms.createKey(CALLER, { Description: "bench" });
        const handler = remote.createDataKeyHandler({
          provider: localKmsProvider({ kms, keyId: KeyMetadata.KeyId, caller: CALLER }),
          basePath: "/keys",
          // Off here, to measure the provider: by default the handler allows each principal 20 calls/s.
          rateLimit: false,
          authorize: (request) =>
            request.headers.get("authorization") === "Bearer bench" ? { principal: "bench" } : null,
        });
        const server = await serveFetchHandler(handler);
        return {
          provider: remote.remoteProvider({
            endpoint: `${server.url}/keys`,
            headers: { authorization: "Bearer bench" },
          }),
          close: async () => {
            server.close();
            await kms.close();
          },
        };
      },
    },
  ];
}

/** Encrypts every message, then decrypts every envelope, `rounds` times; the median rate of each, in messages/s. */
async function measure({ cipher, provider, calls, messages, rounds }) {
  const encryptAll = async () => {
    const out = [];
    for (const m of messages) out.push(await cipher.encrypt(m, { providers: [provider], context: CONTEXT }));
    return out;
  };
  const decryptAll = async (envelopes) => {
    const out = [];
    for (const e of envelopes) {
      out.push((await cipher.decrypt(e, { providers: [provider], expectContext: CONTEXT })).plaintext);
    }
    return out;
  };
  // Warm-up, and the correctness check: every message comes back.
  const opened = await decryptAll(await encryptAll());
  for (let i = 0; i < messages.length; i++) {
    if (!sameBytes(opened[i], messages[i])) throw correctness(`message ${i} did not round-trip`);
  }
  const enc = [];
  const dec = [];
  let perMessage;
  for (let r = 0; r < rounds; r++) {
    const before = { ...calls };
    let t = performance.now();
    const envelopes = await encryptAll();
    enc.push(performance.now() - t);
    const between = { ...calls };
    t = performance.now();
    await decryptAll(envelopes);
    dec.push(performance.now() - t);
    if (r === 0) {
      const n = messages.length;
      perMessage = {
        enc:
          (between.generateDataKey +
            between.encryptDataKey -
            before.generateDataKey -
            before.encryptDataKey) /
          n,
        dec: (calls.decryptDataKey - between.decryptDataKey) / n,
      };
    }
  }
  const perSecond = (ms) => messages.length / (median(ms) / 1000);
  return { enc: perSecond(enc), dec: perSecond(dec), calls: perMessage };
}

function sameBytes(a, b) {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

function correctness(message) {
  return Object.assign(new Error(`correctness check failed for the providers benchmark: ${message}`), {
    correctness: true,
  });
}

/**
 * Runs every provider, uncached and cached, in one process.
 * @returns {Promise<{ rows: object[], skipped: { name: string, reason: string }[] }>}
 * @throws {Error} with `correctness: true` when a message does not round-trip
 */
export async function runProvidersBench({ quick = false, count, rounds, only, log = () => {} } = {}) {
  const core = await importBuilt("@sealkit/core");
  const cipher = await importBuilt("@sealkit/cipher");
  const localKms = await importBuilt("@sealkit/kms-local");
  const n = count ?? (quick ? 64 : 400);
  const r = rounds ?? (quick ? 1 : 3);
  const messages = Array.from({ length: n }, () => crypto.getRandomValues(new Uint8Array(1024)));
  const dir = mkdtempSync(join(tmpdir(), "sealkit-bench-providers-"));
  const rows = [];
  const skipped = [];
  try {
    for (const c of providerCases({ core, localKms, dir })) {
      if (only && !only.includes(c.id)) continue;
      let opened;
      try {
        opened = await c.open();
      } catch (error) {
        if (error?.skip || error?.notBuilt) {
          skipped.push({ name: c.name, reason: error.skip ?? error.message });
          continue;
        }
        throw error;
      }
      try {
        for (const cached of [false, true]) {
          const { provider, calls } = countCalls(opened.provider);
          const measured = cached ? core.cachingProvider(provider, CACHE_LIMITS) : provider;
          log(`  ${c.name}${cached ? ", cached" : ""}`);
          const result = await measure({ cipher, provider: measured, calls, messages, rounds: r });
          rows.push({ id: c.id, name: c.name, cached, ...result });
        }
      } finally {
        await opened.close?.();
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return { rows, skipped, messages: n, rounds: r };
}

/** The results as a markdown table, each rate also as a ratio to the raw provider's. */
export function providersMarkdown(result, { markdownTable }) {
  const raw = result.rows.find((row) => row.id === "raw" && !row.cached);
  const ratio = (v, base) => (base ? `${(v / base).toFixed(v / base < 0.1 ? 3 : 2)}x` : "n/a");
  const ms = (perSecond) => (1000 / perSecond).toFixed(perSecond > 1000 ? 3 : 2);
  const calls = (v) => (Number.isInteger(v) ? String(v) : v.toFixed(3));
  const rows = result.rows.map((row) => [
    `${row.name}${row.cached ? " + cachingProvider" : ""}`,
    Math.round(row.enc).toLocaleString("en-US"),
    Math.round(row.dec).toLocaleString("en-US"),
    ms(row.enc),
    ms(row.dec),
    ratio(row.enc, raw?.enc),
    ratio(row.dec, raw?.dec),
    `${calls(row.calls.enc)} / ${calls(row.calls.dec)}`,
  ]);
  return markdownTable(
    [
      "provider (1 KiB envelopes, one after another)",
      "enc msg/s",
      "dec msg/s",
      "enc ms/msg",
      "dec ms/msg",
      "enc vs raw",
      "dec vs raw",
      "provider calls per msg (enc / dec)",
    ],
    rows,
  );
}
