// Bad input a new user runs into: output paths that cannot be written, flags that contradict each other, and
// malformed config files holding a PIN (whose text must not be echoed back on stderr).

import { randomBytes } from "node:crypto";
import {
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ok, run, startServe, tempDir } from "./helpers.js";

const t = tempDir();
const cwd = t.dir;
const raw = ["--provider", "raw", "--raw-key-file", "team.key"];
const dd = ["--data-dir", join(cwd, "kms")];
const PIN = "SuperSecretPin123";

beforeAll(async () => {
  writeFileSync(join(cwd, "team.key"), randomBytes(32));
  writeFileSync(join(cwd, "plain.txt"), "plain");
  await ok(["keys", "create", "--alias", "alias/r", ...dd], { cwd });
});
afterAll(() => t.cleanup());

const temps = (dir: string) => readdirSync(dir).filter((f) => f.includes(".sealkit-") && f.endsWith(".tmp"));

describe("output paths", () => {
  it("-o into a directory that does not exist: exit 5, naming the directory, not a temporary file", async () => {
    for (const command of ["encrypt", "decrypt"]) {
      const r = await run([command, "plain.txt", ...raw, "-o", "missing/out"], { cwd });
      expect(r.code).toBe(5);
      expect(r.stderr).toMatch(/^sealkit: ENOENT: .*missing/);
      expect(r.stderr).not.toMatch(/\.sealkit-[0-9a-f]+\.tmp/);
    }
  });

  it("-o naming an existing directory is refused before any work, and leaves nothing behind", async () => {
    mkdirSync(join(cwd, "adir"));
    for (const command of ["encrypt", "decrypt"]) {
      const r = await run([command, "plain.txt", ...raw, "-o", "adir"], { cwd });
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/^sealkit: EISDIR: adir is a directory/);
      expect(r.stderr).not.toMatch(/\.sealkit-[0-9a-f]+\.tmp/);
    }
    expect(temps(cwd)).toEqual([]);
    expect(readdirSync(join(cwd, "adir"))).toEqual([]);
  });

  it("-o with an empty path is a usage error before any work (it decrypted, then failed renaming a temp file)", async () => {
    await ok(["encrypt", "plain.txt", ...raw, "-o", "e.slkt"], { cwd });
    for (const args of [
      ["encrypt", "plain.txt"],
      ["decrypt", "e.slkt"],
    ]) {
      const r = await run([...args, ...raw, "-o", ""], { cwd });
      expect(r.code).toBe(2);
      expect(r.stderr).toBe(
        'sealkit: usage: -o expected a file name, "-" for stdout, got an empty path (see sealkit --help)\n',
      );
    }
    expect(temps(cwd)).toEqual([]);
  });
});

describe("outputs that are not plain files", () => {
  it("-o naming a device (through a link to /dev/null) writes to it, never replacing the node with a file", async () => {
    symlinkSync("/dev/null", join(cwd, "devnull"));
    await ok(["encrypt", "plain.txt", ...raw, "-o", "e.slkt"], { cwd });
    // decrypt -o /dev/null, as used to check that an envelope opens: the device must stay a device.
    await ok(["decrypt", "e.slkt", ...raw, "-o", "devnull"], { cwd });
    await ok(["encrypt", "plain.txt", ...raw, "-o", "devnull"], { cwd });
    expect(lstatSync(join(cwd, "devnull")).isSymbolicLink()).toBe(true);
    expect(statSync("/dev/null").isCharacterDevice()).toBe(true);
    expect(temps(cwd)).toEqual([]);
  });

  it("-o naming a link to a file replaces the file it points at, and the link stays", async () => {
    mkdirSync(join(cwd, "real"));
    writeFileSync(join(cwd, "real", "target.slkt"), "old");
    symlinkSync(join("real", "target.slkt"), join(cwd, "link.slkt"));
    await ok(["encrypt", "plain.txt", ...raw, "-o", "link.slkt"], { cwd });
    expect(lstatSync(join(cwd, "link.slkt")).isSymbolicLink()).toBe(true);
    expect(
      readFileSync(join(cwd, "real", "target.slkt"))
        .subarray(0, 4)
        .toString("latin1"),
    ).toBe("SLKT");
    expect((await ok(["decrypt", "link.slkt", ...raw], { cwd })).out).toBe("plain");
    // rewrap, in place, keeps the link too.
    await ok(["rewrap", "link.slkt", ...raw, "--to-provider", "local", "--to-key", "alias/r", ...dd], {
      cwd,
    });
    expect(lstatSync(join(cwd, "link.slkt")).isSymbolicLink()).toBe(true);
    expect((await ok(["decrypt", "link.slkt", "--key", "alias/r", ...dd], { cwd })).out).toBe("plain");
    expect(temps(join(cwd, "real"))).toEqual([]);
  });
});

describe("conflicting flags", () => {
  it("keys rotate --period-days without --automatic on is refused instead of rotating the key now", async () => {
    for (const extra of [[], ["--automatic", "off"]]) {
      const r = await run(["keys", "rotate", "alias/r", "--period-days", "90", ...extra, ...dd], { cwd });
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/--period-days .*--automatic on/);
    }
    const status = JSON.parse((await ok(["keys", "rotations", "alias/r", ...dd, "--json"], { cwd })).out);
    expect(status.Rotations).toEqual([]);
    expect(status.KeyRotationEnabled).toBe(false);
    const on = JSON.parse(
      (
        await ok(["keys", "rotate", "alias/r", "--automatic", "on", "--period-days", "90", ...dd, "--json"], {
          cwd,
        })
      ).out,
    );
    expect(on).toMatchObject({ KeyRotationEnabled: true, RotationPeriodInDays: 90 });
  });
});

describe("malformed files holding a PIN are reported without their text", () => {
  it("a config file profile", async () => {
    writeFileSync(
      join(cwd, "config.json"),
      `{"profiles":{"default":{"provider":"pkcs11","pkcs11":{"tokenLabel":"t","pin":${PIN}}}}}`,
    );
    const r = await run(["encrypt", "plain.txt", "-o", "x.slkt"], {
      cwd,
      env: { SEALKIT_CONFIG_FILE: join(cwd, "config.json") },
    });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/config\.json is not valid JSON/);
    expect(r.stderr).not.toContain(PIN.slice(0, 6));
  });

  it("a kms serve --hsm config", async () => {
    writeFileSync(
      join(cwd, "hsm.json"),
      `{"profile":"softhsm","tokenLabel":"t","keyLabel":"k","pin":${PIN}}`,
    );
    const r = await run(
      [
        "kms",
        "serve",
        "--port",
        "0",
        "--allow-unsigned-as",
        "arn:aws:iam::111122223333:root",
        "--hsm",
        "hsm.json",
      ],
      { cwd },
    );
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/hsm\.json is not valid JSON/);
    expect(r.stderr).not.toContain(PIN.slice(0, 6));
    expect(existsSync(join(cwd, ".sealkit"))).toBe(false);
  });
});

describe("rewrap --json", () => {
  it("stops at a file it cannot rewrap and still lists, as JSON, the files it rewrote before", async () => {
    await ok(["encrypt", "plain.txt", "--key", "alias/r", ...dd, "-o", "r1.slkt"], { cwd });
    await ok(["keys", "create", "--alias", "alias/s", ...dd], { cwd });
    const r = await run(["rewrap", "r1.slkt", "missing.slkt", "--to-key", "alias/s", ...dd, "--json"], {
      cwd,
    });
    expect(r.code).toBe(5);
    expect(r.stderr).toMatch(/^sealkit: ENOENT: .*missing\.slkt/);
    const done = JSON.parse(r.out);
    expect(done).toHaveLength(1);
    expect(done[0]).toMatchObject({ file: "r1.slkt", bodyUntouched: true });
    expect(done[0].added).toHaveLength(1);
  });
});

describe("keys create --alias", () => {
  it("an alias that is malformed or taken is refused before the key is created (no orphan key)", async () => {
    const count = async () =>
      JSON.parse((await ok(["keys", "list", ...dd, "--json"], { cwd })).out).Keys.length as number;
    const before = await count();
    for (const alias of ["bad name", "backups", "alias/aws/reserved", "alias/r"]) {
      const r = await run(["keys", "create", "--alias", alias, ...dd], { cwd });
      expect(r.code, alias).toBe(2);
      expect(r.stderr).toMatch(alias === "alias/r" ? /alias\/r already exists/ : /--alias/);
    }
    expect(await count()).toBe(before);
    const r = await run(["aliases", "create", "bad name", "alias/r", ...dd], { cwd });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/the alias expected alias\/<name>/);
  });
});

describe("help", () => {
  it("sealkit help [command] is a request, exit 0 on stdout; a group without its subcommand is a usage error", async () => {
    const all = await run(["help"], { cwd });
    expect(all.code).toBe(0);
    expect(all.out).toMatch(/^Usage: sealkit /);
    const encrypt = await run(["help", "encrypt"], { cwd });
    expect(encrypt.code).toBe(0);
    expect(encrypt.out).toMatch(/^Usage: sealkit encrypt /);
    const group = await run(["keys"], { cwd });
    expect(group.code).toBe(2);
    expect(group.stderr).toMatch(/^Usage: sealkit keys /);
  });
});

describe("kms serve and a second Ctrl-C", () => {
  const unsigned = ["--allow-unsigned-as", "arn:aws:iam::111122223333:root"];

  it("the first signal stops gracefully; a second one while a slow request holds the stop exits at once", async () => {
    const serve = await startServe(["--data-dir", join(cwd, "serve-kms"), ...unsigned], { cwd });
    // A request whose body is still arriving: a graceful stop waits for it (up to the 30 s request timeout).
    const socket = connect(serve.port, "127.0.0.1");
    await new Promise((r) => socket.once("connect", r));
    socket.write(
      "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-amz-json-1.1\r\nContent-Length: 100\r\n\r\n{",
    );
    await new Promise((r) => setTimeout(r, 300));
    const started = Date.now();
    serve.child.kill("SIGINT");
    for (let i = 0; i < 50 && !serve.output().includes("SIGINT: finishing"); i++)
      await new Promise((r) => setTimeout(r, 100));
    serve.child.kill("SIGINT");
    const end = await serve.closed;
    socket.destroy();
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(end.code === 130 || end.signal === "SIGINT").toBe(true);
    expect(serve.output()).toMatch(/SIGINT: finishing requests in flight, then stopping/);
  });

  it("SIGHUP (its terminal closed) stops as gracefully as SIGTERM, exit 0", async () => {
    const serve = await startServe(["--data-dir", join(cwd, "hangup-kms"), ...unsigned], { cwd });
    serve.child.kill("SIGHUP");
    // Node's default for SIGHUP was to die at once, by the signal.
    expect(await serve.closed).toEqual({ code: 0, signal: null });
    expect(serve.output()).toMatch(
      /SIGHUP: finishing requests in flight, then stopping \(send it again to exit at once\)\nstopped\n/,
    );
  });
});

describe("policy put", () => {
  it("a policy that is not JSON is reported on one line, by line and column", async () => {
    const r = await run(["policy", "put", "alias/r", "-", ...dd], {
      cwd,
      input: '{\n  "Version": nope\n}\n',
    });
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(
      "sealkit: usage: the policy on stdin is not valid JSON (line 2, column 15) (see sealkit --help)\n",
    );
  });
});
