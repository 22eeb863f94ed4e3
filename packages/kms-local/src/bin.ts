#!/usr/bin/env node
// sealkit-kms: run the local KMS as an AWS KMS-compatible HTTP server (`sealkit-kms serve ...`).

import { parseArgs } from "node:util";
import { checkCors } from "./server/cors.js";
import { seedSummary } from "./server/seed.js";
import { serveUntilSignal, startKmsServer } from "./server/start.js";

const USAGE = `Usage: sealkit-kms serve --data-dir <dir> --credentials <file> [options]

Options:
  --port <n>                 port to listen on (default 4600; 0 picks a free one)
  --host <addr>              address to listen on (default 127.0.0.1)
  --data-dir <dir>           the local KMS's state (created if missing)
  --credentials <file>       JSON: { "credentials": [ { "accessKeyId", "secretAccessKey", "principal" } ] }
  --region <region>          region in ARNs and SigV4 scopes (default us-east-1)
  --account <id>             account owning the keys (default: the first credential's)
  --seed <file>              YAML or JSON seed of keys and aliases, applied idempotently at start
  --throttle                 enable AWS-like request quotas (ThrottlingException)
  --allow-unsigned-as <arn>  DEVELOPMENT ONLY: accept unsigned requests as this principal
  --cors-origin <origin>     let browser pages of this origin call the server (repeatable; "*": any origin)
  --max-connections <n>      open connections at most (default 1024)
  --max-body-bytes <n>       largest request body (default 1048576)
`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === "--help" || command === "-h" || command === undefined) {
    process.stdout.write(USAGE);
    return command === undefined ? 2 : 0;
  }
  if (command !== "serve") {
    process.stderr.write(`sealkit-kms: unknown command "${command}"\n${USAGE}`);
    return 2;
  }
  let values: Record<string, string | boolean | string[] | undefined>;
  try {
    ({ values } = parseArgs({
      args: rest,
      options: {
        port: { type: "string", default: "4600" },
        host: { type: "string", default: "127.0.0.1" },
        "data-dir": { type: "string" },
        credentials: { type: "string" },
        region: { type: "string", default: "us-east-1" },
        account: { type: "string" },
        seed: { type: "string" },
        throttle: { type: "boolean", default: false },
        "allow-unsigned-as": { type: "string" },
        "cors-origin": { type: "string", multiple: true },
        "max-connections": { type: "string" },
        "max-body-bytes": { type: "string" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
    }));
  } catch (e) {
    process.stderr.write(`sealkit-kms: ${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (typeof values["data-dir"] !== "string" || typeof values.credentials !== "string") {
    process.stderr.write(`sealkit-kms: --data-dir and --credentials are required\n${USAGE}`);
    return 2;
  }
  let port: number;
  let limits: { maxConnections?: number; maxBodyBytes?: number };
  const corsOrigins = values["cors-origin"] as string[] | undefined;
  try {
    if (corsOrigins !== undefined)
      checkCors({ allowedOrigins: corsOrigins }, values["allow-unsigned-as"] !== undefined);
    // An empty host is not "the default": node listens on every interface for it.
    if ((values.host as string).trim() === "")
      throw new RangeError('--host expected an address, got "" (which would listen on every interface)');
    port = integer(values.port as string, "--port");
    // Checked here, before the data dir is opened and the seed applied (listen() found a bad port only after).
    if (port > 65535) throw new RangeError(`--port expected 0 to 65535, got ${port}`);
    limits = {
      ...(values["max-connections"] !== undefined
        ? { maxConnections: positiveInteger(values["max-connections"] as string, "--max-connections") }
        : {}),
      ...(values["max-body-bytes"] !== undefined
        ? { maxBodyBytes: positiveInteger(values["max-body-bytes"] as string, "--max-body-bytes") }
        : {}),
    };
  } catch (e) {
    process.stderr.write(`sealkit-kms: ${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  const unsignedAs = values["allow-unsigned-as"] as string | undefined;
  const started = await startKmsServer({
    dataDir: values["data-dir"],
    credentials: values.credentials,
    port,
    host: values.host as string,
    region: values.region as string,
    ...(values.account ? { account: values.account as string } : {}),
    ...(values.seed ? { seed: values.seed as string } : {}),
    throttle: values.throttle === true,
    ...(unsignedAs !== undefined ? { allowUnsignedAs: unsignedAs } : {}),
    ...(corsOrigins !== undefined ? { cors: { allowedOrigins: corsOrigins } } : {}),
    limits,
  });
  if (values.seed) process.stdout.write(`${seedSummary(started.seeded)}\n`);
  process.stdout.write(
    `sealkit kms listening on ${started.url} (region ${values.region}, account ${started.kms.location.account})\n`,
  );
  try {
    await serveUntilSignal(started);
    return 0;
  } catch (e) {
    process.stderr.write(`sealkit-kms: error while stopping: ${(e as Error).message}\n`);
    return 1;
  }
}

function positiveInteger(text: string, name: string): number {
  const n = integer(text, name);
  if (n === 0) throw new RangeError(`${name} expected a positive integer, got "0"`);
  return n;
}

function integer(text: string, name: string): number {
  // Digits only: Number() reads "" and " " as 0 (--port "" listened on a random port), "0x10" as 16, "1e3" as 1000.
  const n = /^[0-9]{1,15}$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isInteger(n) || n < 0)
    throw new RangeError(`${name} expected a non-negative integer, got ${JSON.stringify(text)}`);
  return n;
}

// The console is best-effort: a supervisor or pipe that stops reading (closed stdout: EPIPE) must not turn the next
// line written, such as "SIGTERM: finishing requests in flight", into an uncaught 'error' that kills the process
// before the graceful stop (requests in flight unanswered, the local KMS not closed).
process.stdout.on("error", () => {});
process.stderr.on("error", () => {});

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e) => {
    process.stderr.write(`sealkit-kms: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}\n`);
    process.exit(1);
  },
);
