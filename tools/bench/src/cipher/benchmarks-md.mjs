// Updates the "## Cipher" section of the repository's BENCHMARKS.md and nothing else: other sections ("## KMS
// server", "## HSM") belong to other benchmarks and are kept byte for byte.

import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

export const BENCHMARKS_MD = fileURLToPath(new URL("../../../../BENCHMARKS.md", import.meta.url));
export const HEADING = "## Cipher";

const INTRO = `# Sealkit benchmarks

Measured by \`tools/bench\` (\`pnpm bench\`, \`pnpm bench:kms\`). Every number is a ratio against baselines run in
the same process and the same run, after checking that each compared implementation decrypts its own output; the
machine is shared and noisy, so compare ratios, not absolute speeds across runs.
`;

/** Replaces (or appends) the section that starts at `heading` and runs to the next level-2 heading. */
export function replaceSection(markdown, heading, body) {
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

/** Writes `body` as the section under `heading` of BENCHMARKS.md, creating the file with a short intro if missing. */
export function writeSection(heading, body, path = BENCHMARKS_MD) {
  const current = existsSync(path) ? readFileSync(path, "utf8") : INTRO;
  writeFileSync(path, replaceSection(current, heading, body));
  return path;
}

/** Writes `body` as the Cipher section of BENCHMARKS.md. */
export function writeCipherSection(body, path = BENCHMARKS_MD) {
  return writeSection(HEADING, body, path);
}
