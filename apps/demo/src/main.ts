// `pnpm demo`: starts the Sealkit demo on the embedded local KMS and prints where to open it.

import { resolve } from "node:path";
import { type ProviderKind, startDemo } from "./start-demo.js";

const dataDir = resolve(
  process.env.SEALKIT_DEMO_DIR ?? resolve(process.env.INIT_CWD ?? process.cwd(), ".sealkit/demo"),
);
const provider = (process.env.SEALKIT_DEMO_PROVIDER ?? "local") as ProviderKind;
if (!["local", "aws", "pkcs11"].includes(provider)) {
  console.error(`SEALKIT_DEMO_PROVIDER must be local, aws or pkcs11, not "${provider}"`);
  process.exit(2);
}
const port = (name: string, fallback: number) => {
  const text = process.env[name];
  const value = text === undefined || text === "" ? fallback : Number(text);
  if (!Number.isInteger(value) || value < 0 || value > 65535) {
    console.error(`${name} must be a port number from 0 to 65535, not "${text}"`);
    process.exit(2);
  }
  return value;
};

const ports = {
  PORT: port("PORT", 3000),
  SEALKIT_KMS_PORT: port("SEALKIT_KMS_PORT", 4600),
  SEALKIT_EDGE_PORT: port("SEALKIT_EDGE_PORT", 8787),
};

/** What to do about a port in use: which of the variables chose it. */
function portHint(error: unknown): string {
  const { code, port: taken } = error as { code?: string; port?: number };
  if (code !== "EADDRINUSE") return "";
  const names = Object.entries(ports)
    .filter(([, value]) => value === taken)
    .map(([name]) => name);
  return ` (another process uses it: set ${names.length ? names.join(" or ") : Object.keys(ports).join(", ")} to a free port)`;
}

try {
  const demo = await startDemo({
    dataDir,
    provider,
    ports: { web: ports.PORT, kms: ports.SEALKIT_KMS_PORT, edge: ports.SEALKIT_EDGE_PORT },
  });
  let stopping = false;
  const stop = async (signal: "SIGINT" | "SIGTERM") => {
    if (stopping) {
      // A second Ctrl-C while stopping: stop now.
      console.log(`  ${signal} again: exiting without waiting.`);
      process.exit(signal === "SIGINT" ? 130 : 143);
    }
    stopping = true;
    console.log(`\n  ${signal}: stopping…`);
    await demo.close();
    console.log("  stopped.");
    process.exit(0);
  };
  // Miniflare (the edge worker) installed SIGINT and SIGTERM listeners that kill workerd and exit at once (130,
  // 143), before any of ours could run: the demo never stopped gracefully. Ours replace them; demo.close()
  // disposes Miniflare, and Miniflare's own "exit" hook still stops workerd if the process ends another way.
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.removeAllListeners(signal);
    process.on(signal, () => void stop(signal));
  }
  // The banner only once the handlers are installed: a signal right after it stops the demo gracefully.
  console.log(`
  Sealkit demo is running.

    Web page      ${demo.url}      sign in as alice/alice (tenant acme) or bob/bob (tenant globex)
    Edge worker   ${demo.edgeUrl}   (workerd) serves envelopes, decrypting Range requests on the fly
    KMS endpoint  ${demo.kmsUrl}   AWS KMS protocol; credentials in ${dataDir}/credentials.json
    Master key    ${demo.keyArn} (alias/demo-files), data keys through the ${demo.provider} provider
    Data          ${dataDir}

  Press Ctrl-C to stop.
`);
} catch (error) {
  console.error(`The demo could not start: ${(error as Error).message}${portHint(error)}`);
  process.exit(1);
}
