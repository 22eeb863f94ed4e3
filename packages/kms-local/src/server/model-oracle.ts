// Test helper: AWS's KMS service model as botocore ships it (service-2.json), read at test time, as an oracle for the
// server: checks of JSON bodies against the model's shapes, and requests that break one constraint of an input shape.

import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";

/** One shape of the model (only the traits the checks use). */
export interface ModelShape {
  readonly type: string;
  readonly members?: { readonly [name: string]: { readonly shape: string } };
  readonly required?: readonly string[];
  readonly member?: { readonly shape: string };
  readonly key?: { readonly shape: string };
  readonly value?: { readonly shape: string };
  readonly min?: number;
  readonly max?: number;
  readonly enum?: readonly string[];
  readonly pattern?: string;
  readonly exception?: boolean;
  readonly fault?: boolean;
  readonly error?: { readonly code?: string; readonly httpStatusCode?: number };
}

/** One operation of the model. */
export interface ModelOperation {
  readonly name: string;
  readonly input?: { readonly shape: string };
  readonly output?: { readonly shape: string };
  readonly errors?: readonly { readonly shape: string }[];
}

/** botocore's service-2.json for KMS. */
export interface ServiceModel {
  readonly metadata: { readonly apiVersion: string; readonly targetPrefix: string };
  readonly operations: { readonly [name: string]: ModelOperation };
  readonly shapes: { readonly [name: string]: ModelShape };
}

/** The model found, and where. */
export interface LoadedModel {
  readonly model: ServiceModel;
  readonly botocoreVersion: string;
  readonly python: string;
  readonly path: string;
}

/**
 * Loads KMS's service model from the newest botocore among the python3 on PATH and /usr/bin/python3 (Debian's
 * python3-botocore is years older than a pip or pyenv one), or from `$SEALKIT_BOTOCORE_PYTHON`'s when that is set.
 * @returns the model, or why none was found
 */
export function loadBotocoreKmsModel(): LoadedModel | string {
  const found: { python: string; version: string; dir: string }[] = [];
  // SEALKIT_BOTOCORE_PYTHON names the one interpreter to ask (to try the test with another botocore).
  const pythons = process.env.SEALKIT_BOTOCORE_PYTHON
    ? [process.env.SEALKIT_BOTOCORE_PYTHON]
    : ["python3", "/usr/bin/python3"];
  for (const python of pythons) {
    try {
      const out = execFileSync(
        python,
        ["-c", "import botocore, os; print(botocore.__version__); print(os.path.dirname(botocore.__file__))"],
        { encoding: "utf8", timeout: 30_000, stdio: ["ignore", "pipe", "ignore"] },
      )
        .trim()
        .split("\n");
      if (out.length === 2) found.push({ python, version: out[0] as string, dir: out[1] as string });
    } catch {
      // Not installed, or no botocore for it.
    }
  }
  found.sort((a, b) => compareVersions(b.version, a.version));
  for (const f of found) {
    const base = join(f.dir, "data", "kms", "2014-11-01", "service-2.json");
    for (const path of [base, `${base}.gz`]) {
      if (!existsSync(path)) continue;
      const raw = readFileSync(path);
      const text = (path.endsWith(".gz") ? gunzipSync(raw) : raw).toString("utf8");
      return { model: JSON.parse(text) as ServiceModel, botocoreVersion: f.version, python: f.python, path };
    }
  }
  return found.length === 0
    ? "no python3 with botocore (python3 on PATH or /usr/bin/python3)"
    : `no data/kms/2014-11-01/service-2.json in botocore ${found.map((f) => f.version).join(", ")}`;
}

function compareVersions(a: string, b: string): number {
  const pa = a.split(".").map((n) => Number.parseInt(n, 10) || 0);
  const pb = b.split(".").map((n) => Number.parseInt(n, 10) || 0);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * Whether `value` matches a model pattern as a whole. Smithy's patterns are not anchored, but AWS's validation
 * matches whole values (its messages quote the pattern a whole value failed), so the value must match from start to
 * end. A pattern JavaScript cannot compile counts as matched.
 */
export function matchesPattern(pattern: string, value: string): boolean {
  let re: RegExp;
  try {
    re = new RegExp(`^(?:${pattern})$`, "u");
  } catch {
    return true;
  }
  return re.test(value);
}

/** Unicode code points: Smithy's length of a string. */
function codePoints(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

/**
 * Checks a JSON value against a shape: member names the structure has (an extra one is allowed only when `allowExtra`
 * says so for "<StructureShape>.<member>"), required members, JSON types, enums, lengths, ranges and whole-value
 * patterns. Appends one line per problem to `problems`.
 */
export function checkValue(
  model: ServiceModel,
  shapeName: string,
  value: unknown,
  path: string,
  problems: string[],
  allowExtra: (structureMember: string) => boolean = () => false,
): void {
  const shape = model.shapes[shapeName];
  if (shape === undefined) {
    problems.push(`${path}: the model has no shape ${shapeName}`);
    return;
  }
  const at = path === "" ? "(body)" : path;
  const bad = (what: string) => problems.push(`${at}: ${what} (shape ${shapeName})`);
  const range = (n: number, what: string) => {
    if (shape.min !== undefined && n < shape.min) bad(`${what} ${n} is below the minimum ${shape.min}`);
    if (shape.max !== undefined && n > shape.max) bad(`${what} ${n} is above the maximum ${shape.max}`);
  };
  if (value === null) {
    bad("null: AWS leaves absent members out");
    return;
  }
  switch (shape.type) {
    case "structure": {
      if (typeof value !== "object" || Array.isArray(value))
        return void bad(`expected a structure, got ${kind(value)}`);
      const obj = value as Record<string, unknown>;
      for (const name of Object.keys(obj)) {
        const member = shape.members?.[name];
        if (member === undefined) {
          if (!allowExtra(`${shapeName}.${name}`)) bad(`member ${name} is not in the shape`);
          continue;
        }
        checkValue(
          model,
          member.shape,
          obj[name],
          path === "" ? name : `${path}.${name}`,
          problems,
          allowExtra,
        );
      }
      for (const name of shape.required ?? []) if (!(name in obj)) bad(`required member ${name} is missing`);
      return;
    }
    case "list": {
      if (!Array.isArray(value)) return void bad(`expected a list, got ${kind(value)}`);
      range(value.length, "length");
      value.forEach((v, i) => {
        checkValue(model, shape.member?.shape as string, v, `${path}[${i}]`, problems, allowExtra);
      });
      return;
    }
    case "map": {
      if (typeof value !== "object" || Array.isArray(value))
        return void bad(`expected a map, got ${kind(value)}`);
      const entries = Object.entries(value as Record<string, unknown>);
      range(entries.length, "entry count");
      for (const [k, v] of entries) {
        checkValue(model, shape.key?.shape as string, k, `${path}{key ${k}}`, problems, allowExtra);
        checkValue(model, shape.value?.shape as string, v, `${path}.${k}`, problems, allowExtra);
      }
      return;
    }
    case "string": {
      if (typeof value !== "string") return void bad(`expected a string, got ${kind(value)}`);
      if (shape.enum !== undefined && !shape.enum.includes(value))
        bad(`'${value}' is not one of the enum's values`);
      range(codePoints(value), "length");
      if (shape.pattern !== undefined && !matchesPattern(shape.pattern, value))
        bad(`'${value.slice(0, 80)}' does not match the pattern ${shape.pattern}`);
      return;
    }
    case "blob": {
      if (typeof value !== "string") return void bad(`expected a base64 string, got ${kind(value)}`);
      if (!BASE64.test(value)) return void bad("not canonical base64");
      range(Buffer.from(value, "base64").length, "byte length");
      return;
    }
    case "timestamp":
      if (typeof value !== "number" || !Number.isFinite(value))
        bad(`expected a timestamp in epoch seconds (a JSON number), got ${kind(value)}`);
      return;
    case "boolean":
      if (typeof value !== "boolean") bad(`expected a boolean, got ${kind(value)}`);
      return;
    case "integer":
    case "long":
      if (typeof value !== "number" || !Number.isInteger(value))
        return void bad(`expected an integer, got ${kind(value)}`);
      range(value, "value");
      return;
    case "double":
    case "float":
      if (typeof value !== "number") return void bad(`expected a number, got ${kind(value)}`);
      range(value, "value");
      return;
    default:
      bad(`unknown shape type ${shape.type}`);
  }
}

function kind(value: unknown): string {
  if (Array.isArray(value)) return "a list";
  if (value === null) return "null";
  if (typeof value === "object") return "a structure";
  return `${typeof value} ${JSON.stringify(value)?.slice(0, 40)}`;
}

/** A request that breaks one rule of the input shape. */
export interface Mutation {
  readonly what: string;
  readonly body: Record<string, unknown>;
  /** "constraint": AWS answers ValidationException; "type": a JSON type the member cannot hold. */
  readonly expect: "constraint" | "type";
}

/**
 * Every request that breaks exactly one rule of the operation's input shape, starting from the valid `baseline`:
 * each required member left out, strings/blobs/lists/maps beyond their lengths, numbers out of range, enum values
 * outside the enum, anchored patterns broken, and each member (present or not in the baseline) given a JSON type it
 * cannot hold. Structures nested in the baseline (Tags[0], Constraints) are broken the same way.
 */
export function mutationsOf(
  model: ServiceModel,
  inputShape: string,
  baseline: Record<string, unknown>,
): Mutation[] {
  const out: Mutation[] = [];
  structureMutations(model, inputShape, baseline, "", (v) => v, out);
  return out;
}

function structureMutations(
  model: ServiceModel,
  shapeName: string,
  base: Record<string, unknown>,
  label: string,
  wrap: (value: Record<string, unknown>) => Record<string, unknown>,
  out: Mutation[],
): void {
  const shape = model.shapes[shapeName] as ModelShape;
  for (const name of shape.required ?? []) {
    if (!(name in base)) continue;
    const { [name]: _, ...rest } = base;
    out.push({ what: `${label}${name} left out (required)`, body: wrap(rest), expect: "constraint" });
  }
  for (const [name, ref] of Object.entries(shape.members ?? {})) {
    for (const bad of badValues(model, ref.shape, base[name])) {
      out.push({
        what: `${label}${name}: ${bad.what}`,
        body: wrap({ ...base, [name]: bad.value }),
        expect: bad.expect,
      });
    }
    const member = model.shapes[ref.shape] as ModelShape;
    const current = base[name];
    if (member.type === "structure" && isObject(current)) {
      structureMutations(
        model,
        ref.shape,
        current,
        `${label}${name}.`,
        (v) => wrap({ ...base, [name]: v }),
        out,
      );
    }
    if (member.type === "list" && Array.isArray(current) && isObject(current[0])) {
      const element = (member.member as { shape: string }).shape;
      if ((model.shapes[element] as ModelShape).type === "structure") {
        structureMutations(
          model,
          element,
          current[0],
          `${label}${name}[0].`,
          (v) => wrap({ ...base, [name]: [v, ...current.slice(1)] }),
          out,
        );
      }
    }
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

interface Bad {
  readonly what: string;
  readonly value: unknown;
  readonly expect: "constraint" | "type";
}

// Candidates for a value that breaks a pattern; the first one the pattern refuses is used.
const PATTERN_BREAKERS = ["a b!", "!", "a\u0100", "a\u0001", "a\ud83d\ude00"];

function badValues(model: ServiceModel, shapeName: string, current: unknown): Bad[] {
  const shape = model.shapes[shapeName] as ModelShape;
  const out: Bad[] = [];
  const c = (what: string, value: unknown) => out.push({ what, value, expect: "constraint" });
  const t = (what: string, value: unknown) => out.push({ what, value, expect: "type" });
  switch (shape.type) {
    case "string": {
      t("a number", 12345);
      if (shape.enum !== undefined) c("a value outside the enum", "NOT_A_MODELED_VALUE");
      if (shape.max !== undefined)
        c(`${shape.max + 1} characters (max ${shape.max})`, "a".repeat(shape.max + 1));
      if (shape.min !== undefined && shape.min >= 1) c(`"" (min ${shape.min})`, "");
      if (shape.pattern !== undefined) {
        const breaker = PATTERN_BREAKERS.find(
          (s) =>
            !matchesPattern(shape.pattern as string, s) &&
            codePoints(s) >= (shape.min ?? 0) &&
            codePoints(s) <= (shape.max ?? Number.POSITIVE_INFINITY),
        );
        if (breaker !== undefined) c(`${JSON.stringify(breaker)} off the pattern ${shape.pattern}`, breaker);
      }
      break;
    }
    case "integer":
    case "long":
      t("a string", "1");
      if (shape.min !== undefined) c(`${shape.min - 1} (min ${shape.min})`, shape.min - 1);
      if (shape.max !== undefined) c(`${shape.max + 1} (max ${shape.max})`, shape.max + 1);
      break;
    case "boolean":
      t("a string", "true");
      break;
    case "blob":
      t("a number", 12345);
      t("not base64", "!!!!");
      if (shape.min !== undefined && shape.min >= 1) c(`0 bytes (min ${shape.min})`, "");
      if (shape.max !== undefined)
        c(`${shape.max + 1} bytes (max ${shape.max})`, Buffer.alloc(shape.max + 1, 1).toString("base64"));
      break;
    case "list": {
      const element = (shape.member as { shape: string }).shape;
      t("a structure", {});
      t("a member of the wrong type", [wrongTypeFor(model, element)]);
      if (shape.max !== undefined) {
        const sample = Array.isArray(current) && current.length > 0 ? current[0] : sampleOf(model, element);
        c(
          `${shape.max + 1} members (max ${shape.max})`,
          Array.from({ length: shape.max + 1 }, () => sample),
        );
      }
      if (shape.min !== undefined && shape.min >= 1) c(`[] (min ${shape.min})`, []);
      break;
    }
    case "map":
      t("a list", []);
      t("a value of the wrong type", { k: wrongTypeFor(model, (shape.value as { shape: string }).shape) });
      break;
    case "structure":
      t("a string", "x");
      break;
    case "timestamp":
      t("a string", "yesterday");
      break;
  }
  return out;
}

function wrongTypeFor(model: ServiceModel, shapeName: string): unknown {
  const type = (model.shapes[shapeName] as ModelShape).type;
  return type === "string" || type === "blob" || type === "structure" || type === "timestamp" ? 12345 : "x";
}

function sampleOf(model: ServiceModel, shapeName: string): unknown {
  const shape = model.shapes[shapeName] as ModelShape;
  switch (shape.type) {
    case "string":
      return shape.enum?.[0] ?? "a".repeat(Math.max(shape.min ?? 1, 1));
    case "integer":
    case "long":
      return shape.min ?? 1;
    case "boolean":
      return false;
    case "blob":
      return "AA==";
    case "structure": {
      const out: Record<string, unknown> = {};
      for (const name of shape.required ?? [])
        out[name] = sampleOf(model, shape.members?.[name]?.shape ?? "");
      return out;
    }
    case "list":
      return [];
    default:
      return {};
  }
}
