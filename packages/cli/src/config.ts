// Provider settings from flags, environment variables and a config file with named profiles (flag > env > profile > default).

import { readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { UsageError } from "./exit-codes.js";

/** The key services the CLI can use. */
export const PROVIDERS = ["local", "aws", "pkcs11", "raw"] as const;
export type ProviderName = (typeof PROVIDERS)[number];

/** One profile of the config file (~/.sealkit/config.json or SEALKIT_CONFIG_FILE). Every field is optional. */
export interface ProfileSettings {
  provider?: ProviderName;
  /** A key id, ARN or alias, or several (several recipients). */
  key?: string | string[];
  dataDir?: string;
  principal?: string;
  account?: string;
  region?: string;
  endpoint?: string;
  rawKeyFile?: string;
  suite?: string;
  frameSize?: number;
  /** AWS accounts whose keys decrypt and rewrap may use when the envelope names them (no --key). */
  discoveryAccounts?: string[];
  pkcs11?: {
    library?: string;
    tokenLabel?: string;
    keyLabel?: string;
    profile?: string;
    /** The name of the environment variable holding the PIN (keeps it out of the file). */
    pinEnv?: string;
    pin?: string;
  };
}

/** Settings after precedence was applied. */
export interface Settings {
  readonly provider: ProviderName;
  readonly keys: readonly string[];
  readonly dataDir: string;
  readonly principal: string | undefined;
  readonly account: string | undefined;
  /** The local KMS's region: --region, else the profile's (AWS_REGION is for AWS, see `awsRegion`). */
  readonly region: string | undefined;
  /** The endpoint named by --endpoint, SEALKIT_ENDPOINT or the profile (an endpoint makes `aws` the default provider). */
  readonly endpoint: string | undefined;
  /**
   * The AWS KMS client's region: --region, else AWS_REGION or AWS_DEFAULT_REGION, else the profile's region
   * (undefined: the SDK's own sources).
   */
  readonly awsRegion: string | undefined;
  /**
   * The endpoint to give the AWS KMS client: --endpoint, else SEALKIT_ENDPOINT, else AWS_ENDPOINT_URL_KMS or
   * AWS_ENDPOINT_URL (undefined here: the SDK reads them), else the profile's endpoint.
   */
  readonly awsEndpoint: string | undefined;
  readonly rawKeyFile: string | undefined;
  readonly suite: string | undefined;
  readonly frameSize: number | undefined;
  /**
   * With the aws provider and no --key: only the envelope's keys in these accounts are tried (the AWS Encryption
   * SDK's discovery filter). Undefined when not set.
   */
  readonly discoveryAccounts: readonly string[] | undefined;
  readonly pkcs11: {
    readonly library: string | undefined;
    readonly tokenLabel: string | undefined;
    readonly keyLabel: string | undefined;
    readonly profile: string | undefined;
    readonly pin: string | undefined;
  };
}

/** The flags that feed provider settings (commander's camelCase names). */
export interface ProviderFlags {
  profile?: string;
  provider?: string;
  key?: string[];
  dataDir?: string;
  principal?: string;
  account?: string;
  region?: string;
  endpoint?: string;
  rawKeyFile?: string;
  suite?: string;
  frameSize?: string;
  discoveryAccount?: string[];
  pkcs11Library?: string;
  pkcs11Token?: string;
  pkcs11KeyLabel?: string;
  pkcs11Profile?: string;
}

/** The default local KMS data dir, relative to the working directory. */
export const DEFAULT_DATA_DIR = ".sealkit/kms";

const PROFILE_FIELDS = new Set([
  "provider",
  "key",
  "dataDir",
  "principal",
  "account",
  "region",
  "endpoint",
  "rawKeyFile",
  "suite",
  "frameSize",
  "discoveryAccounts",
  "pkcs11",
]);

const PKCS11_FIELDS = new Set(["library", "tokenLabel", "keyLabel", "profile", "pinEnv", "pin"]);

/** Reads the profile `name` from the config file; an absent file or an absent "default" profile is empty. */
export function loadProfile(env: NodeJS.ProcessEnv, name: string | undefined): ProfileSettings {
  const explicitFile = env.SEALKIT_CONFIG_FILE;
  const file = explicitFile || join(env.HOME || homedir(), ".sealkit", "config.json");
  const profileName = name || env.SEALKIT_PROFILE || "default";
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT" && !explicitFile) {
      if (profileName !== "default")
        throw new UsageError(`profile "${profileName}" not found: ${file} does not exist`);
      return {};
    }
    throw new UsageError(`cannot read the config file ${file}: ${(error as Error).message}`);
  }
  const parsed = parseJsonText(text, `config file ${file}`);
  const profiles = (parsed as { profiles?: unknown })?.profiles;
  if (typeof profiles !== "object" || profiles === null || Array.isArray(profiles)) {
    throw new UsageError(`config file ${file} expected { "profiles": { "<name>": { ... } } }`);
  }
  // As for a profile's fields: a setting put beside "profiles" (say "provider", or "defaultProfile") was ignored.
  for (const key of Object.keys(parsed as object)) {
    if (key !== "profiles" && key !== "$schema")
      throw new UsageError(`config file ${file} has an unknown field "${key}" (settings go in a profile)`);
  }
  // Own profiles only: `--profile __proto__` read Object.prototype as an empty profile (every setting silently
  // default) and `--profile toString` said the profile was not an object.
  const profile = Object.hasOwn(profiles, profileName)
    ? (profiles as Record<string, unknown>)[profileName]
    : undefined;
  if (profile === undefined) {
    if (profileName === "default") return {};
    throw new UsageError(`profile "${profileName}" not found in ${file}`);
  }
  if (typeof profile !== "object" || profile === null || Array.isArray(profile)) {
    throw new UsageError(`profile "${profileName}" in ${file} expected an object`);
  }
  for (const key of Object.keys(profile)) {
    if (!PROFILE_FIELDS.has(key))
      throw new UsageError(`profile "${profileName}" in ${file} has an unknown field "${key}"`);
  }
  // Shapes the fields are read in: a wrong one was ignored (pkcs11 as a string, a misspelt "pinENV", so the PIN
  // seemed missing) or reached the KMS as "[object Object]".
  const { key, pkcs11, discoveryAccounts } = profile as ProfileSettings;
  if (
    discoveryAccounts !== undefined &&
    !(Array.isArray(discoveryAccounts) && discoveryAccounts.every((a) => typeof a === "string"))
  )
    throw new UsageError(
      `profile "${profileName}" in ${file}: "discoveryAccounts" expected an array of account ids`,
    );
  if (
    key !== undefined &&
    typeof key !== "string" &&
    !(Array.isArray(key) && key.every((k) => typeof k === "string"))
  )
    throw new UsageError(
      `profile "${profileName}" in ${file}: "key" expected a string or an array of strings`,
    );
  if (pkcs11 !== undefined) {
    if (typeof pkcs11 !== "object" || pkcs11 === null || Array.isArray(pkcs11))
      throw new UsageError(`profile "${profileName}" in ${file}: "pkcs11" expected an object`);
    for (const field of Object.keys(pkcs11)) {
      if (!PKCS11_FIELDS.has(field))
        throw new UsageError(`profile "${profileName}" in ${file} has an unknown field "pkcs11.${field}"`);
    }
    // The others are checked where they are read; a pinEnv that is not a variable name was looked up as one.
    const { pinEnv } = pkcs11 as { pinEnv?: unknown };
    if (pinEnv !== undefined && (typeof pinEnv !== "string" || pinEnv === ""))
      throw new UsageError(
        `profile "${profileName}" in ${file}: "pkcs11.pinEnv" expected the name of an environment variable`,
      );
  }
  return profile as ProfileSettings;
}

/**
 * Parses JSON read from a file that may hold secrets (a PIN in a config profile or an HSM config). V8's syntax
 * errors quote the text around the mistake (`Unexpected token 'S', ..."pin":SuperSecre"... is not valid JSON`),
 * so the message says where, by line and column, and never what.
 * @throws {UsageError} `<what> is not valid JSON (line L, column C)`
 */
export function parseJsonText(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new UsageError(`${what} is not valid JSON${jsonErrorPlace(text, (error as Error).message)}`);
  }
}

/**
 * " (line L, column C)" of a JSON.parse error, or " (it ends too early)". V8 gives either the position, or the bad
 * token with up to 10 characters of text on each side (`..."<10 before><token><10 after>"...`), which locates it.
 */
function jsonErrorPlace(text: string, message: string): string {
  if (/end of (JSON )?input/i.test(message)) return " (it ends too early)";
  let position = Number(/at position (\d+)/.exec(message)?.[1]);
  if (!Number.isInteger(position)) {
    const m = /^Unexpected token '(.)', (\.\.\.)?"(.*?)"(\.\.\.)? is not valid JSON$/s.exec(message);
    if (!m) return "";
    const [, token, cutBefore, excerpt] = m as unknown as [string, string, string | undefined, string];
    const at = cutBefore ? text.indexOf(excerpt) + 10 : excerpt.indexOf(token);
    if (at < 0 || text[at] !== token) return "";
    position = at;
  }
  const before = text.slice(0, position);
  const line = before.split("\n").length;
  const column = position - before.lastIndexOf("\n");
  return ` (line ${line}, column ${column})`;
}

function str(value: unknown, what: string): string | undefined {
  if (value === undefined || value === "") return undefined;
  if (typeof value !== "string") throw new UsageError(`${what} expected a string`);
  return value;
}

/** Parses `--frame-size` and friends: a positive integer, with an optional K/M suffix (KiB, MiB). */
export function parseSize(text: string, what: string): number {
  const m = /^(\d+)\s*([kKmM](?:i?[bB])?)?$/.exec(text.trim());
  if (!m)
    throw new UsageError(
      `${what} expected a number of bytes such as 65536 or 64K, got ${JSON.stringify(text)}`,
    );
  const unit = m[2]?.[0]?.toLowerCase();
  return Number(m[1]) * (unit === "k" ? 1024 : unit === "m" ? 1024 * 1024 : 1);
}

/**
 * AWS account ids (12 digits each, deduplicated).
 * @throws {UsageError} naming `what` for anything else
 */
function accountIds(list: readonly string[], what: string): string[] {
  const ids = list.map((a) => a.trim()).filter(Boolean);
  for (const id of ids) {
    if (!/^\d{12}$/.test(id))
      throw new UsageError(`${what} expected 12-digit AWS account ids, got ${JSON.stringify(id)}`);
  }
  if (ids.length === 0) throw new UsageError(`${what} expected at least one 12-digit AWS account id`);
  return [...new Set(ids)];
}

/**
 * Resolves the provider settings: a flag wins over an environment variable, which wins over the profile, which
 * wins over the default. The default provider is `aws` when an endpoint is set (the admin commands send it there
 * too; `encrypt --endpoint <url> --key alias/x` used a local key of that name instead), else `local`;
 * `defaultProvider` replaces that default (rewrap, whose `--endpoint` may belong to `--to-provider aws`).
 * @throws {UsageError} for an unknown provider, a missing profile or a malformed config file
 */
export function resolveSettings(
  flags: ProviderFlags,
  env: NodeJS.ProcessEnv = process.env,
  defaultProvider?: ProviderName,
): Settings {
  const profile = loadProfile(env, flags.profile);
  const pick = (flag: string | undefined, envName: string | undefined, fromProfile: unknown, what: string) =>
    str(flag, what) ??
    (envName ? str(env[envName], envName) : undefined) ??
    str(fromProfile, `profile field ${what}`);
  const endpoint = pick(flags.endpoint, "SEALKIT_ENDPOINT", profile.endpoint, "endpoint");
  const provider =
    pick(flags.provider, "SEALKIT_PROVIDER", profile.provider, "provider") ??
    defaultProvider ??
    (endpoint !== undefined ? "aws" : "local");
  if (!(PROVIDERS as readonly string[]).includes(provider)) {
    throw new UsageError(`unknown provider "${provider}": expected one of ${PROVIDERS.join(", ")}`);
  }
  let keys: string[];
  if (flags.key && flags.key.length > 0) keys = flags.key;
  else if (env.SEALKIT_KEY)
    keys = env.SEALKIT_KEY.split(",")
      .map((k) => k.trim())
      .filter(Boolean);
  else if (profile.key !== undefined)
    keys = Array.isArray(profile.key) ? profile.key.map(String) : [String(profile.key)];
  else keys = [];
  // The same key named twice would wrap the data key twice under it (two identical recipients).
  keys = [...new Set(keys)];
  const frameSizeText =
    flags.frameSize ??
    // Empty is unset, as for every other variable (it was a bad size: exit 2).
    (env.SEALKIT_FRAME_SIZE || undefined) ??
    (profile.frameSize !== undefined ? String(profile.frameSize) : undefined);
  const discoveryAccounts =
    flags.discoveryAccount && flags.discoveryAccount.length > 0
      ? accountIds(flags.discoveryAccount, "--discovery-account")
      : env.SEALKIT_DISCOVERY_ACCOUNTS
        ? accountIds(env.SEALKIT_DISCOVERY_ACCOUNTS.split(","), "SEALKIT_DISCOVERY_ACCOUNTS")
        : profile.discoveryAccounts !== undefined
          ? accountIds(profile.discoveryAccounts, "profile field discoveryAccounts")
          : undefined;
  const p = profile.pkcs11 ?? {};
  let profilePin: string | undefined = str(p.pin, "pkcs11.pin");
  if (p.pinEnv) profilePin = env[p.pinEnv] || profilePin;
  return {
    provider: provider as ProviderName,
    keys,
    dataDir: pick(flags.dataDir, "SEALKIT_DATA_DIR", profile.dataDir, "dataDir") ?? DEFAULT_DATA_DIR,
    principal: pick(flags.principal, "SEALKIT_PRINCIPAL", profile.principal, "principal"),
    account: pick(flags.account, "SEALKIT_ACCOUNT", profile.account, "account"),
    region: pick(flags.region, undefined, profile.region, "region"),
    endpoint,
    // For AWS, the environment's region and endpoint win over the profile's, as the README's order says and as the
    // AWS CLI does: a profile's region used to win over AWS_REGION, so AWS_REGION=us-east-1 with a profile naming
    // eu-west-1 signed for eu-west-1 (and a profile's endpoint won over AWS_ENDPOINT_URL_KMS).
    awsRegion:
      str(flags.region, "--region") ??
      str(env.AWS_REGION, "AWS_REGION") ??
      str(env.AWS_DEFAULT_REGION, "AWS_DEFAULT_REGION") ??
      str(profile.region, "profile field region"),
    awsEndpoint:
      str(flags.endpoint, "--endpoint") ??
      str(env.SEALKIT_ENDPOINT, "SEALKIT_ENDPOINT") ??
      (env.AWS_ENDPOINT_URL_KMS || env.AWS_ENDPOINT_URL
        ? undefined
        : str(profile.endpoint, "profile field endpoint")),
    rawKeyFile: pick(flags.rawKeyFile, "SEALKIT_RAW_KEY_FILE", profile.rawKeyFile, "rawKeyFile"),
    suite: pick(flags.suite, "SEALKIT_SUITE", profile.suite, "suite"),
    discoveryAccounts,
    frameSize:
      frameSizeText === undefined
        ? undefined
        : parseSize(
            frameSizeText,
            // Name where the bad value came from (a bad SEALKIT_FRAME_SIZE was reported as --frame-size).
            flags.frameSize !== undefined
              ? "--frame-size"
              : env.SEALKIT_FRAME_SIZE
                ? "SEALKIT_FRAME_SIZE"
                : "profile field frameSize",
          ),
    pkcs11: {
      library: pick(flags.pkcs11Library, "SEALKIT_PKCS11_LIBRARY", p.library, "pkcs11.library"),
      tokenLabel: pick(flags.pkcs11Token, "SEALKIT_PKCS11_TOKEN", p.tokenLabel, "pkcs11.tokenLabel"),
      keyLabel: pick(flags.pkcs11KeyLabel, "SEALKIT_PKCS11_KEY_LABEL", p.keyLabel, "pkcs11.keyLabel"),
      profile: pick(flags.pkcs11Profile, "SEALKIT_PKCS11_PROFILE", p.profile, "pkcs11.profile"),
      pin: str(env.SEALKIT_PKCS11_PIN, "SEALKIT_PKCS11_PIN") ?? profilePin,
    },
  };
}

/**
 * Parses repeated `k=v` options into an encryption context (split at the first `=`; the value may be empty).
 * @throws {UsageError} for a pair without `=` or with an empty key, or a key given twice
 */
export function parseContext(pairs: readonly string[] | undefined, flag: string): Record<string, string> {
  // No prototype while filling it: on a plain object `context["__proto__"] = v` sets nothing, so `--context
  // __proto__=x` was dropped from the envelope and `--expect-context __proto__=x` required nothing. Spreading it
  // into a plain object keeps such a key as an own property, as core's decodeContext returns it.
  const context: Record<string, string> = Object.create(null);
  for (const pair of pairs ?? []) {
    const i = pair.indexOf("=");
    if (i <= 0) throw new UsageError(`${flag} expected key=value, got ${JSON.stringify(pair)}`);
    const key = pair.slice(0, i);
    if (Object.hasOwn(context, key)) throw new UsageError(`${flag} gives "${key}" twice`);
    context[key] = pair.slice(i + 1);
  }
  return { ...context };
}
