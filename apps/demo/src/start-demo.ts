// Starts the whole demo in one process: the embedded local KMS and its AWS-protocol endpoint, the web app with
// the data-key handler, and the edge worker in workerd. main.ts runs it; the end-to-end test starts it too.

import { randomBytes } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { KMSClient } from "@aws-sdk/client-kms";
import { serve } from "@hono/node-server";
import { type KeyProvider, readAtMost } from "@sealkit/core";
import { awsKmsProvider } from "@sealkit/kms-aws";
import { createKmsServer, LocalKms, localKmsProvider } from "@sealkit/kms-local";
import { createDataKeyHandler, type DataKeyEvent } from "@sealkit/remote";
import { Hono } from "hono";
import { startEdge } from "./edge/start-edge.js";
import { FileStore, MAX_CHUNK_BYTES, StoreError } from "./file-store.js";
import { signEdgePath, signEdgeUpload } from "./signed-urls.js";
import { ACCOUNT, type DemoUser, SESSION_COOKIE, Sessions } from "./users.js";

const here = dirname(fileURLToPath(import.meta.url));
const REGION = "us-east-1";
const ADMIN = { principal: `arn:aws:iam::${ACCOUNT}:root`, account: ACCOUNT };
const KEY_ALIAS = "alias/demo-files";

export type ProviderKind = "local" | "aws" | "pkcs11";

export interface DemoOptions {
  /** Where keys, audit and envelopes live; created if missing. */
  readonly dataDir: string;
  /** Ports of the web app, the KMS endpoint and the edge worker; 0 picks free ones. */
  readonly ports?: { web?: number; kms?: number; edge?: number };
  /** Which provider issues the page's data keys: the embedded KMS in process (default), the KMS server through
   * @sealkit/kms-aws, or a SoftHSM2 token through @sealkit/kms-cloudhsm. */
  readonly provider?: ProviderKind;
}

export interface RunningDemo {
  readonly url: string;
  readonly edgeUrl: string;
  readonly kmsUrl: string;
  readonly keyArn: string;
  readonly provider: ProviderKind;
  close(): Promise<void>;
}

interface Secrets {
  readonly edgeSecret: string;
  readonly signingSecret: string;
  readonly credentials: { accessKeyId: string; secretAccessKey: string; principal: string }[];
}

/** Secrets shared between the demo's parts, created once and kept in the data dir (0600). */
async function loadSecrets(dataDir: string): Promise<Secrets> {
  const path = join(dataDir, "demo-secrets.json");
  try {
    return JSON.parse(await readFile(path, "utf8"));
  } catch {
    const key = () => randomBytes(24).toString("base64url");
    const secrets: Secrets = {
      edgeSecret: key(),
      signingSecret: key(),
      credentials: ["demo-app", "edge-worker"].map((name) => ({
        accessKeyId: `AKIA${randomBytes(8).toString("hex").toUpperCase()}`,
        secretAccessKey: key(),
        principal: `arn:aws:iam::${ACCOUNT}:user/${name}`,
      })),
    };
    await writeFile(path, JSON.stringify(secrets, null, 2), { mode: 0o600 });
    // The KMS endpoint's credentials file, for the AWS CLI and SDKs (see the README).
    await writeFile(
      join(dataDir, "credentials.json"),
      JSON.stringify({ credentials: secrets.credentials }, null, 2),
      {
        mode: 0o600,
      },
    );
    return secrets;
  }
}

/** The demo's customer managed key, created with its alias on first start. */
async function ensureKey(kms: LocalKms): Promise<string> {
  const aliases = await kms.listAliases(ADMIN, {});
  const existing = aliases.Aliases?.find((a: { AliasName?: string }) => a.AliasName === KEY_ALIAS);
  if (existing?.TargetKeyId) {
    return (await kms.describeKey(ADMIN, { KeyId: existing.TargetKeyId })).KeyMetadata!.Arn!;
  }
  const created = await kms.createKey(ADMIN, {
    Description: "Sealkit demo: files uploaded from the browser",
  });
  await kms.createAlias(ADMIN, { AliasName: KEY_ALIAS, TargetKeyId: created.KeyMetadata!.KeyId! });
  await kms.enableKeyRotation(ADMIN, { KeyId: created.KeyMetadata!.KeyId!, RotationPeriodInDays: 365 });
  return created.KeyMetadata!.Arn!;
}

/** How long close() lets the web app's requests in flight finish before it closes their connections. */
const CLOSE_GRACE_MS = 5_000;

/** Largest JSON body (login, upload start). */
const MAX_JSON_BYTES = 64 * 1024;

/**
 * The request's JSON object body. Malformed JSON is a 400 that does not repeat the body: the syntax error would
 * quote the text around the mistake (a password, at the login), and it used to reach the log with a 500.
 * @throws {StoreError} 400 when the body is not a JSON object, 413 when it is over 64 KiB
 */
async function jsonObject(request: Request): Promise<Record<string, unknown>> {
  const text = new TextDecoder().decode(await readBody(request, MAX_JSON_BYTES));
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    value = undefined;
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new StoreError(400, "expected a JSON object");
  }
  return value as Record<string, unknown>;
}

/**
 * Reads a request body of at most `max` bytes: refused from its Content-Length before any of it is read, or as soon
 * as a streamed body passes the limit (arrayBuffer() buffered a body of any size, and only then was it refused).
 * @throws {StoreError} 413 when the body is larger than `max`
 */
async function readBody(request: Request, max: number): Promise<Uint8Array> {
  if (Number(request.headers.get("content-length") ?? 0) > max) throw new StoreError(413, "body too large");
  if (request.body === null) return new Uint8Array(0);
  const body = await readAtMost(request.body, max);
  if (body === undefined) throw new StoreError(413, "body too large");
  return body;
}

/** The audit view's `limit`: 1 to 1000 (default 100). */
function auditLimit(text: string | undefined): number {
  if (text === undefined) return 100;
  const limit = Number(text);
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000) {
    throw new StoreError(400, "limit expected an integer from 1 to 1000");
  }
  return limit;
}

function tokenOf(request: Request): string | undefined {
  return new RegExp(`(?:^|;\\s*)${SESSION_COOKIE}=([0-9a-f]+)`).exec(
    request.headers.get("cookie") ?? "",
  )?.[1];
}

/** Starts everything; resolves once every part listens. */
export async function startDemo(options: DemoOptions): Promise<RunningDemo> {
  const { dataDir, ports = {}, provider: kind = "local" } = options;
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const secrets = await loadSecrets(dataDir);
  const kms = await LocalKms.open({ dataDir: join(dataDir, "kms"), region: REGION, account: ACCOUNT });
  // What is open so far, closed in this order by close(), or at once when a later part fails to start (a port in
  // use): the KMS, its server and workerd must not outlive a failed start.
  const closers: (() => Promise<void>)[] = [() => kms.close()];
  try {
    return await startParts(dataDir, kms, closers, secrets, ports, kind);
  } catch (error) {
    for (const close of closers) await close().catch(() => {});
    throw error;
  }
}

/**
 * Throws Node's own EADDRINUSE error (with its `port`) when `port` is taken. Miniflare let workerd find out
 * instead, which printed a fatal trace and an error that suggested a `--port` option the demo does not have.
 */
async function checkPortFree(port: number): Promise<void> {
  if (port === 0) return;
  const probe = createServer();
  await new Promise<void>((resolve, reject) => {
    probe.once("error", reject);
    probe.listen(port, "127.0.0.1", () => resolve());
  });
  await new Promise<void>((resolve) => probe.close(() => resolve()));
}

async function startParts(
  dataDir: string,
  kms: LocalKms,
  closers: (() => Promise<void>)[],
  secrets: Secrets,
  ports: NonNullable<DemoOptions["ports"]>,
  kind: ProviderKind,
): Promise<RunningDemo> {
  const keyArn = await ensureKey(kms);

  const kmsServer = createKmsServer({ kms, credentials: secrets.credentials, region: REGION });
  // The server's close() closes the KMS too.
  closers.splice(0, closers.length, () => kmsServer.close());
  await kmsServer.listen(ports.kms ?? 0, "127.0.0.1");

  const callerFor = (user: DemoUser) => ({
    principal: user.principal,
    account: ACCOUNT,
    viaService: "sealkit-demo",
  });
  let providerFor: (user: DemoUser) => KeyProvider;
  if (kind === "aws") {
    const app = secrets.credentials[0]!;
    const client = new KMSClient({
      endpoint: kmsServer.url,
      region: REGION,
      credentials: { accessKeyId: app.accessKeyId, secretAccessKey: app.secretAccessKey },
    });
    const shared = awsKmsProvider({ generatorKeyId: keyArn, client });
    providerFor = () => shared;
  } else if (kind === "pkcs11") {
    const { demoHsmProvider } = await import("./hsm.js");
    const hsm = await demoHsmProvider(join(dataDir, "hsm"));
    closers.push(hsm.close);
    providerFor = () => hsm.provider;
  } else {
    providerFor = (user) => localKmsProvider({ kms, keyId: keyArn, caller: callerFor(user) });
  }

  const sessions = new Sessions();
  const store = await FileStore.open(join(dataDir, "files"));
  // The application's own record of data-key requests: it shows refusals the KMS never sees (a user asking for
  // another tenant's context is stopped by `authorize` before any KMS call).
  const keyRequests: DataKeyEvent[] = [];
  const keys = createDataKeyHandler({
    basePath: "/api/keys",
    onEvent: (event) => {
      keyRequests.push(event);
      if (keyRequests.length > 200) keyRequests.shift();
    },
    authorize: (request) => {
      const user = sessions.userOf(request);
      return user && { principal: user.name, requireContext: { tenant: user.tenant } };
    },
    provider: ({ principal }) => providerFor(sessions.byName(principal)!),
  });

  let edgeUrl = "";
  const app = new Hono();
  const needUser = (request: Request): DemoUser => {
    const user = sessions.userOf(request);
    if (!user) throw new StoreError(403, "log in first");
    return user;
  };
  const isEdge = (request: Request) => request.headers.get("x-edge-secret") === secrets.edgeSecret;

  app.onError((error, c) => {
    if (error instanceof StoreError) return c.json({ error: error.message }, error.status);
    console.error("demo: request failed:", (error as Error).message);
    return c.json({ error: "internal error" }, 500);
  });

  app.post("/api/login", async (c) => {
    const { name, password } = await jsonObject(c.req.raw);
    const token = sessions.login(String(name ?? ""), String(password ?? ""));
    if (!token) return c.json({ error: "wrong name or password" }, 401);
    c.header("set-cookie", `${SESSION_COOKIE}=${token}; Path=/; HttpOnly; SameSite=Strict`);
    return c.json({ ok: true });
  });
  app.post("/api/logout", (c) => {
    sessions.logout(tokenOf(c.req.raw));
    c.header("set-cookie", `${SESSION_COOKIE}=; Path=/; Max-Age=0`);
    return c.json({ ok: true });
  });
  app.get("/api/me", (c) => {
    const user = sessions.userOf(c.req.raw);
    return user
      ? c.json({ name: user.name, tenant: user.tenant, provider: kind, keyArn })
      : c.json({ error: "log in first" }, 401);
  });

  app.all("/api/keys/*", (c) => keys(c.req.raw));

  app.post("/api/uploads", async (c) => {
    const user = needUser(c.req.raw);
    const { name, contentType } = await jsonObject(c.req.raw);
    const id = await store.begin({
      name: String(name ?? "file").slice(0, 200),
      contentType: String(contentType || "application/octet-stream").slice(0, 100),
      owner: user.name,
      tenant: user.tenant,
    });
    return c.json({ id, maxChunkBytes: MAX_CHUNK_BYTES });
  });
  app.put("/api/uploads/:id", async (c) => {
    const user = needUser(c.req.raw);
    const id = c.req.param("id");
    const offset = Number(c.req.query("offset"));
    // Refuse a chunk that cannot be appended before reading its body.
    store.checkAppend(id, user.name, offset);
    const chunk = await readBody(c.req.raw, MAX_CHUNK_BYTES);
    const size = await store.append(id, user.name, offset, chunk);
    return c.json({ size });
  });
  app.post("/api/uploads/:id/complete", async (c) => {
    const user = needUser(c.req.raw);
    return c.json(await store.complete(c.req.param("id"), user.name));
  });
  app.get("/api/files", async (c) => {
    needUser(c.req.raw);
    return c.json(await store.list());
  });
  // Any signed-in user may fetch any envelope: it is ciphertext. Opening it needs the key service, which refuses
  // users of other tenants; that refusal is what the demo shows.
  const sendEnvelope = async (request: Request, id: string) => {
    const range = /^bytes=(\d+)-(\d*)$/.exec(request.headers.get("range") ?? "");
    const meta = await store.describe(id);
    const size = meta.envelopeBytes;
    const start = range ? Number(range[1]) : 0;
    const end = range && range[2] ? Math.min(Number(range[2]), size - 1) : size - 1;
    if (range && start > end)
      return new Response(null, { status: 416, headers: { "content-range": `bytes */${size}` } });
    const { body } = await store.read(id, range ? { start, end } : undefined);
    return new Response(body, {
      status: range ? 206 : 200,
      headers: {
        "content-type": "application/octet-stream",
        "content-length": String(end - start + 1),
        "accept-ranges": "bytes",
        "x-content-type": meta.contentType,
        ...(range ? { "content-range": `bytes ${start}-${end}/${size}` } : {}),
      },
    });
  };
  app.get("/api/files/:id/envelope", async (c) => {
    needUser(c.req.raw);
    return sendEnvelope(c.req.raw, c.req.param("id"));
  });
  app.get("/api/files/:id/edge-link", async (c) => {
    const user = needUser(c.req.raw);
    const meta = await store.describe(c.req.param("id"));
    if (meta.tenant !== user.tenant) throw new StoreError(403, `this file belongs to tenant ${meta.tenant}`);
    return c.json({ url: `${edgeUrl}${signEdgePath(secrets.signingSecret, meta.id)}` });
  });
  app.get("/api/edge-upload-link", (c) => {
    const user = needUser(c.req.raw);
    const name = String(c.req.query("name") ?? "upload.bin").slice(0, 200);
    return c.json({ url: `${edgeUrl}${signEdgeUpload(secrets.signingSecret, user.tenant, name)}` });
  });

  app.get("/api/admin/keys", async (c) => {
    needUser(c.req.raw);
    const [{ Keys = [] }, { Aliases = [] }] = await Promise.all([
      kms.listKeys(ADMIN, {}),
      kms.listAliases(ADMIN, {}),
    ]);
    const keysOut = await Promise.all(
      Keys.map(async ({ KeyId }: { KeyId: string }) => {
        const { KeyMetadata: m } = await kms.describeKey(ADMIN, { KeyId });
        const rotation =
          m.KeyManager === "CUSTOMER" ? await kms.getKeyRotationStatus(ADMIN, { KeyId }) : undefined;
        return {
          keyId: m.KeyId,
          arn: m.Arn,
          description: m.Description,
          state: m.KeyState,
          manager: m.KeyManager,
          created: m.CreationDate,
          aliases: Aliases.filter((a: { TargetKeyId?: string }) => a.TargetKeyId === m.KeyId).map(
            (a: { AliasName: string }) => a.AliasName,
          ),
          rotation: rotation && {
            enabled: rotation.KeyRotationEnabled,
            periodDays: rotation.RotationPeriodInDays,
            next: rotation.NextRotationDate,
          },
        };
      }),
    );
    return c.json(keysOut);
  });
  app.get("/api/admin/key-requests", (c) => {
    needUser(c.req.raw);
    return c.json([...keyRequests].reverse());
  });
  app.get("/api/admin/audit", async (c) => {
    needUser(c.req.raw);
    const log = kms.auditLog;
    if (!log) return c.json({ error: "the audit log is off" }, 503);
    const events = log.query({ limit: auditLimit(c.req.query("limit")) });
    const verification = await log.verify();
    return c.json({
      verification: { ok: verification.ok, events: verification.events, problems: verification.problems },
      events: events.slice(-100).reverse(),
    });
  });

  app.get("/internal/envelopes/:id", (c) => {
    if (!isEdge(c.req.raw)) throw new StoreError(403, "edge only");
    return sendEnvelope(c.req.raw, c.req.param("id"));
  });
  app.put("/internal/envelopes", async (c) => {
    if (!isEdge(c.req.raw)) throw new StoreError(403, "edge only");
    const tenant = c.req.query("tenant") ?? "";
    const stored = await store.putStream(
      {
        name: c.req.query("name") ?? "upload.bin",
        contentType: c.req.query("type") ?? "",
        owner: "edge",
        tenant,
      },
      c.req.raw.body!,
    );
    return c.json(stored);
  });

  const publicDir = join(here, "public");
  const statics: Record<string, string> = {
    "/": "index.html",
    "/admin": "index.html",
    "/app.js": "app.js",
    "/styles.css": "styles.css",
  };
  const types: Record<string, string> = {
    html: "text/html; charset=utf-8",
    js: "text/javascript",
    css: "text/css",
  };
  app.get("*", async (c) => {
    const file = statics[c.req.path];
    if (!file) return c.text("not found", 404);
    return new Response(await readFile(join(publicDir, file)), {
      headers: { "content-type": types[file.split(".").pop()!]!, "cache-control": "no-cache" },
    });
  });

  const web = serve({ fetch: app.fetch, port: ports.web ?? 0, hostname: "127.0.0.1" });
  closers.unshift(
    () =>
      new Promise<void>((resolve) => {
        // close() waits for every request in flight, and one whose client stalled mid-headers or mid-body held
        // the stop for minutes (until Node's request timeout): after a grace period, its connection is closed.
        const timer = setTimeout(() => {
          if ("closeAllConnections" in web) web.closeAllConnections();
        }, CLOSE_GRACE_MS);
        web.close(() => {
          clearTimeout(timer);
          resolve();
        });
      }),
  );
  // A port in use is an 'error' event: unhandled, it crashed the process with a stack trace.
  await new Promise<void>((resolve, reject) => {
    web.once("error", reject);
    web.once("listening", () => {
      web.off("error", reject);
      resolve();
    });
  });
  const url = `http://127.0.0.1:${(web.address() as { port: number }).port}`;

  const edgeCredential = secrets.credentials[1]!;
  await checkPortFree(ports.edge ?? 0);
  const edge = await startEdge(
    {
      ORIGIN: url,
      EDGE_SECRET: secrets.edgeSecret,
      SIGNING_SECRET: secrets.signingSecret,
      KMS_ENDPOINT: kmsServer.url,
      KMS_REGION: REGION,
      KMS_ACCESS_KEY_ID: edgeCredential.accessKeyId,
      KMS_SECRET_ACCESS_KEY: edgeCredential.secretAccessKey,
      KEY_ARN: keyArn,
    },
    ports.edge ?? 0,
  );
  edgeUrl = edge.url;
  closers.unshift(edge.close);

  return {
    url,
    edgeUrl,
    kmsUrl: kmsServer.url,
    keyArn,
    provider: kind,
    async close() {
      for (const close of closers) await close().catch(() => {});
    },
  };
}
