// `pnpm bench`: the cipher benchmark of issue 3. Throughput of Sealkit against its baselines in Node and in
// Chromium, memory while streaming 1 GiB, and decryptRange's reads; prints tables, optionally updates BENCHMARKS.md.
//
//   pnpm bench [-- --quick] [-- --write] [-- --no-browser --no-memory --no-range --rounds=N]
//   node tools/bench/src/cipher/run.mjs [same flags]
// Exits non-zero only when a correctness check fails; missed targets are reported in the tables.

import { readFileSync } from "node:fs";
import { availableParallelism, cpus } from "node:os";
import sodium from "libsodium-wrappers";
import { kmsAwsMarkdown, runKmsAwsBench } from "../kms-aws/kms-aws.mjs";
import { runWorkload } from "./bench.mjs";
import { writeCipherSection, writeSection } from "./benchmarks-md.mjs";
import { runInBrowser } from "./browser.mjs";
import {
  bulkWorkload,
  libsodiumHeapImplementation,
  libsodiumImplementation,
  sealkitImplementation,
  sealkitStreamImplementation,
  smallWorkload,
  WEB_CRYPTO_WINDOW,
  webCryptoAesImplementation,
} from "./cases.mjs";
import { randomBytes } from "./data.mjs";
import { measureStreamingMemory } from "./memory.mjs";
import { awsSdkImplementation, nodeCryptoImplementation } from "./node-cases.mjs";
import { measureRange } from "./range.mjs";
import { evaluateTargets, markdownTable, RATIO_TARGETS, targetsTable, throughputTable } from "./report.mjs";
import { loadSealkit } from "./sealkit.mjs";

const MiB = 1024 * 1024;
const MEMORY_LIMIT = 64 * MiB;

/** Browser targets: node:crypto does not exist there, so the AES suite is held against Web Crypto itself. */
const BROWSER_TARGETS = [
  ["sealkit-xchacha", "libsodium", 1.0, ["bulk"]],
  ["sealkit-aes", "webcrypto-aes", 0.5, ["bulk"]],
];

export function parseOptions(argv, env) {
  const has = (flag) => argv.includes(flag);
  const value = (name) => argv.find((a) => a.startsWith(`--${name}=`))?.split("=")[1];
  const quick = has("--quick") || env.BENCH_QUICK === "1";
  return {
    quick,
    write: has("--write") || env.BENCH_WRITE === "1",
    browser: !(has("--no-browser") || env.BENCH_NO_BROWSER === "1"),
    memory: !has("--no-memory"),
    range: !has("--no-range"),
    kmsAws: !has("--no-kms-aws"),
    rounds: Number(value("rounds") ?? (quick ? 2 : 5)),
    only: value("only")?.split(","),
    skipSmall: has("--no-small"),
    warmup: 1,
    bulkBytes: (quick ? 8 : 64) * MiB,
    smallMessages: quick ? 256 : 2048,
    smallSize: 1024,
    streamBytes: (quick ? 64 : 1024) * MiB,
    rangeEnvelopeBytes: (quick ? 64 : 1024) * MiB,
  };
}

function machine() {
  let cpu = cpus()[0]?.model ?? "unknown";
  try {
    // os.cpus() may report a short model name in containers; /proc/cpuinfo has the full one.
    cpu =
      readFileSync("/proc/cpuinfo", "utf8")
        .match(/^model name\s*:\s*(.+)$/m)?.[1]
        ?.trim() ?? cpu;
  } catch {}
  return { nproc: availableParallelism(), cpu, node: process.version };
}

function commandLine(argv, env) {
  if (env.npm_lifecycle_event === "bench") return `pnpm bench${argv.length ? ` -- ${argv.join(" ")}` : ""}`;
  return ["node", ...process.execArgv, "tools/bench/src/cipher/run.mjs", ...argv].join(" ");
}

const log = (line) => process.stderr.write(`${line}\n`);
const fmt = (n, d = 0) =>
  Number.isFinite(n)
    ? n.toLocaleString("en-US", { maximumFractionDigits: d, minimumFractionDigits: d })
    : "n/a";
const mib = (bytes) => `${fmt(bytes / MiB, 1)} MiB`;

function nodeImplementations(sealkit) {
  const list = [];
  if (sealkit.oneShot) {
    list.push(sealkitImplementation(sealkit.cipher, sealkit.providers, "XCHACHA20_POLY1305"));
    list.push(sealkitImplementation(sealkit.cipher, sealkit.providers, "AES_256_GCM"));
  }
  if (sealkit.streams) {
    list.push(sealkitStreamImplementation(sealkit.cipher, sealkit.providers, "XCHACHA20_POLY1305"));
    list.push(sealkitStreamImplementation(sealkit.cipher, sealkit.providers, "AES_256_GCM"));
  }
  return list;
}

async function main() {
  const argv = process.argv.slice(2);
  const options = parseOptions(argv, process.env);
  const started = Date.now();
  const info = machine();
  log(
    `cipher benchmark${options.quick ? " (quick)" : ""}: ${info.nproc} cores, ${info.cpu}, Node ${info.node}`,
  );
  await sodium.ready;
  const sealkit = await loadSealkit();
  const notes = [...sealkit.notes];
  for (const note of notes) log(`note: ${note}`);

  const implementations = [
    ...nodeImplementations(sealkit),
    libsodiumImplementation(sodium),
    libsodiumHeapImplementation(sodium),
    nodeCryptoImplementation("chacha20-poly1305"),
    nodeCryptoImplementation("aes-256-gcm"),
    await webCryptoAesImplementation(crypto.subtle, WEB_CRYPTO_WINDOW),
    awsSdkImplementation(),
  ].filter((impl) => !options.only || options.only.includes(impl.id));

  const sections = [];
  const extraTargets = [];
  const small = `${options.smallMessages} messages of 1 KiB (the AWS SDK: 128), each its own envelope or AEAD call`;

  // Node throughput.
  log(`Node: ${mib(options.bulkBytes)} in 64 KiB frames`);
  const nodeResults = await runWorkload(implementations, bulkWorkload(randomBytes(options.bulkBytes)), {
    ...options,
    log,
  });
  if (!options.skipSmall) {
    log(`Node: ${small}`);
    const messages = Array.from({ length: options.smallMessages }, () => randomBytes(options.smallSize));
    nodeResults.push(...(await runWorkload(implementations, smallWorkload(messages), { ...options, log })));
  }
  const targets = evaluateTargets(nodeResults, RATIO_TARGETS);
  sections.push(
    [
      `### Node ${info.node}: ${mib(options.bulkBytes)}, default frame size (64 KiB)`,
      "",
      throughputTable(nodeResults, "bulk"),
    ].join("\n"),
    [`### Node ${info.node}: ${small}`, "", throughputTable(nodeResults, "small")].join("\n"),
  );

  // Browser throughput.
  let browserTargets = [];
  if (options.browser) {
    log("Chromium: bundling the page and launching /usr/bin/chromium");
    try {
      const { results, browser } = await runInBrowser(options, {
        withSealkit: sealkit.oneShot || sealkit.streams,
        log,
      });
      browserTargets = evaluateTargets(results, BROWSER_TARGETS).map((t) => ({
        ...t,
        text: `[${browser}] ${t.text}`,
      }));
      sections.push(
        [
          `### ${browser}: ${mib(options.bulkBytes)}, default frame size (64 KiB)`,
          "",
          throughputTable(results, "bulk"),
        ].join("\n"),
        [
          `### ${browser}: ${options.smallMessages} messages of 1 KiB`,
          "",
          throughputTable(results, "small"),
        ].join("\n"),
      );
    } catch (error) {
      if (error.correctness) throw error;
      notes.push(`browser run failed: ${error.message.split("\n")[0]}`);
      log(`browser run failed: ${error.stack}`);
    }
  }

  // Memory while streaming.
  if (options.memory) {
    if (!sealkit.streams) notes.push("memory benchmark skipped: no encryptStream/decryptStream yet");
    else {
      const rows = [];
      for (const suite of ["XCHACHA20_POLY1305", "AES_256_GCM"]) {
        log(
          `memory: streaming ${mib(options.streamBytes)} through encryptStream -> decryptStream (${suite}) in a child process`,
        );
        const m = await measureStreamingMemory(options.streamBytes, suite);
        rows.push([
          suite,
          mib(m.bytes),
          fmt(m.mbps),
          mib(m.above.rss),
          mib(m.above.heapUsed),
          mib(m.above.arrayBuffers),
          fmt(m.samples),
        ]);
        extraTargets.push({
          text: `peak RSS above baseline, streaming ${mib(m.bytes)} (${suite})`,
          goal: "< 64 MiB",
          measured: mib(m.above.rss),
          met: m.above.rss < MEMORY_LIMIT,
        });
      }
      sections.push(
        [
          `### Memory: ${mib(options.streamBytes)} generated on the fly through encryptStream -> decryptStream, one child process per suite`,
          "",
          "Peaks of `process.memoryUsage()` above the baseline taken after a warm-up and GC; sampled every 5 ms and every few chunks.",
          "",
          markdownTable(
            [
              "suite",
              "streamed",
              "MB/s (enc+dec)",
              "RSS peak",
              "heapUsed peak",
              "arrayBuffers peak",
              "samples",
            ],
            rows,
          ),
        ].join("\n"),
      );
    }
  }

  // decryptRange.
  if (options.range) {
    if (!sealkit.range) notes.push("decryptRange benchmark skipped: no decryptRange yet");
    else {
      log(`range: decryptRange of 1 MiB from the middle of a ${mib(options.rangeEnvelopeBytes)} envelope`);
      const r = await measureRange(sealkit, { envelopeBytes: options.rangeEnvelopeBytes, log });
      sections.push(
        [
          `### decryptRange: 1 MiB from the middle of a ${mib(r.plaintextBytes)} envelope in a temp file (${r.suite})`,
          "",
          markdownTable(
            ["what", "value"],
            [
              ["range [start, end)", `[${fmt(r.start)}, ${fmt(r.end)})`],
              ["time (median of 5)", `${fmt(r.ms, 1)} ms`],
              ["reads from the source", fmt(r.reads)],
              [
                "bytes read",
                `${fmt(r.bytesRead)} (header ${fmt(r.headerBytes)}, outside header and range frames ${fmt(r.extraBytes)})`,
              ],
              [
                "frames holding the range",
                `${r.neededFrames} (frames ${r.neededFrameRange[0]}..${r.neededFrameRange[1]})`,
              ],
              ["frames read whole (so authenticated at most)", fmt(r.framesReadInFull)],
              [
                "frames read whole outside the range",
                r.framesReadOutsideRange.length ? r.framesReadOutsideRange.join(", ") : "none",
              ],
              ["envelope written by encryptStream at", `${fmt(r.writeMbps)} MB/s`],
            ],
          ),
        ].join("\n"),
      );
      extraTargets.push({
        text: "decryptRange reads only the header and the frames that hold the range",
        goal: `${r.neededFrames} frames`,
        measured: `${r.framesReadInFull} frames, ${fmt(r.extraBytes)} extra bytes`,
        met: r.onlyNeededFrames,
      });
    }
  }

  const allTargets = targetsTable([...targets, ...browserTargets], extraTargets);
  // kms-aws through the local KMS server (issue 6): its own section of BENCHMARKS.md.
  let kmsAwsBody;
  if (options.kmsAws) {
    log(
      "kms-aws: 1 KiB messages through @sealkit/kms-aws and the AWS Encryption SDK against the local KMS server",
    );
    const k = await runKmsAwsBench({ quick: options.quick, log });
    if (k.skipped) notes.push(`kms-aws benchmark skipped: ${k.skipped}`);
    else {
      extraTargets.push(k.target);
      kmsAwsBody = [
        `Measured ${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC on ${info.nproc} cores (${info.cpu}), Node ${info.node}, by \`${commandLine(argv, process.env)}\` (with the cipher benchmark).`,
        "The local KMS server (packages/kms-local, SigV4, audit log on) runs in its own process on the same machine; each stack encrypts and decrypts 1 KiB messages one after another, median of " +
          `${options.quick ? 1 : 3} rounds. Caching: core's \`cachingProvider\` and the SDK's \`NodeCachingMaterialsManager\`, both with limits well above one run (10 min, 10^6 messages).`,
        `Target: cached encryption at least 20x the AWS Encryption SDK's default configuration: **${k.target.measured}, ${k.target.met ? "met" : "missed"}**.`,
        "",
        kmsAwsMarkdown(k, { markdownTable }),
      ].join("\n");
      sections.push(
        [
          "### kms-aws provider (issue 6), 1 KiB messages against the local KMS server",
          "",
          kmsAwsMarkdown(k, { markdownTable }),
        ].join("\n"),
      );
    }
  }

  const evaluated = [...targets, ...browserTargets, ...extraTargets];
  const allCount = evaluated.length;
  const missing = evaluated.filter((t) => !t.met).length;
  const header = [
    `Measured ${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC on ${info.nproc} cores (${info.cpu}), Node ${info.node}.`,
    `Command: \`${commandLine(argv, process.env)}\` (${options.quick ? `quick mode: smaller data, ${options.rounds} round(s)` : `median of ${options.rounds} interleaved rounds after ${options.warmup} warm-up`}; MB/s = 10^6 bytes/s).`,
    ...notes.map((n) => `Note: ${n}.`),
  ].join("\n");
  const body = [
    header,
    `### Targets (ratios within this run): ${
      allCount === 0
        ? "none could be evaluated"
        : missing === 0
          ? "all met"
          : `${missing} of ${allCount} missed`
    }`,
    allTargets,
    ...sections,
    findings(),
  ]
    .filter(Boolean)
    .join("\n\n");
  console.log(body);
  if (options.write) {
    log(`wrote the Cipher section of ${writeCipherSection(body)}`);
    if (kmsAwsBody) log(`wrote the kms-aws section of ${writeSection("## kms-aws provider", kmsAwsBody)}`);
  }
  log(`done in ${((Date.now() - started) / 1000).toFixed(0)} s`);
}

/** The hand-written analysis (profiles, where the time goes) kept next to this file and carried into BENCHMARKS.md. */
function findings() {
  try {
    return readFileSync(new URL("./findings.md", import.meta.url), "utf8").trim();
  } catch {
    return "";
  }
}

main().catch((error) => {
  console.error(error?.stack ?? error);
  if (!error?.correctness) console.error("(not a correctness failure: the benchmark itself broke)");
  process.exitCode = 1;
});
