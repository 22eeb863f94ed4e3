// `sealkit kms serve` (kms-local's startKmsServer, optionally with an HSM root key) and `sealkit bench`.

import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { SealkitError } from "@sealkit/core";
import { parseJsonText, resolveSettings } from "../config.js";
import { UsageError } from "../exit-codes.js";

export interface ServeFlags {
  port?: string;
  host?: string;
  dataDir?: string;
  credentials?: string;
  region?: string;
  account?: string;
  seed?: string;
  throttle?: boolean;
  allowUnsignedAs?: string;
  corsOrigin?: string[];
  hsm?: string;
  quiet?: boolean;
}

/** Opens the HSM root key from a JSON config and proves it works, or fails: never a fallback to a key file. */
async function hsmRootKey(file: string) {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    throw new UsageError(`cannot read the HSM config ${file}: ${(error as Error).message}`);
  }
  // Parsed here, not by parsePkcs11Config: its syntax error would quote the text around the mistake, a PIN included.
  const config = parseJsonText(text, `the HSM config ${file}`);
  const { parsePkcs11Config, pkcs11KeyWrapper } = await import("@sealkit/kms-cloudhsm");
  const wrapper = pkcs11KeyWrapper(parsePkcs11Config(config as never));
  try {
    const probe = new Uint8Array(32);
    const aad = new TextEncoder().encode("sealkit-cli/hsm-probe");
    await wrapper.unwrap(await wrapper.wrap(probe, aad), aad);
  } catch (error) {
    await wrapper.close?.().catch(() => {});
    const code = SealkitError.isInstance(error) ? error.code : "ERR_PROVIDER_UNAVAILABLE";
    throw new SealkitError(
      code,
      `the HSM root key in ${file} cannot be used (${(error as Error).message}); the KMS does not start without it and never falls back to a key file`,
      { cause: error },
    );
  }
  return wrapper;
}

/** `sealkit kms serve`: runs until SIGINT, SIGTERM or SIGHUP, finishing requests in flight (see serveUntilSignal). */
export async function serveCommand(flags: ServeFlags): Promise<void> {
  if (!flags.credentials && !flags.allowUnsignedAs) {
    throw new UsageError(
      "kms serve needs --credentials <file> (or, for development only, --allow-unsigned-as <arn>)",
    );
  }
  const port = Number(flags.port ?? "4600");
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError("--port expected 0 to 65535");
  // As every other command: the flag, then SEALKIT_DATA_DIR, then the config profile's dataDir, then the default.
  const { dataDir } = resolveSettings(flags.dataDir ? { dataDir: flags.dataDir } : {});
  const { checkCors, seedSummary, serveUntilSignal, startKmsServer } = await import("@sealkit/kms-local");
  const cors = flags.corsOrigin ? { allowedOrigins: flags.corsOrigin } : undefined;
  if (cors) {
    try {
      checkCors(cors, flags.allowUnsignedAs !== undefined);
    } catch (error) {
      throw new UsageError(
        `--cors-origin: ${(error as Error).message.replace(/^cors\.allowedOrigins:? /, "")}`,
      );
    }
  }
  const rootKey = flags.hsm ? await hsmRootKey(flags.hsm) : undefined;
  if (flags.allowUnsignedAs) {
    process.stderr.write(
      `\n!!! WARNING: --allow-unsigned-as is ON. Requests WITHOUT a signature are accepted as ${flags.allowUnsignedAs}.\n!!! Anyone who can reach this port can use your keys. Never use this outside development.\n\n`,
    );
  }
  const started = await startKmsServer({
    dataDir,
    credentials: flags.credentials ?? [],
    port,
    host: flags.host ?? "127.0.0.1",
    ...(flags.region ? { region: flags.region } : {}),
    ...(flags.account ? { account: flags.account } : {}),
    ...(flags.seed ? { seed: flags.seed } : {}),
    ...(flags.throttle ? { throttle: true } : {}),
    ...(flags.allowUnsignedAs ? { allowUnsignedAs: flags.allowUnsignedAs } : {}),
    ...(cors ? { cors } : {}),
    ...(rootKey ? { rootKey } : {}),
  }).catch(async (error) => {
    await rootKey?.close?.().catch(() => {});
    throw error;
  });
  if (flags.seed) process.stdout.write(`${seedSummary(started.seeded)}\n`);
  process.stdout.write(
    `sealkit kms listening on ${started.url} (region ${started.kms.location.region}, account ${started.kms.location.account}, data dir ${dataDir}${rootKey ? `, root key ${rootKey.description}` : ""})\n`,
  );
  await serveUntilSignal(started, { afterClose: () => rootKey?.close?.() });
}

/** Finds tools/bench of the Sealkit checkout this CLI runs from. */
function benchDir(): string | undefined {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const candidate = join(dir, "tools", "bench", "package.json");
    if (existsSync(candidate)) return dirname(candidate);
    dir = resolve(dir, "..");
  }
  return undefined;
}

/** `sealkit bench [--quick]`: runs tools/bench's cipher benchmark (its `bench` script) in a child process. */
export async function benchCommand(flags: { quick?: boolean }): Promise<number> {
  const dir = benchDir();
  if (!dir) throw new UsageError("sealkit bench runs from a Sealkit checkout (tools/bench was not found)");
  const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as {
    scripts?: Record<string, string>;
  };
  const script = pkg.scripts?.bench;
  const m = script ? /^node\s+(\S+)(.*)$/.exec(script) : null;
  if (!m) throw new Error(`tools/bench's "bench" script is not "node <file>": ${script}`);
  const args = [m[1]!, ...m[2]!.trim().split(/\s+/).filter(Boolean), ...(flags.quick ? ["--quick"] : [])];
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, args, { cwd: dir, stdio: "inherit" });
    child.on("error", fail);
    child.on("exit", (code, signal) => done(code ?? (signal ? 1 : 0)));
  });
}
