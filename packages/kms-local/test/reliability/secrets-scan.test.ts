// A full scenario with known plaintexts (the server in a child process, a LocalKms in process, and the sealkit CLI
// against the server when it is built), capturing every data key handed out; then everything written (data dir
// files while running and after stopping, WAL files, logs, error bodies, metrics, CLI output) is scanned for the
// plaintexts, the data keys and the secret access key, raw and as hex, base64 and base64url: none may appear.

import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import {
  CreateAliasCommand,
  CreateKeyCommand,
  DecryptCommand,
  DisableKeyCommand,
  EncryptCommand,
  GenerateDataKeyCommand,
  GenerateDataKeyWithoutPlaintextCommand,
  GenerateRandomCommand,
  ReEncryptCommand,
} from "@aws-sdk/client-kms";
import { parseHeader } from "@sealkit/core";
import { afterAll, describe, expect, it } from "vitest";
import { LocalKms } from "../../src/local-kms.js";
import { ALICE, call, send, signRequest } from "../../src/server/test-support.js";
import { packageRoot, sdkClient, startServerChild, writeCredentials } from "./support.js";

const run = promisify(execFile);
const CLI = join(packageRoot, "../cli/dist/bin.js");
const hasCli = existsSync(CLI);

/** Every form a secret could be written in: raw, hex (both cases), base64 and base64url at each byte alignment. */
function needles(secret: Uint8Array): Buffer[] {
  const raw = Buffer.from(secret);
  const out = [raw, Buffer.from(raw.toString("hex")), Buffer.from(raw.toString("hex").toUpperCase())];
  for (let shift = 0; shift < 3; shift++) {
    const b64 = Buffer.concat([Buffer.alloc(shift), raw]).toString("base64");
    // Only the characters made of the secret's bits alone.
    const start = Math.ceil((shift * 8) / 6);
    const end = Math.floor(((shift + raw.length) * 8) / 6);
    const part = b64.slice(start, end);
    out.push(Buffer.from(part), Buffer.from(part.replace(/\+/g, "-").replace(/\//g, "_")));
  }
  return out;
}

function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...filesUnder(path));
    else out.push(path);
  }
  return out;
}

describe("no plaintext, data key or secret is written anywhere", () => {
  const dir = mkdtempSync(join(tmpdir(), "sealkit-rel-secrets-"));
  let killServer: (() => Promise<void>) | undefined;
  afterAll(async () => {
    await killServer?.(); // a failed run must not leave the child behind
    rmSync(dir, { recursive: true, force: true });
  });

  it(`full scenario: server, in-process KMS${hasCli ? ", CLI" : ""}`, { timeout: 120_000 }, async () => {
    const secrets: { what: string; bytes: Uint8Array }[] = [];
    const texts: { where: string; text: string }[] = []; // logs, error bodies, CLI output
    const snapshots: string[] = []; // data dir copies taken while running (WAL files included)
    const keep = (what: string, bytes: Uint8Array) => secrets.push({ what, bytes: Uint8Array.from(bytes) });

    // 1. The server in a child process.
    const serverDir = join(dir, "server-data");
    const server = await startServerChild(serverDir, writeCredentials(dir));
    killServer = server.kill;
    const client = sdkClient(server.url);
    const keyId = (await client.send(new CreateKeyCommand({ Description: "scan" }))).KeyMetadata
      ?.KeyId as string;
    await client.send(new CreateAliasCommand({ AliasName: "alias/scan", TargetKeyId: keyId }));
    // Not a secret: encryption contexts are audited by design, which makes this the scan's positive control.
    const marker = `context-marker-${randomBytes(12).toString("hex")}`;
    const context = { tenant: marker };
    for (let i = 0; i < 5; i++) {
      const plaintext = Buffer.concat([Buffer.from(`SEALKIT-KNOWN-PLAINTEXT-${i}-`), randomBytes(24)]);
      keep(`server plaintext ${i}`, plaintext);
      const enc = await client.send(
        new EncryptCommand({ KeyId: "alias/scan", Plaintext: plaintext, EncryptionContext: context }),
      );
      const dec = await client.send(
        new DecryptCommand({ CiphertextBlob: enc.CiphertextBlob, EncryptionContext: context }),
      );
      expect(Buffer.from(dec.Plaintext as Uint8Array).equals(plaintext)).toBe(true);
      await client.send(
        new ReEncryptCommand({
          CiphertextBlob: enc.CiphertextBlob,
          SourceEncryptionContext: context,
          DestinationKeyId: keyId,
          DestinationEncryptionContext: { tenant: "other" },
        }),
      );
      const gdk = await client.send(
        new GenerateDataKeyCommand({ KeyId: keyId, KeySpec: "AES_256", EncryptionContext: context }),
      );
      keep(`server data key ${i}`, gdk.Plaintext as Uint8Array);
      const back = await client.send(
        new DecryptCommand({ CiphertextBlob: gdk.CiphertextBlob, EncryptionContext: context }),
      );
      expect(Buffer.from(back.Plaintext as Uint8Array).equals(Buffer.from(gdk.Plaintext as Uint8Array))).toBe(
        true,
      );
      const bytes = await client.send(new GenerateDataKeyCommand({ KeyId: keyId, NumberOfBytes: 48 }));
      keep(`server data key bytes ${i}`, bytes.Plaintext as Uint8Array);
      await client.send(new GenerateDataKeyWithoutPlaintextCommand({ KeyId: keyId, KeySpec: "AES_256" }));
      keep(
        `server random ${i}`,
        (await client.send(new GenerateRandomCommand({ NumberOfBytes: 32 }))).Plaintext as Uint8Array,
      );
      // Error paths with a secret in the request: wrong context, too long, bad signature, malformed, wrong type.
      const b64 = plaintext.toString("base64");
      const errors = [
        await call(server.url, "Decrypt", {
          CiphertextBlob: Buffer.from(enc.CiphertextBlob as Uint8Array).toString("base64"),
          EncryptionContext: { tenant: "x" },
        }),
        await call(server.url, "Encrypt", {
          KeyId: keyId,
          Plaintext: Buffer.concat([plaintext, Buffer.alloc(4096)]).toString("base64"),
        }),
        await call(server.url, "Encrypt", { KeyId: keyId, Plaintext: b64 }, { secretAccessKey: "wrong" }),
        await send(
          server.url,
          await signRequest(server.url, "Encrypt", `{"KeyId":"${keyId}","Plaintext":"${b64}"`),
        ),
        await call(server.url, "Encrypt", {
          KeyId: keyId,
          Plaintext: b64,
          EncryptionContext: { a: plaintext.toString("hex").length },
        }),
        await call(server.url, "Encrypt", { KeyId: "alias/missing", Plaintext: b64 }),
        await call(server.url, "Decrypt", {
          CiphertextBlob: Buffer.from(gdk.CiphertextBlob as Uint8Array)
            .toString("base64")
            .replace(/^..../, "AAAA"),
        }),
      ];
      for (const res of errors) {
        expect(res.status).toBeGreaterThanOrEqual(400);
        texts.push({ where: `error body ${res.status}`, text: res.text });
      }
    }
    // A disabled key refuses with the plaintext in the request.
    const disabled = (await client.send(new CreateKeyCommand({}))).KeyMetadata?.KeyId as string;
    await client.send(new DisableKeyCommand({ KeyId: disabled }));
    const refused = await call(server.url, "Encrypt", {
      KeyId: disabled,
      Plaintext: Buffer.from(secrets[0]?.bytes as Uint8Array).toString("base64"),
    });
    expect(refused.json().__type).toBe("DisabledException");
    texts.push({ where: "disabled error body", text: refused.text });
    const metrics = await fetch(`${server.url}/metrics`);
    texts.push({ where: "/metrics", text: await metrics.text() });

    // 2. The CLI against the server, when it is built.
    const cliDir = join(dir, "cli");
    mkdirSync(cliDir);
    if (hasCli) {
      const plaintext = Buffer.concat([Buffer.from("SEALKIT-CLI-PLAINTEXT-"), randomBytes(40)]);
      keep("CLI plaintext", plaintext);
      writeFileSync(join(dir, "cli-input.bin"), plaintext);
      const env = {
        ...process.env,
        AWS_ACCESS_KEY_ID: ALICE.accessKeyId,
        AWS_SECRET_ACCESS_KEY: ALICE.secretAccessKey,
        AWS_REGION: "us-east-1",
        HOME: cliDir,
      };
      const common = ["--provider", "aws", "--endpoint", server.url, "--key", "alias/scan"];
      const envelope = join(cliDir, "file.sk");
      const enc = await run(
        process.execPath,
        [CLI, "encrypt", ...common, "--context", "app=scan", join(dir, "cli-input.bin"), "-o", envelope],
        { env, cwd: cliDir },
      );
      texts.push(
        { where: "CLI encrypt stdout", text: enc.stdout },
        { where: "CLI encrypt stderr", text: enc.stderr },
      );
      const dec = await run(
        process.execPath,
        [CLI, "decrypt", ...common, envelope, "-o", join(dir, "cli-output.bin")],
        { env, cwd: cliDir },
      );
      texts.push(
        { where: "CLI decrypt stdout", text: dec.stdout },
        { where: "CLI decrypt stderr", text: dec.stderr },
      );
      expect(readFileSync(join(dir, "cli-output.bin")).equals(plaintext)).toBe(true);
      const wrong = await run(
        process.execPath,
        [
          CLI,
          "decrypt",
          ...common,
          "--expect-context",
          "app=other",
          envelope,
          "-o",
          join(cliDir, "never.bin"),
        ],
        { env, cwd: cliDir },
      ).then(
        () => undefined,
        (e: { code: number; stdout: string; stderr: string }) => e,
      );
      expect(wrong?.code).toBe(7);
      texts.push({ where: "CLI failed decrypt stderr", text: `${wrong?.stdout}${wrong?.stderr}` });
      // The envelope's data key, recovered through the server from its encrypted data key.
      const header = parseHeader(readFileSync(envelope));
      const edk = header.encryptedDataKeys[0];
      if (edk === undefined) throw new Error("no encrypted data key");
      const dataKey = await client.send(
        new DecryptCommand({ CiphertextBlob: edk.ciphertext, EncryptionContext: { ...header.context } }),
      );
      keep("CLI envelope data key", dataKey.Plaintext as Uint8Array);
    }

    // Snapshot of the server's data dir while it runs (the WAL files are there now).
    const running = join(dir, "snapshot-running");
    cpSync(serverDir, running, { recursive: true });
    snapshots.push(running);
    client.destroy();
    expect(await server.stop()).toBe(0);
    texts.push({ where: "server stdout+stderr", text: server.output() });

    // 3. A LocalKms in process.
    const localDir = join(dir, "local-data");
    const local = await LocalKms.open({ dataDir: localDir, region: "us-east-1", account: "111122223333" });
    const caller = { principal: "arn:aws:iam::111122223333:root", account: "111122223333" };
    const localKey = (await local.createKey(caller, {})).KeyMetadata.KeyId;
    for (let i = 0; i < 5; i++) {
      const plaintext = Buffer.concat([Buffer.from(`SEALKIT-LOCAL-PLAINTEXT-${i}-`), randomBytes(24)]);
      keep(`local plaintext ${i}`, plaintext);
      const enc = await local.encrypt(caller, {
        KeyId: localKey,
        Plaintext: plaintext,
        EncryptionContext: context,
      });
      await local.decrypt(caller, { CiphertextBlob: enc.CiphertextBlob, EncryptionContext: context });
      const gdk = await local.generateDataKey(caller, { KeyId: localKey, KeySpec: "AES_256" });
      keep(`local data key ${i}`, gdk.Plaintext);
      for (const attempt of [
        () =>
          local.decrypt(caller, {
            CiphertextBlob: enc.CiphertextBlob,
            EncryptionContext: { tenant: "wrong" },
          }),
        () =>
          local.encrypt(caller, {
            KeyId: localKey,
            Plaintext: Buffer.concat([plaintext, Buffer.alloc(4096)]),
          }),
        () =>
          local.encrypt(
            { principal: "arn:aws:iam::444455556666:user/x", account: "444455556666" },
            { KeyId: localKey, Plaintext: plaintext },
          ),
      ]) {
        const error = await attempt().then(
          () => undefined,
          (e: Error) => e,
        );
        expect(error).toBeInstanceOf(Error);
        texts.push({
          where: "LocalKms error",
          text: `${error?.name}: ${error?.message} ${JSON.stringify(error)}`,
        });
      }
    }
    const localRunning = join(dir, "snapshot-local-running");
    cpSync(localDir, localRunning, { recursive: true });
    snapshots.push(localRunning);
    await local.close();

    // 4. Scan.
    const files = [serverDir, localDir, cliDir, ...snapshots].flatMap(filesUnder);
    expect(files.some((f) => f.endsWith("-wal"))).toBe(true);
    const haystacks: { where: string; bytes: Buffer }[] = [
      ...files.map((f) => ({ where: f, bytes: readFileSync(f) })),
      ...texts.map((t) => ({ where: t.where, bytes: Buffer.from(t.text) })),
    ];
    const all = [...secrets, { what: "secret access key", bytes: Buffer.from(ALICE.secretAccessKey) }];
    const found: string[] = [];
    let needleCount = 0;
    for (const secret of all) {
      for (const needle of needles(secret.bytes)) {
        needleCount++;
        for (const h of haystacks) if (h.bytes.includes(needle)) found.push(`${secret.what} in ${h.where}`);
      }
    }
    expect(found).toEqual([]);
    // The scan sees inside the databases: the audited context value is found in both audit logs.
    const withMarker = haystacks.filter((h) => h.bytes.includes(Buffer.from(marker))).map((h) => h.where);
    expect(withMarker.some((w) => w.startsWith(serverDir) && w.includes("audit.db"))).toBe(true);
    expect(withMarker.some((w) => w.startsWith(localDir) && w.includes("audit.db"))).toBe(true);
    const scanned = haystacks.reduce((n, h) => n + h.bytes.length, 0);
    console.log(
      `[reliability] secrets scan: ${all.length} secrets (${secrets.filter((s) => s.what.includes("plaintext")).length} plaintexts, ` +
        `${secrets.filter((s) => s.what.includes("key") || s.what.includes("random")).length} data keys and random values, the secret access key) ` +
        `in ${needleCount} encodings, over ${files.length} files and ${texts.length} logs/outputs/error bodies ` +
        `(${(scanned / 2 ** 20).toFixed(2)} MiB): none found`,
    );
  });
});
