// Turns benchmark results into the tables printed on stdout and written to BENCHMARKS.md, and checks the
// targets of issue 3 as ratios between implementations measured in the same run. Runtime-neutral.

/** The ratio targets: [sealkit id, baseline id, minimum ratio, workloads it applies to]. */
export const RATIO_TARGETS = [
  ["sealkit-xchacha", "libsodium", 1.0, ["bulk"]],
  ["sealkit-aes", "node-aes", 0.5, ["bulk"]],
  ["sealkit-xchacha", "aws-sdk", 3.0, ["bulk", "small"]],
  ["sealkit-aes", "aws-sdk", 3.0, ["bulk", "small"]],
];

/** Informational ratios shown next to each Sealkit row: which baseline each Sealkit variant is compared with. */
const COMPARE = {
  "sealkit-xchacha": ["libsodium", "aws-sdk"],
  "sealkit-xchacha-stream": ["libsodium", "aws-sdk"],
  "sealkit-aes": ["node-aes", "webcrypto-aes", "aws-sdk"],
  "sealkit-aes-stream": ["node-aes", "webcrypto-aes", "aws-sdk"],
};

const fmt = (n, digits = 0) =>
  Number.isFinite(n)
    ? n.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits })
    : "n/a";

function find(results, workload, id, op) {
  return results.find((r) => r.workload === workload && r.id === id && r.op === op);
}

/** A Markdown table (GitHub style); it also reads well as plain text. */
export function markdownTable(header, rows) {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const line = (cells) => `| ${cells.map((c, i) => String(c).padEnd(widths[i])).join(" | ")} |`;
  return [line(header), `|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`, ...rows.map(line)].join("\n");
}

function ratioText(results, r, baselineId) {
  const base = find(results, r.workload, baselineId, r.op);
  if (!base) return undefined;
  return `${fmt(r.mbps / base.mbps, 2)}x ${SHORT[baselineId] ?? baselineId}`;
}

const SHORT = {
  libsodium: "libsodium",
  "node-aes": "node aes-gcm",
  "webcrypto-aes": "WebCrypto",
  "aws-sdk": "AWS SDK",
};

/** The throughput table: one row per implementation, encrypt and decrypt side by side. */
export function throughputTable(results, workload) {
  const rows = [];
  const mine = results.filter((r) => r.workload === workload);
  const ids = [...new Set(mine.map((r) => r.id))];
  const withCpu = mine.some((r) => r.cpuMbps !== undefined);
  for (const id of ids) {
    const enc = find(results, workload, id, "encrypt");
    const dec = find(results, workload, id, "decrypt");
    const ratios = (r) =>
      (COMPARE[id] ?? [])
        .map((b) => ratioText(results, r, b))
        .filter(Boolean)
        .join(", ");
    const row = [enc.name, fmt(enc.mbps), fmt(dec.mbps)];
    if (withCpu) row.push(fmt(enc.cpuMbps), fmt(dec.cpuMbps));
    if (workload === "small") row.push(fmt(enc.perSecond), fmt(dec.perSecond));
    row.push(ratios(enc) || "", ratios(dec) || "");
    rows.push(row);
  }
  const header = [
    "implementation",
    "enc MB/s",
    "dec MB/s",
    ...(withCpu ? ["enc MB/CPU-s", "dec MB/CPU-s"] : []),
    ...(workload === "small" ? ["enc msg/s", "dec msg/s"] : []),
    "enc ratios (wall)",
    "dec ratios (wall)",
  ];
  return markdownTable(header, rows);
}

/**
 * The ratio targets that can be evaluated from these results (a baseline absent from a runtime, such as
 * node:crypto in the browser, skips its target). Returns rows of { text, ratio, min, met }.
 */
export function evaluateTargets(results, targets = RATIO_TARGETS) {
  const out = [];
  for (const [sealkitId, baselineId, min, workloads] of targets) {
    for (const workload of workloads) {
      for (const op of ["encrypt", "decrypt"]) {
        const s = find(results, workload, sealkitId, op);
        const b = find(results, workload, baselineId, op);
        if (!s || !b) continue;
        const ratio = s.mbps / b.mbps;
        const cpuRatio = s.cpuMbps && b.cpuMbps ? s.cpuMbps / b.cpuMbps : undefined;
        out.push({
          cpuRatio,
          text: `${s.name.replace(/ encrypt\/decrypt$/, "")} ${op}, ${workload === "bulk" ? "64 MiB" : "1 KiB msgs"} vs ${b.name}`,
          ratio,
          min,
          met: ratio >= min,
        });
      }
    }
  }
  return out;
}

/** The targets as a table. */
export function targetsTable(targets, extra = []) {
  const rows = targets.map((t) => [
    t.text,
    `>= ${fmt(t.min, 1)}x`,
    `${fmt(t.ratio, 2)}x`,
    t.cpuRatio === undefined ? "n/a" : `${fmt(t.cpuRatio, 2)}x`,
    t.met ? "met" : "MISSED",
  ]);
  for (const e of extra) rows.push([e.text, e.goal, e.measured, "", e.met ? "met" : "MISSED"]);
  return markdownTable(["target", "goal", "measured (wall)", "same, by CPU time", "result"], rows);
}
