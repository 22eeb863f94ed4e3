// The kms-aws benchmark on its own (it also runs at the end of `pnpm bench`):
//   node tools/bench/src/kms-aws/run.mjs [--quick] [--write]
// Prints the table; --write replaces the "## kms-aws provider" section of BENCHMARKS.md. Exits non-zero only when
// a round trip fails.

import { availableParallelism, loadavg } from "node:os";
import { writeSection } from "../cipher/benchmarks-md.mjs";
import { markdownTable } from "../cipher/report.mjs";
import { kmsAwsMarkdown, runKmsAwsBench } from "./kms-aws.mjs";

const argv = process.argv.slice(2);
const quick = argv.includes("--quick");
const log = (line) => process.stderr.write(`${line}\n`);

try {
  const result = await runKmsAwsBench({ quick, log });
  if (result.skipped) {
    console.log(`kms-aws benchmark skipped: ${result.skipped}`);
  } else {
    const rounds = quick ? 1 : 3;
    const body = [
      `Measured ${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC on ${availableParallelism()} cores, Node ${process.version}, load average ${loadavg()[0].toFixed(1)} at the end; command: \`node tools/bench/src/kms-aws/run.mjs ${argv.join(" ")}\` (also part of \`pnpm bench\`).`,
      `The local KMS server (packages/kms-local: SigV4, key policies, audit log made durable before each response) runs in its own process on the same machine; each stack encrypts, then decrypts, 1 KiB messages one after another, median of ${rounds} round(s), after checking every message round-trips. Caching: core's \`cachingProvider\` and the SDK's \`NodeCachingMaterialsManager\`, both with limits well above one run (10 min, 10^6 messages); the KMS call counts come from the server's /metrics.`,
      `Target: cached 1 KiB encryption at least 20x the AWS Encryption SDK's default configuration (KMS keyring, no cache): **${result.target.measured}, ${result.target.met ? "met" : "missed"}**.`,
      "",
      kmsAwsMarkdown(result, { markdownTable }),
      "",
      "Uncached, both stacks make one KMS call per message (GenerateDataKey to encrypt, Decrypt to decrypt). The SDK's default suite also signs every message with ECDSA P-384 and verifies on decryption, which caps its cached rate well below Sealkit's; with a cache, neither makes a KMS call within the limits.",
    ].join("\n");
    console.log(body);
    if (argv.includes("--write"))
      log(`wrote the kms-aws section of ${writeSection("## kms-aws provider", body)}`);
  }
} catch (error) {
  console.error(error?.stack ?? error);
  process.exitCode = 1;
}
