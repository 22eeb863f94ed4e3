// `pnpm --filter @sealkit/bench bench:kms-aws`: the kms-aws benchmark alone (issue 6). Prints the table; with
// --write (or BENCH_WRITE=1) replaces the "## kms-aws" section of BENCHMARKS.md. --quick for a short smoke run.
// Needs `pnpm build` first (packages/kms-aws/dist and the KMS server's packages/kms-local/dist/bin.js).

import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { fileURLToPath } from "node:url";
import { kmsAwsMarkdown, runKmsAwsBench } from "./kms-aws.mjs";

const BENCHMARKS_MD = fileURLToPath(new URL("../../../../BENCHMARKS.md", import.meta.url));
const HEADING = "## kms-aws";

function markdownTable(head, rows) {
  const line = (cells) => `| ${cells.join(" | ")} |`;
  return [line(head), line(head.map((_, i) => (i === 0 ? "---" : "---:"))), ...rows.map(line)].join("\n");
}

/** Replaces the section under `heading` (up to the next "## ") or appends it. */
function replaceSection(markdown, heading, body) {
  const lines = markdown.split("\n");
  const start = lines.findIndex((l) => l.trimEnd() === heading);
  const section = `${heading}\n\n${body.trim()}\n`;
  if (start === -1) return `${markdown.trimEnd()}\n\n${section}`;
  let end = lines.findIndex((l, i) => i > start && /^## /.test(l));
  if (end === -1) end = lines.length;
  const before = lines.slice(0, start).join("\n");
  const after = lines.slice(end).join("\n");
  return `${before}${before ? "\n" : ""}${section}${after ? `\n${after}` : ""}`;
}

const argv = process.argv.slice(2);
const quick = argv.includes("--quick") || process.env.BENCH_QUICK === "1";
const write = argv.includes("--write") || process.env.BENCH_WRITE === "1";
const log = (m) => process.stderr.write(`${m}\n`);

const result = await runKmsAwsBench({ quick, log });
if (result.skipped) {
  log(`kms-aws benchmark skipped: ${result.skipped}`);
  process.exit(0);
}
const rounds = quick ? 1 : 3;
const command = `pnpm --filter @sealkit/bench bench:kms-aws${quick ? " --quick" : ""}${write ? " --write" : ""}`;
const body = [
  `Measured ${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC on ${cpus().length} cores (${cpus()[0]?.model.trim()}), Node ${process.versions.node}, by \`${command}\` (after \`pnpm build\`).`,
  "The Sealkit KMS server (packages/kms-local: SigV4, key policies, hash-chained audit log written before each response) runs as a child process on the same machine; every stack encrypts, then decrypts, 1 KiB messages one after another through it over HTTP with the real `@aws-sdk/client-kms`, " +
    `median of ${rounds} round(s). Each stack first round-trips every message (correctness). ` +
    "Caching: core's `cachingProvider` and the AWS Encryption SDK's `NodeCachingMaterialsManager` with `getLocalCryptographicMaterialsCache`, both with limits above one run (10 min, 10^6 messages). " +
    "The AWS Encryption SDK runs its default configuration (`REQUIRE_ENCRYPT_REQUIRE_DECRYPT`: a committing suite with an ECDSA P-384 signature per message).",
  `Target: cached small-message encryption at least 20x the AWS Encryption SDK's default configuration: **${result.target.measured}, ${result.target.met ? "met" : "missed"}**.`,
  "",
  kmsAwsMarkdown(result, { markdownTable }),
  "",
  "KMS calls are the server's own counts (GET /metrics) during one timed round.",
].join("\n");
console.log(body);
if (write) {
  const current = existsSync(BENCHMARKS_MD) ? readFileSync(BENCHMARKS_MD, "utf8") : "# Benchmarks\n";
  writeFileSync(BENCHMARKS_MD, replaceSection(current, HEADING, body));
  log(`wrote the ${HEADING} section of ${BENCHMARKS_MD}`);
}
