// AWS's own tools, unchanged, against the KMS server over HTTP with real SigV4: the AWS Encryption SDK for JavaScript,
// the AWS CLI (the README's commands, run as written) and boto3 (the README's snippet, run as written).

import { execFile, execFileSync } from "node:child_process";
import {
  mkdirSync,
  mkdtempSync,
  readFileSync,
  realpathSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import {
  buildClient,
  CommitmentPolicy,
  getClient,
  KmsKeyringNode,
  limitRegions,
} from "@aws-crypto/client-node";
import { DescribeKeyCommand, EncryptCommand, KMS } from "@aws-sdk/client-kms";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type StartedKmsServer, startKmsServer } from "./start.js";

const packageRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const README = readFileSync(join(packageRoot, "README.md"), "utf8");
const CREDENTIALS_FILE = join(packageRoot, "examples", "credentials.json");
const SEED_FILE = join(packageRoot, "examples", "seed.yaml");
// The example credentials the README's commands use.
const [ALICE, BOB] = (
  JSON.parse(readFileSync(CREDENTIALS_FILE, "utf8")) as {
    credentials: { accessKeyId: string; secretAccessKey: string; principal: string }[];
  }
).credentials as [
  { accessKeyId: string; secretAccessKey: string; principal: string },
  { accessKeyId: string; secretAccessKey: string; principal: string },
];
const ACCOUNT = "111122223333";
const ROOT = { principal: `arn:aws:iam::${ACCOUNT}:root`, account: ACCOUNT };
// The README's commands name this port; the tests swap in the server's.
const README_ENDPOINT = "http://127.0.0.1:4600";
const MISSING = "run ./scripts/bootstrap.sh --system to install it (Debian's awscli and python3-boto3)";

/** The README's fenced block of `lang` that follows `marker`. */
function readmeBlock(marker: string, lang: string): string {
  const at = README.indexOf(marker);
  expect(at, `README.md has no "${marker}" section`).toBeGreaterThanOrEqual(0);
  const block = new RegExp("```" + lang + "\\n([\\s\\S]*?)```").exec(README.slice(at))?.[1];
  expect(block, `README.md has no ${lang} block after "${marker}"`).toBeDefined();
  expect(block).toContain(README_ENDPOINT);
  return block as string;
}

/** Distinct installations (by real path) of `command` on PATH and at `extra`, those for which `works` holds. */
function installations(command: string, extra: string, works: (path: string) => boolean): string[] {
  const found = new Map<string, string>();
  let onPath: string | undefined;
  try {
    onPath = execFileSync("sh", ["-c", `command -v ${command}`], { encoding: "utf8" }).trim();
  } catch {
    onPath = undefined;
  }
  for (const path of [onPath, extra]) {
    if (!path) continue;
    let real: string;
    try {
      real = realpathSync(path);
    } catch {
      continue;
    }
    // pyenv shims all resolve to the same script: tell them apart by what they run.
    const key = real.includes("/.pyenv/shims/") ? path : real;
    if (!found.has(key) && works(path)) found.set(key, path);
  }
  return [...found.values()];
}

function runs(file: string, args: string[]): boolean {
  try {
    execFileSync(file, args, { stdio: "ignore", timeout: 30_000 });
    return true;
  } catch {
    return false;
  }
}

const CLIS = installations("aws", "/usr/bin/aws", (p) => runs(p, ["--version"])).map((path) => {
  const version = execFileSync(path, ["--version"], { encoding: "utf8" }).trim();
  return { path, version, major: Number(/^aws-cli\/(\d+)\./.exec(version)?.[1]) };
});
const PYTHONS = installations("python3", "/usr/bin/python3", (p) => runs(p, ["-c", "import boto3"])).map(
  (path) => ({
    path,
    version: execFileSync(
      path,
      ["-c", "import boto3, sys; print(boto3.__version__, sys.version.split()[0])"],
      {
        encoding: "utf8",
      },
    ).trim(),
  }),
);

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

function run(file: string, args: string[], options: { cwd: string; env: NodeJS.ProcessEnv }): Promise<Run> {
  return new Promise((resolvePromise, reject) => {
    execFile(file, args, { ...options, timeout: 60_000, encoding: "utf8" }, (error, stdout, stderr) => {
      if (error && typeof error.code !== "number") {
        reject(error);
        return;
      }
      resolvePromise({ code: error ? (error.code as number) : 0, stdout, stderr });
    });
  });
}

describe("AWS tools against the KMS server", { timeout: 120_000 }, () => {
  let dir: string;
  let started: StartedKmsServer;
  let appDataArn: string;
  let reportsArn: string;
  const clients: KMS[] = [];
  // The environment of every child: no config or credentials of the machine's user, only what a test passes.
  let baseEnv: NodeJS.ProcessEnv;

  function kmsClient(who: typeof ALICE): KMS {
    const client = new KMS({
      endpoint: started.url,
      region: "us-east-1",
      credentials: { accessKeyId: who.accessKeyId, secretAccessKey: who.secretAccessKey },
      maxAttempts: 1,
    });
    clients.push(client);
    return client;
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "sealkit-kms-aws-tools-"));
    started = await startKmsServer({
      dataDir: join(dir, "kms"),
      credentials: CREDENTIALS_FILE,
      seed: SEED_FILE,
      port: 0,
    });
    const alice = kmsClient(ALICE);
    appDataArn = (await alice.send(new DescribeKeyCommand({ KeyId: "alias/app-data" }))).KeyMetadata!.Arn!;
    reportsArn = (await alice.send(new DescribeKeyCommand({ KeyId: "alias/reports" }))).KeyMetadata!.Arn!;
    baseEnv = {
      PATH: process.env.PATH,
      HOME: dir,
      LANG: "C.UTF-8",
      AWS_CONFIG_FILE: join(dir, "no-aws-config"),
      AWS_SHARED_CREDENTIALS_FILE: join(dir, "no-aws-credentials"),
      AWS_EC2_METADATA_DISABLED: "true",
      AWS_PAGER: "",
    };
    // pyenv's shims find their interpreter through these.
    for (const name of ["PYENV_ROOT", "PYENV_VERSION"]) {
      if (process.env[name] !== undefined) baseEnv[name] = process.env[name];
    }
  });

  afterAll(async () => {
    for (const c of clients) c.destroy();
    await started?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  describe("AWS Encryption SDK for JavaScript (@aws-crypto/client-node 5.0.2)", () => {
    const { encrypt, decrypt } = buildClient(CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT);
    const context = { tenant: "acme", purpose: "orders" };

    // The keyring asks for a client per region (the region of the key ARN); this server answers for us-east-1.
    function provider(who: typeof ALICE) {
      const client = kmsClient(who);
      return (_region: string) => client;
    }

    it("encrypts with an encryption context through GenerateDataKey and decrypts it back (the ESDK's own client factory)", async () => {
      const regions: string[] = [];
      // getClient: the ESDK's own factory (a client per region); limitRegions: only the server's region.
      const factory = getClient(KMS, {
        endpoint: started.url,
        credentials: { accessKeyId: ALICE.accessKeyId, secretAccessKey: ALICE.secretAccessKey },
        maxAttempts: 1,
      });
      const clientProvider = limitRegions(["us-east-1"], (region: string) => {
        regions.push(region);
        const client = factory(region);
        clients.push(client as unknown as KMS);
        return client;
      });
      const keyring = new KmsKeyringNode({ clientProvider, generatorKeyId: appDataArn });
      const plaintext = new TextEncoder().encode("a card number 4111 1111 1111 1111");
      const { result, messageHeader } = await encrypt(keyring, plaintext, { encryptionContext: context });
      expect(messageHeader.encryptedDataKeys.map((k) => [k.providerId, k.providerInfo])).toEqual([
        ["aws-kms", appDataArn],
      ]);
      const opened = await decrypt(keyring, result);
      expect(Buffer.from(opened.plaintext).toString()).toBe("a card number 4111 1111 1111 1111");
      expect(opened.messageHeader.encryptionContext).toMatchObject(context);
      expect(regions.length).toBeGreaterThanOrEqual(2);
      expect(regions.every((r) => r === "us-east-1")).toBe(true);
      // The server saw the ESDK's call, signed as alice, with the context the ESDK bound (its signing key too).
      const events = started.kms.auditLog!.query({
        eventName: "GenerateDataKey",
        principal: ALICE.principal,
      });
      const sent = events.at(-1)?.requestParameters as { encryptionContext?: Record<string, string> };
      expect(sent.encryptionContext).toMatchObject(context);
      expect(Object.keys(sent.encryptionContext ?? {})).toContain("aws-crypto-public-key");
    });

    it("refuses to decrypt a message whose bytes were altered", async () => {
      const keyring = new KmsKeyringNode({ clientProvider: provider(ALICE), generatorKeyId: appDataArn });
      const { result } = await encrypt(keyring, new TextEncoder().encode("x".repeat(100)), {
        encryptionContext: context,
      });
      const altered = Buffer.from(result);
      altered[altered.length - 120]! ^= 1;
      await expect(decrypt(keyring, altered)).rejects.toThrow();
    });

    it("decrypts with a discovery keyring limited to the account, and not with one limited to another", async () => {
      const keyring = new KmsKeyringNode({ clientProvider: provider(ALICE), generatorKeyId: appDataArn });
      const { result } = await encrypt(keyring, new TextEncoder().encode("discovered"), {
        encryptionContext: context,
      });
      const discovery = new KmsKeyringNode({
        clientProvider: provider(ALICE),
        discovery: true,
        discoveryFilter: { accountIDs: [ACCOUNT], partition: "aws" },
      });
      expect(Buffer.from((await decrypt(discovery, result)).plaintext).toString()).toBe("discovered");
      const elsewhere = new KmsKeyringNode({
        clientProvider: provider(ALICE),
        discovery: true,
        discoveryFilter: { accountIDs: ["444455556666"], partition: "aws" },
      });
      await expect(decrypt(elsewhere, result)).rejects.toThrow("unencryptedDataKey has not been set");
    });

    it("encrypts for two keys (GenerateDataKey then Encrypt) and decrypts with either key alone", async () => {
      const generator = provider(ALICE);
      const both = new KmsKeyringNode({
        clientProvider: generator,
        generatorKeyId: appDataArn,
        keyIds: [reportsArn],
      });
      const { result, messageHeader } = await encrypt(both, new TextEncoder().encode("for two keys"), {
        encryptionContext: context,
      });
      expect(messageHeader.encryptedDataKeys.map((k) => k.providerInfo)).toEqual([appDataArn, reportsArn]);
      for (const arn of [appDataArn, reportsArn]) {
        const alone = new KmsKeyringNode({ clientProvider: provider(ALICE), keyIds: [arn] });
        expect(Buffer.from((await decrypt(alone, result)).plaintext).toString()).toBe("for two keys");
      }
      const encrypts = started.kms.auditLog!.query({ eventName: "Encrypt", principal: ALICE.principal });
      expect(encrypts.at(-1)?.resources.map((r) => r.ARN)).toContain(reportsArn);
    });

    it("fails to decrypt when the key policy denies the caller Decrypt (AccessDeniedException inside the ESDK's error)", async () => {
      // alias/reports' policy (examples/seed.yaml) denies kms:Decrypt to bob, not kms:GenerateDataKey.
      const asBob = new KmsKeyringNode({ clientProvider: provider(BOB), generatorKeyId: reportsArn });
      const { result } = await encrypt(asBob, new TextEncoder().encode("not for bob"), {
        encryptionContext: context,
      });
      const error = await decrypt(asBob, result).then(
        () => undefined,
        (e: unknown) => e as Error,
      );
      expect(error).toBeInstanceOf(Error);
      expect(error!.message).toMatch(/^Unable to decrypt data key and one or more KMS CMKs had an error/);
      expect(error!.message).toMatch(/AccessDeniedException/);
      // Alice may decrypt the same message.
      const asAlice = new KmsKeyringNode({ clientProvider: provider(ALICE), keyIds: [reportsArn] });
      expect(Buffer.from((await decrypt(asAlice, result)).plaintext).toString()).toBe("not for bob");
    });

    it("a discovery keyring moves on past a data key the caller may not decrypt to one it may", async () => {
      const forBoth = new KmsKeyringNode({
        clientProvider: provider(ALICE),
        generatorKeyId: reportsArn,
        keyIds: [appDataArn],
      });
      const { result } = await encrypt(forBoth, new TextEncoder().encode("second key"), {
        encryptionContext: context,
      });
      const before = started.kms.auditLog!.query({
        eventName: "Decrypt",
        principal: BOB.principal,
        errorsOnly: true,
      });
      const bobDiscovery = new KmsKeyringNode({ clientProvider: provider(BOB), discovery: true });
      expect(Buffer.from((await decrypt(bobDiscovery, result)).plaintext).toString()).toBe("second key");
      // The first data key (alias/reports) was refused to bob, and audited as such, before the second opened.
      const refused = started.kms.auditLog!.query({
        eventName: "Decrypt",
        principal: BOB.principal,
        errorsOnly: true,
      });
      expect(refused.length).toBe(before.length + 1);
      expect(refused.at(-1)?.errorCode).toBe("AccessDeniedException");
    });
  });

  describe("AWS CLI", () => {
    it("is installed", () => {
      expect(CLIS.length, `no AWS CLI found (aws on PATH or /usr/bin/aws): ${MISSING}`).toBeGreaterThan(0);
    });

    describe.each(CLIS)("$version", (cli) => {
      let work: string;
      let env: NodeJS.ProcessEnv;

      beforeAll(() => {
        work = mkdtempSync(join(dir, "cli-"));
        // The README's commands call `aws`: this CLI goes first on PATH.
        const bin = join(work, "bin");
        mkdirSync(bin);
        symlinkSync(cli.path, join(bin, "aws"));
        env = { ...baseEnv, PATH: `${bin}:${baseEnv.PATH}` };
      });

      it("runs the README's commands as written: create-key, create-alias, encrypt, decrypt, generate-data-key, list-aliases", async () => {
        // The README's alias names one key: a previous CLI's run of the same commands made it already.
        await started.kms.deleteAlias(ROOT, { AliasName: "alias/my-key" }).catch(() => {});
        const script = readmeBlock("**AWS CLI**", "sh").replaceAll(README_ENDPOINT, started.url);
        const out = await run("bash", ["-e", "-o", "pipefail", "-c", script], { cwd: work, env });
        expect(out.stderr).toBe("");
        expect(out.code).toBe(0);
        // decrypt ... --output text --query Plaintext | base64 -d: the plaintext (no newline), not its base64.
        expect(out.stdout.startsWith("hello{")).toBe(true);
        expect(readFileSync(join(work, "ct.bin")).length).toBeGreaterThan(5);
        // generate-data-key and list-aliases print JSON; the new alias is listed with its key.
        const documents = splitJson(out.stdout.slice("hello".length));
        const dataKey = documents.find((d) => "CiphertextBlob" in d) as Record<string, string>;
        expect(dataKey.KeyId).toBe(appDataArn);
        expect(Buffer.from(dataKey.Plaintext!, "base64")).toHaveLength(32);
        const aliases = (documents.find((d) => "Aliases" in d) as { Aliases: { AliasName: string }[] })
          .Aliases;
        expect(aliases.map((a) => a.AliasName)).toEqual(
          expect.arrayContaining(["alias/app-data", "alias/reports", "alias/my-key"]),
        );
        // Every call reached the server as the CLI, signed with alice's key.
        const created = started.kms.auditLog!.query({ eventName: "CreateAlias", principal: ALICE.principal });
        expect(created.at(-1)?.userAgent).toMatch(new RegExp(`^aws-cli/${cli.major}\\.`));
      });

      it("reports a decrypt under the wrong context as InvalidCiphertextException, with the CLI's exit code", async () => {
        const { CiphertextBlob } = await kmsClient(ALICE).send(
          new EncryptCommand({
            KeyId: "alias/app-data",
            Plaintext: new TextEncoder().encode("hello"),
            EncryptionContext: { tenant: "acme" },
          }),
        );
        writeFileSync(join(work, "wrong.bin"), CiphertextBlob!);
        const out = await run(
          "aws",
          [
            "kms",
            "decrypt",
            `--endpoint-url=${started.url}`,
            "--ciphertext-blob",
            "fileb://wrong.bin",
            "--encryption-context",
            "tenant=other",
          ],
          {
            cwd: work,
            env: {
              ...env,
              AWS_ACCESS_KEY_ID: ALICE.accessKeyId,
              AWS_SECRET_ACCESS_KEY: ALICE.secretAccessKey,
              AWS_DEFAULT_REGION: "us-east-1",
            },
          },
        );
        // A service error: 254 from CLI v2, 255 from CLI v1 (its code for every failed command).
        expect(out.code).toBe(cli.major >= 2 ? 254 : 255);
        expect(out.stdout).toBe("");
        expect(out.stderr.trim()).toMatch(
          /^An error occurred \(InvalidCiphertextException\) when calling the Decrypt operation: /,
        );
      });
    });
  });

  describe("boto3", () => {
    it("is installed", () => {
      expect(
        PYTHONS.length,
        `no python3 with boto3 found (python3 on PATH or /usr/bin/python3): ${MISSING}`,
      ).toBeGreaterThan(0);
    });

    describe.each(PYTHONS)("boto3 $version ($path)", (python) => {
      async function py(code: string): Promise<Run> {
        return run(python.path, ["-c", code], { cwd: dir, env: baseEnv });
      }

      it("runs the README's snippet as written", async () => {
        const snippet = readmeBlock("**boto3**", "python").replaceAll(README_ENDPOINT, started.url);
        const out = await py(`${snippet}\nprint("snippet ok", len(dk["Plaintext"]))\n`);
        expect(out.stderr).toBe("");
        expect(out.stdout.trim()).toBe("snippet ok 32");
      });

      it("creates a key, encrypts, decrypts, generates a data key and gets AWS's error codes and statuses", async () => {
        const out = await py(`${BOTO3_PRELUDE.replace("ENDPOINT", started.url)}
key = kms.create_key(Description="boto3")["KeyMetadata"]
out["arn"] = key["Arn"]
ct = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"\\x00\\xffbinary", EncryptionContext={"tenant": "acme"})
out["encryptKeyId"] = ct["KeyId"]
pt = kms.decrypt(CiphertextBlob=ct["CiphertextBlob"], EncryptionContext={"tenant": "acme"})
out["roundTrip"] = pt["Plaintext"] == b"\\x00\\xffbinary" and pt["KeyId"] == key["Arn"]
dk = kms.generate_data_key(KeyId=key["Arn"], NumberOfBytes=64)
out["dataKey"] = [len(dk["Plaintext"]), kms.decrypt(CiphertextBlob=dk["CiphertextBlob"])["Plaintext"] == dk["Plaintext"]]
other = kms.create_key()["KeyMetadata"]["KeyId"]
bad = bytearray(ct["CiphertextBlob"]); bad[-1] ^= 1
out["modeled"] = catch(lambda: kms.describe_key(KeyId="alias/nope"), kms.exceptions.NotFoundException)
err("wrong KeyId", lambda: kms.decrypt(CiphertextBlob=ct["CiphertextBlob"], EncryptionContext={"tenant": "acme"}, KeyId=other))
err("wrong context", lambda: kms.decrypt(CiphertextBlob=ct["CiphertextBlob"], EncryptionContext={"tenant": "evil"}))
err("tampered", lambda: kms.decrypt(CiphertextBlob=bytes(bad), EncryptionContext={"tenant": "acme"}))
err("not a blob", lambda: kms.decrypt(CiphertextBlob=b"not a ciphertext"))
err("unknown alias", lambda: kms.encrypt(KeyId="alias/nope", Plaintext=b"x"))
err("unknown key", lambda: kms.describe_key(KeyId="11111111-2222-3333-4444-555555555555"))
err("KeySpec and NumberOfBytes", lambda: kms.generate_data_key(KeyId=other, KeySpec="AES_256", NumberOfBytes=32))
err("neither", lambda: kms.generate_data_key(KeyId=other))
err("NumberOfBytes 0", lambda: raw.generate_data_key(KeyId=other, NumberOfBytes=0))
err("NumberOfBytes 1025", lambda: raw.generate_data_key(KeyId=other, NumberOfBytes=1025))
err("plaintext 4097", lambda: kms.encrypt(KeyId=other, Plaintext=b"x" * 4097))
err("random 0", lambda: raw.generate_random(NumberOfBytes=0))
err("random 1025", lambda: raw.generate_random(NumberOfBytes=1025))
out["random"] = [len(kms.generate_random(NumberOfBytes=n)["Plaintext"]) for n in (1, 1024)]
out["NumberOfBytes 1024"] = len(kms.generate_data_key(KeyId=other, NumberOfBytes=1024)["Plaintext"])
kms.create_alias(AliasName="alias/boto3-" + other, TargetKeyId=other)
err("duplicate alias", lambda: kms.create_alias(AliasName="alias/boto3-" + other, TargetKeyId=other))
kms.disable_key(KeyId=other)
err("disabled", lambda: kms.encrypt(KeyId=other, Plaintext=b"x"))
kms.enable_key(KeyId=other)
kms.schedule_key_deletion(KeyId=other, PendingWindowInDays=7)
err("pending deletion", lambda: kms.encrypt(KeyId=other, Plaintext=b"x"))
kms.create_alias(AliasName="alias/boto3-second-" + other, TargetKeyId=key["KeyId"])
paged = [a["AliasName"] for page in kms.get_paginator("list_aliases").paginate(PaginationConfig={"PageSize": 1}) for a in page["Aliases"]]
out["paginated"] = [len(paged) >= 5, sorted(paged) == sorted(a["AliasName"] for a in kms.list_aliases()["Aliases"])]
print(json.dumps(out))
`);
        expect(out.stderr).toBe("");
        const r = JSON.parse(out.stdout) as Record<string, unknown>;
        expect(r.encryptKeyId).toBe(r.arn);
        expect(r.roundTrip).toBe(true);
        expect(r.dataKey).toEqual([64, true]);
        expect(r.random).toEqual([1, 1024]);
        expect(r["NumberOfBytes 1024"]).toBe(1024);
        // botocore's paginator follows NextMarker/Truncated one alias per page to the same list.
        expect(r.paginated).toEqual([true, true]);
        // botocore turns the __type into its modeled exception class.
        expect(r.modeled).toBe(true);
        // [code, HTTP status]: the statuses of AWS's KMS service model (docs/KMS-SERVER.md, "Errors").
        expect(r.errors).toEqual({
          "wrong KeyId": ["IncorrectKeyException", 400],
          "wrong context": ["InvalidCiphertextException", 400],
          tampered: ["InvalidCiphertextException", 400],
          "not a blob": ["InvalidCiphertextException", 400],
          "unknown alias": ["NotFoundException", 404],
          "unknown key": ["NotFoundException", 404],
          "KeySpec and NumberOfBytes": ["ValidationException", 400],
          neither: ["ValidationException", 400],
          "NumberOfBytes 0": ["ValidationException", 400],
          "NumberOfBytes 1025": ["ValidationException", 400],
          "plaintext 4097": ["ValidationException", 400],
          "random 0": ["ValidationException", 400],
          "random 1025": ["ValidationException", 400],
          "duplicate alias": ["AlreadyExistsException", 409],
          disabled: ["DisabledException", 409],
          "pending deletion": ["KMSInvalidStateException", 409],
        });
        expect((r.messages as Record<string, string>)["unknown alias"]).toBe(
          `Alias arn:aws:kms:us-east-1:${ACCOUNT}:alias/nope is not found.`,
        );
        expect((r.messages as Record<string, string>).disabled).toMatch(
          /^arn:aws:kms:us-east-1:\d{12}:key\/[0-9a-f-]{36} is disabled\.$/,
        );
        expect((r.messages as Record<string, string>)["pending deletion"]).toMatch(/ is pending deletion\.$/);
      });
    });
  });
});

// Clients as in the README (kms), and one without botocore's client-side checks (raw) so that the server's own
// bounds answer; err() records [code, status] and the message of a ClientError.
const BOTO3_PRELUDE = `
import json, boto3, botocore.exceptions
from botocore.config import Config
args = dict(endpoint_url="ENDPOINT", region_name="us-east-1",
            aws_access_key_id="${ALICE.accessKeyId}", aws_secret_access_key="${ALICE.secretAccessKey}")
kms = boto3.client("kms", config=Config(retries={"max_attempts": 1}), **args)
raw = boto3.client("kms", config=Config(retries={"max_attempts": 1}, parameter_validation=False), **args)
out = {"errors": {}, "messages": {}}
def err(label, call):
    try:
        call()
        out["errors"][label] = "no error"
    except botocore.exceptions.ClientError as e:
        out["errors"][label] = [e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"]]
        out["messages"][label] = e.response["Error"].get("Message")
def catch(call, cls):
    try:
        call()
        return False
    except cls:
        return True
`;

/** The JSON documents the CLI printed one after another (pretty-printed, each starting with "{" on its own line). */
function splitJson(stdout: string): Record<string, unknown>[] {
  const docs: Record<string, unknown>[] = [];
  for (const part of stdout.split(/^(?=\{$)/m)) {
    const end = part.lastIndexOf("}");
    if (!part.startsWith("{") || end < 0) continue;
    docs.push(JSON.parse(part.slice(0, end + 1)) as Record<string, unknown>);
  }
  return docs;
}
