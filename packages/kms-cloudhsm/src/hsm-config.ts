// Reads an HSM configuration file (JSON) for the CLI's `kms serve --hsm <config>`, taking the PIN from the environment.

import type { HsmKeyConfig } from "./hsm-key.js";
import { profileByName } from "./profiles.js";

/** The JSON an HSM configuration file holds. */
export interface Pkcs11ConfigFile {
  /** "softhsm", "cloudhsm" or "generic". */
  readonly profile: string;
  /** Library path; defaults to the profile's usual place (SoftHSM2 on Debian, CloudHSM client SDK 5). */
  readonly library?: string;
  readonly tokenLabel?: string;
  readonly slot?: number;
  readonly keyLabel: string;
  /** Name of the environment variable holding the PIN (preferred: keeps the secret out of the file). */
  readonly pinEnv?: string;
  /** The PIN itself, for development tokens only. */
  readonly pin?: string;
  readonly poolSize?: number;
  readonly async?: boolean;
}

const FIELDS = new Set([
  "profile",
  "library",
  "tokenLabel",
  "slot",
  "keyLabel",
  "pinEnv",
  "pin",
  "poolSize",
  "async",
]);

/**
 * Turns an HSM configuration file (JSON text or the parsed object) into the options of `pkcs11Provider` and
 * `pkcs11KeyWrapper`. The PIN comes from the environment variable `pinEnv` names, or from `pin`.
 * @example
 * // hsm.json: { "profile": "cloudhsm", "tokenLabel": "hsm1", "keyLabel": "kms-root", "pinEnv": "HSM_PIN" }
 * const rootKey = pkcs11KeyWrapper(parsePkcs11Config(readFileSync("hsm.json", "utf8")));
 * @throws {TypeError} for invalid JSON, an unknown field, a missing key label or library, a missing PIN or PIN
 * variable, or a value of the wrong type
 */
export function parsePkcs11Config(
  input: string | Pkcs11ConfigFile,
  env: Readonly<Record<string, string | undefined>> = process.env,
): HsmKeyConfig {
  let raw: unknown = input;
  if (typeof input === "string") {
    try {
      raw = JSON.parse(input);
    } catch (error) {
      // Never the parser's message: V8 quotes the text around the mistake, which may be the PIN.
      throw new TypeError(`HSM config is not valid JSON${jsonErrorLine(input, (error as Error).message)}`);
    }
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    throw new TypeError("HSM config expected a JSON object");
  }
  const file = raw as Record<string, unknown>;
  for (const key of Object.keys(file)) {
    if (!FIELDS.has(key)) throw new TypeError(`HSM config has an unknown field "${key}"`);
  }
  const profile = profileByName(file.profile);
  const library = file.library ?? profile.defaultLibrary;
  if (typeof library !== "string" || library.length === 0) {
    throw new TypeError(
      `HSM config needs "library" (the path of the PKCS#11 library) for the ${profile.name} profile`,
    );
  }
  let pin: unknown;
  if (file.pinEnv !== undefined) {
    if (typeof file.pinEnv !== "string" || file.pinEnv.length === 0) {
      throw new TypeError(`HSM config "pinEnv" expected the name of an environment variable`);
    }
    pin = env[file.pinEnv];
    if (pin === undefined || pin === "") {
      // A PIN written into "pinEnv" by mistake must not reach the logs: the name is repeated only when it looks
      // like one (HSM_PIN), never a value such as "1234" or "crypto_user:password".
      const name = /^[A-Z][A-Z0-9_]*$/.test(file.pinEnv) ? `${file.pinEnv} ` : "";
      throw new TypeError(
        `HSM config: the environment variable ${name}named by "pinEnv" (the token PIN) is not set` +
          (name ? "" : ` (its name is not repeated: it does not look like one, and may be the PIN itself)`),
      );
    }
  } else {
    pin = file.pin;
    if (typeof pin !== "string" || pin.length === 0) {
      throw new TypeError(`HSM config needs "pinEnv" (preferred) or "pin"`);
    }
  }
  const optional = <T>(name: string, type: string): T | undefined => {
    const value = file[name];
    if (value !== undefined && typeof value !== type)
      throw new TypeError(`HSM config "${name}" expected a ${type}`);
    return value as T | undefined;
  };
  const keyLabel = optional<string>("keyLabel", "string");
  if (!keyLabel) throw new TypeError(`HSM config needs "keyLabel" (the CKA_LABEL of the AES key)`);
  return {
    library,
    tokenLabel: optional<string>("tokenLabel", "string"),
    slot: optional<number>("slot", "number"),
    pin: pin as string,
    keyLabel,
    profile: profile.name,
    poolSize: optional<number>("poolSize", "number"),
    async: optional<boolean>("async", "boolean"),
  };
}

/** " (line L)" of a JSON.parse error when V8 gives its position, " (it ends too early)", or nothing. */
function jsonErrorLine(text: string, message: string): string {
  if (/end of (JSON )?input/i.test(message)) return " (it ends too early)";
  const position = Number(/at position (\d+)/.exec(message)?.[1]);
  if (!Number.isInteger(position)) return "";
  return ` (line ${text.slice(0, position).split("\n").length})`;
}
