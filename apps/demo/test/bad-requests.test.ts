// Bad requests a browser (or anyone with a session) can send the built demo: each gets a 4xx answer, nothing is
// logged from the request body, memory stays bounded, and the demo keeps serving.

import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { decrypt, encrypt } from "@sealkit/cipher";
import { remoteProvider } from "@sealkit/remote";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import type { RunningDemo } from "../src/start-demo.js";

const dataDir = mkdtempSync(join(tmpdir(), "sealkit-demo-bad-"));
let demo: RunningDemo;
let cookie: string;
const logged: string[] = [];

beforeAll(async () => {
  const { startDemo } = (await import(`../dist/${"start-demo.js"}`)) as typeof import("../src/start-demo.js");
  demo = await startDemo({ dataDir, ports: { web: 0, kms: 0, edge: 0 } });
  vi.spyOn(console, "error").mockImplementation((...args: unknown[]) => {
    logged.push(args.map(String).join(" "));
  });
  const login = await post("/api/login", JSON.stringify({ name: "alice", password: "alice" }));
  cookie = login.headers.get("set-cookie")!.split(";")[0]!;
});
afterAll(async () => {
  vi.restoreAllMocks();
  await demo?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

function post(path: string, body: BodyInit, headers: Record<string, string> = {}) {
  return fetch(`${demo.url}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...(cookie ? { cookie } : {}), ...headers },
    body,
  });
}

async function beginUpload(): Promise<string> {
  const r = await post("/api/uploads", JSON.stringify({ name: "f.bin" }));
  expect(r.status).toBe(200);
  return ((await r.json()) as { id: string }).id;
}

describe("JSON bodies", () => {
  it("a malformed or non-object body is a 400, and the body's text is not logged", async () => {
    const secretish = '{"name":"alice","password":hunter2-secret}';
    for (const [path, body] of [
      ["/api/login", secretish],
      ["/api/login", "null"],
      ["/api/login", "[1]"],
      ["/api/uploads", "not json"],
      ["/api/uploads", "null"],
    ] as const) {
      const r = await post(path, body);
      expect(r.status, `${path} ${body}`).toBe(400);
      expect(((await r.json()) as { error: string }).error).toMatch(/JSON object/);
    }
    expect(logged.join("\n")).not.toContain("hunter2");
    expect(logged).toEqual([]);
    const huge = await post("/api/login", JSON.stringify({ name: "a".repeat(100 * 1024) }));
    expect(huge.status).toBe(413);
  });
});

describe("uploads", () => {
  it("a chunk over the limit is refused from its Content-Length, before its body is sent", async () => {
    const id = await beginUpload();
    const { port } = new URL(demo.url);
    // A raw request announcing 64 MiB and sending none of it: the answer must come without waiting for the body.
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = connect(Number(port), "127.0.0.1", () => {
        socket.write(
          `PUT /api/uploads/${id}?offset=0 HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: ${cookie}\r\n` +
            `Content-Length: ${64 * 1024 * 1024}\r\n\r\n`,
        );
      });
      let text = "";
      socket.on("data", (b) => {
        text += b.toString("latin1");
        if (text.includes("\r\n")) {
          socket.destroy();
          resolve(text);
        }
      });
      socket.on("error", reject);
      setTimeout(() => {
        socket.destroy();
        resolve(text);
      }, 10_000);
    });
    expect(answer).toMatch(/^HTTP\/1\.1 413 /);
  });

  it("a streamed chunk (no Content-Length) over the limit is a 413, not buffered whole", async () => {
    const id = await beginUpload();
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent >= 64 * 1024 * 1024) return controller.close();
        sent += 1024 * 1024;
        controller.enqueue(new Uint8Array(1024 * 1024));
      },
    });
    const r = await fetch(`${demo.url}/api/uploads/${id}?offset=0`, {
      method: "PUT",
      headers: { cookie },
      body,
      duplex: "half",
    } as RequestInit).catch((error: Error) => error);
    if (r instanceof Response) expect(r.status).toBe(413);
    expect(sent).toBeLessThan(64 * 1024 * 1024);
  });

  it("two chunks sent at once for the same offset: one is refused (409), the upload stays consistent", async () => {
    const id = await beginUpload();
    const put = (fill: number) =>
      fetch(`${demo.url}/api/uploads/${id}?offset=0`, {
        method: "PUT",
        headers: { cookie },
        body: new Uint8Array(4 * 1024 * 1024).fill(fill),
      });
    const answers = await Promise.all([put(1), put(2), put(3)]);
    const statuses = answers.map((r) => r.status).sort();
    expect(statuses).toEqual([200, 409, 409]);
    // The next chunk goes where the accepted one ended.
    const next = await fetch(`${demo.url}/api/uploads/${id}?offset=${4 * 1024 * 1024}`, {
      method: "PUT",
      headers: { cookie },
      body: new Uint8Array(10),
    });
    expect(await next.json()).toEqual({ size: 4 * 1024 * 1024 + 10 });
  });

  it("a chunk with no offset or a bad one is a 409, and the upload of someone else a 404", async () => {
    const id = await beginUpload();
    for (const query of ["", "?offset=abc", "?offset=-1"]) {
      const r = await fetch(`${demo.url}/api/uploads/${id}${query}`, {
        method: "PUT",
        headers: { cookie },
        body: "x",
      });
      expect(r.status).toBe(409);
    }
  });
});

describe("abandoned uploads", () => {
  it("are bounded per user: starting many keeps at most 8 open, dropping the oldest and its partial file", async () => {
    const ids: string[] = [];
    for (let i = 0; i < 30; i++) ids.push(await beginUpload());
    const parts = readdirSync(join(dataDir, "files")).filter((f) => f.endsWith(".part"));
    expect(parts.length).toBeLessThanOrEqual(8);
    // The newest still take chunks; the oldest were dropped.
    const put = (id: string) =>
      fetch(`${demo.url}/api/uploads/${id}?offset=0`, { method: "PUT", headers: { cookie }, body: "x" });
    expect((await put(ids[29]!)).status).toBe(200);
    expect((await put(ids[0]!)).status).toBe(404);
  });
});

describe("admin and edge", () => {
  it("the audit view with a bad limit is a 400", async () => {
    for (const limit of ["abc", "-1", "0", "1e9999"]) {
      const r = await fetch(`${demo.url}/api/admin/audit?limit=${limit}`, { headers: { cookie } });
      expect(r.status, limit).toBe(400);
    }
    expect((await fetch(`${demo.url}/api/admin/audit?limit=5`, { headers: { cookie } })).status).toBe(200);
  });

  it("the edge answers an open-ended Range with a bounded part, as browsers' video players ask", async () => {
    const keys = remoteProvider({ endpoint: `${demo.url}/api/keys`, headers: { cookie } });
    const plaintext = new Uint8Array(6 * 1024 * 1024);
    for (let i = 0; i < plaintext.length; i++) plaintext[i] = (i * 7) & 255;
    const envelope = await encrypt(plaintext, { providers: [keys], context: { tenant: "acme" } });
    const id = await beginUpload();
    const put = await fetch(`${demo.url}/api/uploads/${id}?offset=0`, {
      method: "PUT",
      headers: { cookie },
      body: envelope as Uint8Array<ArrayBuffer>,
    });
    expect(put.status).toBe(200);
    expect((await post(`/api/uploads/${id}/complete`, "")).status).toBe(200);
    const { url } = (await (
      await fetch(`${demo.url}/api/files/${id}/edge-link`, { headers: { cookie } })
    ).json()) as { url: string };

    const first = await fetch(url, { headers: { range: "bytes=0-" } });
    expect(first.status).toBe(206);
    const range = /^bytes 0-(\d+)\/(\d+)$/.exec(first.headers.get("content-range") ?? "");
    expect(range?.[2]).toBe(String(plaintext.length));
    const end = Number(range?.[1]);
    expect(end + 1).toBeLessThan(plaintext.length);
    const bytes = new Uint8Array(await first.arrayBuffer());
    expect(bytes.length).toBe(end + 1);
    expect(Buffer.from(bytes).equals(Buffer.from(plaintext.subarray(0, end + 1)))).toBe(true);

    // The rest, asked for as a player does, arrives part by part and matches.
    let offset = end + 1;
    while (offset < plaintext.length) {
      const r = await fetch(url, { headers: { range: `bytes=${offset}-` } });
      expect(r.status).toBe(206);
      const part = new Uint8Array(await r.arrayBuffer());
      expect(part.length).toBeGreaterThan(0);
      expect(Buffer.from(part).equals(Buffer.from(plaintext.subarray(offset, offset + part.length)))).toBe(
        true,
      );
      offset += part.length;
    }
    // A small range is answered exactly.
    const small = await fetch(url, { headers: { range: "bytes=100-199" } });
    expect(small.headers.get("content-range")).toBe(`bytes 100-199/${plaintext.length}`);
  });
});

describe("edge uploads", () => {
  it("the worker encrypts a streamed upload under its tenant's context; the link is checked", async () => {
    const linkFor = async (name: string) =>
      (
        (await (
          await fetch(`${demo.url}/api/edge-upload-link?name=${encodeURIComponent(name)}`, {
            headers: { cookie },
          })
        ).json()) as { url: string }
      ).url;
    const plaintext = new Uint8Array(300_000);
    for (let i = 0; i < plaintext.length; i++) plaintext[i] = (i * 13 + 7) & 255;
    const url = await linkFor("streamed.bin");
    const put = await fetch(url, {
      method: "PUT",
      headers: { "content-type": "application/x-demo" },
      body: new Blob([plaintext]).stream(),
      duplex: "half",
    } as RequestInit);
    expect(put.status).toBe(200);
    const stored = (await put.json()) as {
      id: string;
      tenant: string;
      envelopeBytes: number;
      header: { context: Record<string, string>; plaintextBytes: number };
    };
    expect(stored.tenant).toBe("acme");
    expect(stored.header.context).toEqual({ tenant: "acme", file: "streamed.bin", via: "edge" });
    expect(stored.header.plaintextBytes).toBe(plaintext.length);
    // Only ciphertext reached the origin's disk.
    const envelope = readFileSync(join(dataDir, "files", `${stored.id}.slk`));
    expect(envelope.length).toBe(stored.envelopeBytes);
    expect(envelope.includes(Buffer.from(plaintext.subarray(1000, 1032)))).toBe(false);
    // alice opens it in the page's way (remote provider, her tenant's context), and through the edge.
    const keys = remoteProvider({ endpoint: `${demo.url}/api/keys`, headers: { cookie } });
    const opened = await decrypt(new Uint8Array(envelope), {
      providers: [keys],
      expectContext: { tenant: "acme" },
    });
    expect(Buffer.from(opened.plaintext).equals(Buffer.from(plaintext))).toBe(true);
    const link = (
      (await (
        await fetch(`${demo.url}/api/files/${stored.id}/edge-link`, { headers: { cookie } })
      ).json()) as {
        url: string;
      }
    ).url;
    const ranged = await fetch(link, { headers: { range: "bytes=70000-70099" } });
    expect(
      Buffer.from(await ranged.arrayBuffer()).equals(Buffer.from(plaintext.subarray(70000, 70100))),
    ).toBe(true);

    // A link signed for acme cannot be turned into one for another tenant, and a bad signature is refused.
    const other = new URL(await linkFor("x.bin"));
    other.searchParams.set("tenant", "globex");
    const signature = new URL(url).searchParams.get("signature")!;
    const forged = new URL(url);
    forged.searchParams.set("signature", (signature[0] === "0" ? "1" : "0") + signature.slice(1));
    for (const bad of [other.toString(), forged.toString()]) {
      const r = await fetch(bad, { method: "PUT", body: "secret" });
      expect(r.status, bad).toBe(403);
    }
  });
});
