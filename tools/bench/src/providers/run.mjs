// The key-provider benchmark: what each provider costs per 1 KiB envelope, uncached and cached, in one run.
//   node tools/bench/src/providers/run.mjs [--quick] [--write] [--only raw,local,server,hsm,remote]
// Prints the table; --write replaces the "## Key providers" section of BENCHMARKS.md. Exits non-zero only when a
// message fails to round-trip or a provider fails.

import { availableParallelism, loadavg } from "node:os";
import { parseArgs } from "node:util";
import { writeSection } from "../cipher/benchmarks-md.mjs";
import { markdownTable } from "../cipher/report.mjs";
import { providersMarkdown, runProvidersBench } from "./providers.mjs";

const { values } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    write: { type: "boolean", default: false },
    only: { type: "string" },
  },
});
const log = (line) => process.stderr.write(`${line}\n`);

try {
  const startLoad = loadavg()[0];
  const result = await runProvidersBench({ quick: values.quick, only: values.only?.split(","), log });
  const command = `node tools/bench/src/providers/run.mjs${process.argv
    .slice(2)
    .map((a) => ` ${a}`)
    .join("")}`;
  const body = [
    `Command: \`pnpm bench:providers\` (${command}). Measured ${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC on ${availableParallelism()} cores, Node ${process.version}; load average ${startLoad.toFixed(1)} at the start, ${loadavg()[0].toFixed(1)} at the end.`,
    `Each row encrypts ${result.messages} messages of 1 KiB one after another (XChaCha20-Poly1305, one envelope each, with an encryption context), then decrypts them, median of ${result.rounds} round(s) after a warm-up that checks every message round-trips. Cached rows put core's \`cachingProvider\` in front of the same provider, with limits well above one run (10 minutes, 10^6 messages), so they show a cache at its best: one data key for the whole run. "Provider calls" are the calls that reached the provider behind the cache.`,
    "",
    providersMarkdown(result, { markdownTable }),
    ...(result.skipped.length > 0
      ? ["", ...result.skipped.map((s) => `Not measured: ${s.name} (${s.reason}).`)]
      : []),
    "",
    "Every provider is the real one on this machine: the local KMS on SQLite with its audit log made durable before each answer; the same KMS behind its HTTP server in another process, reached with SigV4 through @sealkit/kms-aws and the AWS SDK; a SoftHSM2 token (file object store) over PKCS#11; and @sealkit/remote's handler on a node:http server in this process, with a local KMS behind it (so its row pays for both sides). [docs/PROVIDERS.md](docs/PROVIDERS.md) reads these numbers for choosing a provider.",
  ].join("\n");
  console.log(body);
  if (values.write) log(`wrote the "## Key providers" section of ${writeSection("## Key providers", body)}`);
} catch (error) {
  console.error(error?.stack ?? error);
  process.exitCode = 1;
}
