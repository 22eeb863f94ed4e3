// `pnpm demo` (dist/main.js) as a user runs it: it starts, prints where to open it, and Ctrl-C or SIGTERM stop it
// gracefully (servers closed, workerd disposed) with exit code 0; a bad setting is refused with a message.

import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { type AddressInfo, connect, createServer, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const MAIN = resolve(dirname(fileURLToPath(import.meta.url)), "../dist/main.js");

function start(env: Record<string, string>) {
  const dataDir = mkdtempSync(join(tmpdir(), "sealkit-demo-main-"));
  const child = spawn(process.execPath, [MAIN], {
    env: {
      ...process.env,
      SEALKIT_DEMO_DIR: dataDir,
      PORT: "0",
      SEALKIT_KMS_PORT: "0",
      SEALKIT_EDGE_PORT: "0",
      ...env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout.on("data", (b: Buffer) => {
    out += b.toString();
  });
  child.stderr.on("data", (b: Buffer) => {
    out += b.toString();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((done) =>
    child.on("close", (code, signal) => done({ code, signal })),
  );
  const ready = async () => {
    for (let i = 0; i < 600 && !out.includes("Press Ctrl-C"); i++)
      await new Promise((r) => setTimeout(r, 100));
    expect(out).toContain("Press Ctrl-C");
  };
  return {
    child,
    exited,
    ready,
    output: () => out,
    dataDir,
    cleanup: () => rmSync(dataDir, { recursive: true, force: true }),
  };
}

describe("dist/main.js", () => {
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    it(`stops gracefully on ${signal}, exit code 0`, async () => {
      const demo = start({});
      try {
        await demo.ready();
        demo.child.kill(signal);
        const end = await demo.exited;
        expect(demo.output()).toContain(`${signal}: stopping`);
        expect(demo.output()).toContain("stopped.");
        expect(end).toEqual({ code: 0, signal: null });
      } finally {
        demo.child.kill("SIGKILL");
        demo.cleanup();
      }
    });
  }

  it("logs no plaintext, password, data key or secret while it is used, wrongly too", async () => {
    const demo = start({});
    try {
      await demo.ready();
      const url = /Web page\s+(http:\/\/127\.0\.0\.1:\d+)/.exec(demo.output())![1]!;
      const password = "hunter2-not-logged";
      const bad = await fetch(`${url}/api/login`, {
        method: "POST",
        body: `{"name":"alice","password":${password}}`,
      });
      expect(bad.status).toBe(400);
      const login = await fetch(`${url}/api/login`, {
        method: "POST",
        body: JSON.stringify({ name: "alice", password: "alice" }),
      });
      const cookie = login.headers.get("set-cookie")!.split(";")[0]!;
      // Data keys issued and unwrapped through the endpoint, as the page does: the answers carry the key bytes.
      const generated = (await (
        await fetch(`${url}/api/keys/data-keys`, {
          method: "POST",
          headers: { cookie, "content-type": "application/json", "x-sealkit-request": "1" },
          body: JSON.stringify({ context: { tenant: "acme" } }),
        })
      ).json()) as Record<string, unknown>;
      const keyText = JSON.stringify(generated);
      const refused = await fetch(`${url}/api/keys/data-keys`, {
        method: "POST",
        headers: { cookie, "content-type": "application/json", "x-sealkit-request": "1" },
        body: JSON.stringify({ context: { tenant: "globex", note: password } }),
      });
      expect(refused.status).toBe(403);
      demo.child.kill("SIGINT");
      expect((await demo.exited).code).toBe(0);

      const output = demo.output();
      expect(output).not.toContain(password);
      const secrets = JSON.parse(readFileSync(join(demo.dataDir, "demo-secrets.json"), "utf8")) as {
        edgeSecret: string;
        signingSecret: string;
        credentials: { secretAccessKey: string }[];
      };
      const rootKey = readFileSync(join(demo.dataDir, "kms", "root.key"));
      for (const secret of [
        secrets.edgeSecret,
        secrets.signingSecret,
        ...secrets.credentials.map((c) => c.secretAccessKey),
        rootKey.toString("hex"),
        rootKey.toString("base64"),
      ]) {
        expect(output).not.toContain(secret);
      }
      // The data key it issued, in base64 and in hex, and its wrapped form.
      const { plaintext, encryptedDataKeys } = generated as {
        plaintext: string;
        encryptedDataKeys: { ciphertext: string }[];
      };
      expect(Buffer.from(plaintext, "base64").length, keyText).toBe(32);
      for (const value of [
        plaintext,
        Buffer.from(plaintext, "base64").toString("hex"),
        encryptedDataKeys[0]!.ciphertext,
      ])
        expect(output).not.toContain(value);
      // Nothing but the banner and the stop lines.
      expect(output.replace(/\n\s*Sealkit demo is running\.[\s\S]*Press Ctrl-C to stop\.\n/, "").trim()).toBe(
        "SIGINT: stopping…\n  stopped.",
      );
    } finally {
      demo.child.kill("SIGKILL");
      demo.cleanup();
    }
  });

  it("stops within a few seconds on SIGINT although clients stalled in the middle of requests", async () => {
    const demo = start({});
    const sockets: Socket[] = [];
    try {
      await demo.ready();
      const web = Number(/Web page\s+http:\/\/127\.0\.0\.1:(\d+)/.exec(demo.output())?.[1]);
      const kms = Number(/KMS endpoint\s+http:\/\/127\.0\.0\.1:(\d+)/.exec(demo.output())?.[1]);
      // A request whose headers never end, and one whose body never comes, to the web app and to the KMS endpoint.
      for (const [port, text] of [
        [web, "GET /api/me HTTP/1.1\r\nHost: x\r\n"],
        [web, "PUT /api/uploads/x?offset=0 HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nabc"],
        [kms, "POST / HTTP/1.1\r\nHost: x\r\n"],
        [kms, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{"],
      ] as const) {
        const socket = connect(port, "127.0.0.1");
        socket.on("error", () => {});
        await new Promise<void>((done) => socket.once("connect", () => done()));
        socket.write(text);
        sockets.push(socket);
      }
      await new Promise((r) => setTimeout(r, 500));
      const asked = Date.now();
      demo.child.kill("SIGINT");
      const end = await demo.exited;
      // It waited for them (a grace period) and then closed them: Node's server.close() waited for each such request
      // to finish or time out (minutes), and the demo seemed to hang until a second Ctrl-C.
      expect(Date.now() - asked).toBeLessThan(15_000);
      expect(end).toEqual({ code: 0, signal: null });
      expect(demo.output()).toContain("stopped.");
    } finally {
      for (const socket of sockets) socket.destroy();
      demo.child.kill("SIGKILL");
      demo.cleanup();
    }
  }, 60_000);

  for (const variable of ["PORT", "SEALKIT_KMS_PORT", "SEALKIT_EDGE_PORT"]) {
    it(`a taken ${variable} stops it with one clear line naming ${variable}, exit code 1`, async () => {
      // Another process holds the port (here: this one).
      const taken = createServer();
      await new Promise<void>((done) => taken.listen(0, "127.0.0.1", done));
      const { port } = taken.address() as AddressInfo;
      const demo = start({ [variable]: String(port) });
      try {
        const end = await demo.exited;
        expect(end).toEqual({ code: 1, signal: null });
        const output = demo.output();
        expect(output).toContain(
          `The demo could not start: listen EADDRINUSE: address already in use 127.0.0.1:${port}`,
        );
        expect(output).toContain(`set ${variable} to a free port`);
        // Not a crash dump (an unhandled 'error' event), nor workerd's own fatal trace and Miniflare's "--port".
        expect(output).not.toMatch(/Unhandled|node:events|Node\.js v|kj::Exception|--port/);
        expect(output).not.toContain("Press Ctrl-C");
      } finally {
        demo.child.kill("SIGKILL");
        demo.cleanup();
        taken.close();
      }
    });
  }

  it("refuses an unknown provider or a bad port with a message and exit code 2", async () => {
    const bad: Record<string, string>[] = [
      { SEALKIT_DEMO_PROVIDER: "nope" },
      { PORT: "http" },
      { SEALKIT_EDGE_PORT: "70000" },
    ];
    for (const env of bad) {
      const demo = start(env);
      try {
        const end = await demo.exited;
        expect(end.code, JSON.stringify(env)).toBe(2);
        expect(demo.output()).toMatch(/SEALKIT_DEMO_PROVIDER must be|PORT|SEALKIT_EDGE_PORT/);
      } finally {
        demo.cleanup();
      }
    }
  });
});
