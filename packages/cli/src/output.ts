// Terminal output: colors (off for NO_COLOR and non-terminals), JSON, tables, and the progress bar on stderr.

/** Whether to color a stream: a terminal, NO_COLOR unset or empty (https://no-color.org), and not FORCE_COLOR=0. */
export function useColor(stream: NodeJS.WriteStream): boolean {
  return stream.isTTY === true && !process.env.NO_COLOR && process.env.FORCE_COLOR !== "0";
}

const wrap = (code: number) => (text: string, on: boolean) => (on ? `\x1b[${code}m${text}\x1b[0m` : text);
export const bold = wrap(1);
export const dim = wrap(2);
export const green = wrap(32);
export const cyan = wrap(36);

/** Writes a value as JSON (2-space indented) with a trailing newline, Uint8Arrays as base64. */
export function printJson(value: unknown): void {
  process.stdout.write(
    `${safeJson(
      JSON.stringify(
        value,
        (_k, v) =>
          v instanceof Uint8Array
            ? Buffer.from(v).toString("base64")
            : v instanceof Date
              ? v.toISOString()
              : v,
        2,
      ),
    )}\n`,
  );
}

// What JSON.stringify leaves raw but a terminal may act on: DEL, the C1 controls (U+009B is CSI, as ESC [ is), and the
// bidirectional overrides and isolates.
const JSON_RAW_CONTROLS = /[\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;

/**
 * JSON text with DEL, C1 controls and bidi controls written as `\uXXXX` escapes: the same JSON to a parser, but
 * strings from callers (principal names, contexts, policies) cannot drive the terminal it is printed on.
 */
export function safeJson(json: string): string {
  return json.replace(JSON_RAW_CONTROLS, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

/** Writes lines of `label: value` pairs, aligned. */
export function printPairs(pairs: readonly (readonly [string, unknown])[]): void {
  const width = Math.max(0, ...pairs.map(([k]) => k.length));
  const color = useColor(process.stdout);
  for (const [k, v] of pairs) {
    process.stdout.write(`${bold(`${k}:`.padEnd(width + 1), color)} ${formatValue(v)}\n`);
  }
}

function formatValue(v: unknown): string {
  if (v instanceof Date) return v.toISOString();
  if (v === undefined || v === null) return "-";
  if (typeof v === "object") return escapeControls(JSON.stringify(v));
  return escapeControls(String(v));
}

// Cc (C0 and C1 controls, DEL), and the bidirectional overrides and isolates.
const CONTROLS = /[\p{Cc}\u202a-\u202e\u2066-\u2069]/gu;

/**
 * Shows control characters as escapes (`\x1b`, `\r`, `\u202e`). Text output carries strings from envelopes a user
 * may not trust (context pairs, key ids), and `sealkit inspect` printed them raw: an ESC sequence could retitle or
 * clear the terminal or write its clipboard, a CR or a bidi override could disguise a key id. JSON escapes C0 itself.
 */
export function escapeControls(text: string): string {
  return text.replace(CONTROLS, (c) => {
    const code = c.charCodeAt(0);
    if (c === "\n") return "\\n";
    if (c === "\r") return "\\r";
    if (c === "\t") return "\\t";
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, "0")}` : `\\u${code.toString(16)}`;
  });
}

/** Writes rows as an aligned table with a header line. */
export function printTable(columns: readonly string[], rows: readonly (readonly unknown[])[]): void {
  const cells = rows.map((r) => r.map(formatValue));
  const widths = columns.map((c, i) => Math.max(c.length, ...cells.map((r) => r[i]!.length)));
  const color = useColor(process.stdout);
  process.stdout.write(
    `${bold(
      columns
        .map((c, i) => c.padEnd(widths[i]!))
        .join("  ")
        .trimEnd(),
      color,
    )}\n`,
  );
  for (const r of cells)
    process.stdout.write(
      `${r
        .map((c, i) => c.padEnd(widths[i]!))
        .join("  ")
        .trimEnd()}\n`,
    );
}

/** 1536 → "1.5 KiB". */
export function formatBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`;
}

function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return "--:--";
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const pad = (x: number) => String(x).padStart(2, "0");
  return h > 0 ? `${h}:${pad(m)}:${pad(s % 60)}` : `${pad(m)}:${pad(s % 60)}`;
}

/** Whether a progress bar line is on stderr without its newline (the run stopped before its final draw). */
let progressLineOpen = false;

/**
 * Ends a progress bar line left open by a run that failed, so that the error message that follows starts a line of
 * its own (it was appended to the bar).
 */
export function endProgressLine(): void {
  if (!progressLineOpen) return;
  progressLineOpen = false;
  process.stderr.write("\n");
}

/**
 * A pass-through stream that counts bytes and draws a progress bar (bytes, rate, time left when the total is
 * known) on stderr, at most ten times a second, after the first second. Silent when stderr is not a terminal or
 * `quiet` is set.
 */
export function progressStream(
  label: string,
  total: number | undefined,
  quiet: boolean,
): TransformStream<Uint8Array, Uint8Array> {
  const stderr = process.stderr;
  const enabled = !quiet && stderr.isTTY === true;
  const color = useColor(stderr);
  const started = Date.now();
  // Short runs draw nothing: the bar starts after SEALKIT_PROGRESS_DELAY_MS (default 1,000 ms).
  const delayMs = Number(process.env.SEALKIT_PROGRESS_DELAY_MS ?? 1000) || 0;
  let done = 0;
  let lastDraw = 0;
  let drawn = false;
  const draw = (final: boolean) => {
    const now = Date.now();
    const elapsed = (now - started) / 1000;
    if (!final && (now - lastDraw < 100 || now - started < delayMs)) return;
    if (final && !drawn) return;
    lastDraw = now;
    drawn = true;
    const rate = elapsed > 0 ? done / elapsed : 0;
    const width = 24;
    let bar = "";
    let tail = "";
    if (total !== undefined && total > 0) {
      const fraction = Math.min(1, done / total);
      const filled = Math.round(fraction * width);
      bar = `[${cyan("#".repeat(filled), color)}${" ".repeat(width - filled)}] ${(fraction * 100).toFixed(0).padStart(3)}% `;
      tail = ` ${final ? formatDuration(elapsed) : `eta ${formatDuration(rate > 0 ? (total - done) / rate : Number.POSITIVE_INFINITY)}`}`;
    }
    const sizes = total !== undefined ? `${formatBytes(done)}/${formatBytes(total)}` : formatBytes(done);
    const line = `${label} ${bar}${sizes} ${formatBytes(rate)}/s${tail}`;
    stderr.write(`\r\x1b[2K${line}${final ? "\n" : ""}`);
    progressLineOpen = !final;
  };
  return new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, controller) {
      done += chunk.length;
      if (enabled) draw(false);
      controller.enqueue(chunk);
    },
    flush() {
      if (enabled) draw(true);
    },
  });
}
