// Opens the key services a command needs (local KMS, AWS KMS client, PKCS#11 token, raw key) and closes them after.

import { existsSync, readFileSync } from "node:fs";
import { basename, join } from "node:path";
import type { KMSClient } from "@aws-sdk/client-kms";
import {
  type EncryptedDataKey,
  type KeyProvider,
  rawKeyProvider,
  SealkitError,
  type SuiteName,
  wipe,
} from "@sealkit/core";
import type { LocalKms } from "@sealkit/kms-local";
import type { ProviderName, Settings } from "./config.js";
import { UsageError } from "./exit-codes.js";

// The key services' packages are imported when first used: loading the AWS SDK, SQLite and PKCS#11 for every
// command would double the start-up time of `sealkit inspect` or `sealkit --help`.

/** How long a command waits for a local KMS data dir another process holds (kms-local waits 1 s per attempt). */
const DATA_DIR_WAIT_MS = 5000;

/** Whether an error of LocalKms.open is the data dir's lock being held (SQLITE_BUSY, somewhere in its causes). */
function isBusy(error: unknown): boolean {
  for (let e = error, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    if ((e as { code?: unknown }).code === "SQLITE_BUSY") return true;
  }
  return false;
}

/** The provider id of AWS KMS envelopes (also written by the local KMS). */
const AWS_KMS_PROVIDER_ID = "aws-kms";

/**
 * The longest KeyId AWS KMS takes (and awsKmsProvider accepts), and the longest raw key name (rawKeyProvider). Key
 * names taken from an envelope are data, not configuration: encrypted data keys are not authenticated, so anyone can
 * add one, and a name the provider refused made decrypt a usage error (exit 2) for an envelope its other keys open.
 */
const MAX_KMS_KEY_ID = 2048;
const MAX_RAW_KEY_ID_BYTES = 1024;

/**
 * The AWS KMS keys an envelope names that decrypt may ask KMS about: all of them, or with a discovery filter only
 * key and alias ARNs of the listed accounts (a bare key id or alias names no account). An envelope anyone can
 * write may name a key in the writer's own account, whose policy lets everyone decrypt: without a filter, such an
 * envelope decrypts to whatever its writer chose.
 * @throws {SealkitError} ERR_NO_DECRYPTABLE_KEY when the filter leaves none, naming the accounts the envelope uses
 */
async function discoveredAwsKeys(
  keyIds: readonly string[],
  accounts: readonly string[] | undefined,
): Promise<string[]> {
  if (accounts === undefined) return [...keyIds];
  const { parseKmsArn } = await import("@sealkit/kms-aws");
  const accountOf = (id: string) => parseKmsArn(id)?.accountId;
  const allowed = keyIds.filter((id) => {
    const account = accountOf(id);
    return account !== undefined && accounts.includes(account);
  });
  if (allowed.length === 0 && keyIds.length > 0) {
    const named = [...new Set(keyIds.map((id) => accountOf(id) ?? "no account (not an ARN)"))];
    throw new SealkitError(
      "ERR_NO_DECRYPTABLE_KEY",
      `the envelope names no AWS KMS key in the discovery accounts (${accounts.join(", ")}): its keys are in ${named.join(", ")}`,
    );
  }
  return allowed;
}

/** The caller the CLI acts as against the in-process local KMS. */
export interface LocalCaller {
  principal: string;
  account: string;
  userAgent: string;
}

/** Maps the CLI's suite names (and core's) to core's suite names. */
export function suiteName(text: string | undefined): SuiteName | undefined {
  if (text === undefined) return undefined;
  const t = text.toLowerCase().replace(/_/g, "-");
  if (t === "xchacha20-poly1305") return "XCHACHA20_POLY1305";
  if (t === "aes-256-gcm") return "AES_256_GCM";
  throw new UsageError(`unknown suite "${text}": expected xchacha20-poly1305 or aes-256-gcm`);
}

/** Reads a raw key file: 32 raw bytes, or 64 hex characters (surrounding whitespace ignored). */
export function readRawKey(file: string): Uint8Array {
  const bytes = new Uint8Array(readFileSync(file));
  if (bytes.length === 32) return bytes;
  const text = new TextDecoder().decode(bytes).trim();
  wipe(bytes);
  if (/^[0-9a-fA-F]{64}$/.test(text)) {
    const key = new Uint8Array(32);
    for (let i = 0; i < 32; i++) key[i] = Number.parseInt(text.slice(2 * i, 2 * i + 2), 16);
    return key;
  }
  throw new UsageError(`raw key file ${file} must hold 32 bytes or 64 hex characters`);
}

/** Resources opened for one command run; `close()` releases them all. */
export class Session {
  readonly #kms = new Map<string, LocalKms>();
  readonly #closers: (() => Promise<void>)[] = [];
  /** Early releases of the local KMS still closing, awaited by close(). */
  readonly #releasing: Promise<void>[] = [];
  /** The principal the last local KMS call acted as (named in access-denied hints). */
  principal: string | undefined;

  /**
   * Opens the local KMS in `settings.dataDir` (once per dir per run).
   * @param create whether a missing data dir may be created (only `keys create` and `kms serve` do)
   */
  async localKms(settings: Settings, create = false): Promise<LocalKms> {
    const dir = settings.dataDir;
    const open = this.#kms.get(dir);
    if (open) return open;
    if (!create && !existsSync(join(dir, "kms.db"))) {
      throw new SealkitError(
        "ERR_KEY_NOT_FOUND",
        `no local KMS in ${dir}: create a key first (sealkit keys create --data-dir ${dir}) or pass --data-dir`,
      );
    }
    const { LocalKms } = await import("@sealkit/kms-local");
    const openKms = () =>
      LocalKms.open({
        dataDir: dir,
        ...(settings.region ? { region: settings.region } : {}),
        ...(settings.account ? { account: settings.account } : {}),
      });
    // One process at a time holds a data dir. Another sealkit command may hold it for a moment (encrypt and
    // decrypt release it once they have their data key): wait for it a little, as `sealkit encrypt | sealkit
    // decrypt` needs, before reporting it busy.
    const deadline = Date.now() + DATA_DIR_WAIT_MS;
    let kms: LocalKms;
    for (;;) {
      try {
        kms = await openKms();
        break;
      } catch (error) {
        if (!isBusy(error) || Date.now() >= deadline) throw error;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
    this.#kms.set(dir, kms);
    this.#closers.push(() => kms.close());
    return kms;
  }

  /**
   * Closes the local KMS instances opened so far, releasing their data dirs for other processes before the
   * command ends (encrypt and decrypt need no KMS once they have the data key). Idempotent.
   */
  async releaseLocalKms(): Promise<void> {
    const open = [...this.#kms.values()];
    this.#kms.clear();
    await Promise.all(open.map((kms) => kms.close().catch(() => {})));
  }

  /**
   * `providers` that release the local KMS (see {@link releaseLocalKms}) as soon as one of them has produced or
   * opened the data key: `sealkit encrypt | sealkit decrypt` on one data dir failed, the encrypting process holding
   * it until its whole input was read.
   */
  releasingAfterDataKey(providers: readonly KeyProvider[]): KeyProvider[] {
    const release = () => {
      this.#releasing.push(this.releaseLocalKms());
    };
    return providers.map(
      (provider) =>
        new Proxy(provider, {
          get(target, property) {
            const value = Reflect.get(target, property);
            // Methods run on the provider itself, not the proxy (a class's private fields are not on the proxy).
            if (typeof value !== "function") return value;
            if (property !== "generateDataKey" && property !== "decryptDataKey") return value.bind(target);
            return async (...args: unknown[]) => {
              const result = await (value as (...a: unknown[]) => Promise<unknown>).apply(target, args);
              release();
              return result;
            };
          },
        }),
    );
  }

  /** The caller against the local KMS: --principal, or the account root. */
  caller(settings: Settings, kms: LocalKms): LocalCaller {
    const { partition, account } = kms.location;
    const principal = settings.principal ?? `arn:${partition}:iam::${account}:root`;
    const m = /^arn:[a-z-]+:(?:iam|sts)::(\d{12}):/.exec(principal);
    if (!m)
      throw new UsageError(`--principal expected an IAM ARN such as arn:aws:iam::${account}:user/alice`);
    this.principal = principal;
    return { principal, account: m[1]!, userAgent: "sealkit-cli" };
  }

  /**
   * An AWS KMS client with the settings' `awsRegion` and `awsEndpoint` (flag > environment > profile); us-east-1 when
   * an endpoint is set and no region is.
   */
  async kmsClient(settings: Settings): Promise<KMSClient> {
    const { KMSClient } = await import("@aws-sdk/client-kms");
    const region = settings.awsRegion;
    const client = new KMSClient({
      ...(settings.awsEndpoint ? { endpoint: settings.awsEndpoint } : {}),
      // A local endpoint needs some region for SigV4; the Sealkit KMS server defaults to us-east-1.
      ...(region ? { region } : settings.endpoint ? { region: "us-east-1" } : {}),
    });
    this.#closers.push(async () => client.destroy());
    return client;
  }

  /**
   * The AWS KMS clients of the aws provider. With an endpoint (--endpoint, SEALKIT_ENDPOINT, AWS_ENDPOINT_URL_KMS,
   * AWS_ENDPOINT_URL or the profile's), one client: an endpoint answers for one region. Otherwise a client per region
   * of each key ARN, as the AWS Encryption SDK's KMS keyrings have (its default client provider), and the home
   * region's for alias names and bare key ids: one client in the home region sent a key ARN of another region there,
   * and KMS answered NotFoundException (`encrypt --key arn:aws:kms:eu-west-1:...` with AWS_REGION=us-east-1 failed,
   * and so did decrypting an envelope made in another region).
   */
  async awsClients(
    settings: Settings,
    env: NodeJS.ProcessEnv = process.env,
  ): Promise<{ client: KMSClient } | { clientForRegion: (region: string | undefined) => KMSClient }> {
    const home = await this.kmsClient(settings);
    if (settings.awsEndpoint !== undefined || env.AWS_ENDPOINT_URL_KMS || env.AWS_ENDPOINT_URL) {
      return { client: home };
    }
    const { KMSClient } = await import("@aws-sdk/client-kms");
    // Bounded: an envelope names at most its encrypted data keys' regions.
    const byRegion = new Map<string, KMSClient>();
    return {
      clientForRegion: (region) => {
        if (region === undefined || region === settings.awsRegion) return home;
        let client = byRegion.get(region);
        if (!client) {
          const created = new KMSClient({ region });
          this.#closers.push(async () => created.destroy());
          byRegion.set(region, created);
          client = created;
        }
        return client;
      },
    };
  }

  /**
   * The providers for encryption: the first key generates the data key, the others are further recipients.
   * @throws {UsageError} when the provider needs a key and none was given
   */
  async encryptProviders(settings: Settings): Promise<KeyProvider[]> {
    return [await this.#provider(settings, settings.keys, "encrypt")];
  }

  /**
   * The providers for decryption (and for opening an envelope to rewrap it). Without --key, the keys the envelope
   * names for this provider are tried (like AWS's discovery mode, limited to the local KMS, the endpoint or the
   * raw key file the settings point at).
   */
  async decryptProviders(settings: Settings, edks: readonly EncryptedDataKey[]): Promise<KeyProvider[]> {
    let keys = settings.keys;
    if (keys.length === 0) keys = await this.#keysFromEnvelope(settings, edks);
    if (keys.length === 0) {
      throw new SealkitError(
        "ERR_NO_DECRYPTABLE_KEY",
        `the envelope names no key the ${settings.provider} provider can open (keys: ${
          edks.map((k) => `${k.providerId}:${k.keyId}`).join(", ") || "none"
        })`,
      );
    }
    if (settings.provider === "raw" || settings.provider === "pkcs11") {
      // One provider per key: raw, the same key file under each name the envelope uses; pkcs11, each label.
      return Promise.all(keys.map((k) => this.#provider(settings, [k], "decrypt")));
    }
    return [await this.#provider(settings, keys, "decrypt")];
  }

  async #keysFromEnvelope(settings: Settings, edks: readonly EncryptedDataKey[]): Promise<string[]> {
    const ids = (providerId: string) => [
      ...new Set(edks.filter((k) => k.providerId === providerId).map((k) => k.keyId)),
    ];
    switch (settings.provider) {
      case "local": {
        const kms = await this.localKms(settings);
        return ids(AWS_KMS_PROVIDER_ID).filter((id) => kms.resolveKeyArn(id) !== undefined);
      }
      case "aws":
        // Only ids KMS could take (see MAX_KMS_KEY_ID).
        return discoveredAwsKeys(
          ids(AWS_KMS_PROVIDER_ID).filter((id) => id.length <= MAX_KMS_KEY_ID),
          settings.discoveryAccounts,
        );
      case "raw":
        // As for aws: names the raw provider takes (1 to 1,024 bytes), or one added name stopped decrypt (exit 2).
        return ids("raw").filter((id) => Buffer.byteLength(id) <= MAX_RAW_KEY_ID_BYTES);
      case "pkcs11":
        if (settings.pkcs11.keyLabel) return [settings.pkcs11.keyLabel];
        return pkcs11KeyLabels(ids("pkcs11"), settings.pkcs11.tokenLabel);
    }
  }

  async #provider(
    settings: Settings,
    keys: readonly string[],
    use: "encrypt" | "decrypt",
  ): Promise<KeyProvider> {
    const need = (what: string): never => {
      throw new UsageError(`the ${settings.provider} provider needs ${what} to ${use}`);
    };
    switch (settings.provider as ProviderName) {
      case "local": {
        if (keys.length === 0) need("--key (a key id, key ARN or alias of the local KMS)");
        const kms = await this.localKms(settings);
        const { localKmsProvider } = await import("@sealkit/kms-local");
        const [keyId, ...additionalKeyIds] = keys as [string, ...string[]];
        return localKmsProvider({ kms, keyId, additionalKeyIds, caller: this.caller(settings, kms) });
      }
      case "aws": {
        if (keys.length === 0) need("--key (a key ARN or alias)");
        const clients = await this.awsClients(settings);
        const { awsKmsProvider } = await import("@sealkit/kms-aws");
        const [generatorKeyId, ...keyIds] = keys as [string, ...string[]];
        return awsKmsProvider({ generatorKeyId, keyIds, ...clients });
      }
      case "raw": {
        const file = settings.rawKeyFile ?? need("--raw-key-file or SEALKIT_RAW_KEY_FILE");
        if (keys.length > 1) throw new UsageError("the raw provider takes one --key (the key's name)");
        const key = readRawKey(file);
        try {
          return rawKeyProvider({ keyId: keys[0] ?? basename(file), key });
        } finally {
          wipe(key);
        }
      }
      case "pkcs11": {
        const p = settings.pkcs11;
        const keyLabel = keys[0] ?? p.keyLabel ?? need("--key or SEALKIT_PKCS11_KEY_LABEL (the key's label)");
        if (keys.length > 1) throw new UsageError("the pkcs11 provider takes one --key (the key's label)");
        if (!p.pin) need("the token PIN in SEALKIT_PKCS11_PIN (or pkcs11.pinEnv in the config file)");
        const { parsePkcs11Config, pkcs11Provider } = await import("@sealkit/kms-cloudhsm");
        const config = parsePkcs11Config({
          profile: p.profile ?? "softhsm",
          ...(p.library ? { library: p.library } : {}),
          ...(p.tokenLabel ? { tokenLabel: p.tokenLabel } : {}),
          keyLabel,
          pin: p.pin as string,
        });
        const provider = pkcs11Provider(config);
        this.#closers.push(() => provider.close());
        return provider;
      }
    }
  }

  /** Closes everything opened, last first; errors while closing are ignored. */
  async close(): Promise<void> {
    await Promise.all(this.#releasing);
    for (const close of this.#closers.reverse()) await close().catch(() => {});
    this.#closers.length = 0;
    this.#kms.clear();
  }
}

/**
 * The key labels of PKCS#11 key ids (RFC 7512, as kms-cloudhsm writes them: `pkcs11:token=<token label>;object=<key
 * label>`, percent-encoded) that name a key on `token` (on any token when none is configured). Ids that are not
 * such URIs, or do not decode, name no key here.
 */
export function pkcs11KeyLabels(keyIds: readonly string[], token: string | undefined): string[] {
  const labels = new Set<string>();
  for (const id of keyIds) {
    if (!id.startsWith("pkcs11:")) continue;
    const attributes = new Map<string, string>();
    for (const part of id.slice("pkcs11:".length).split(";")) {
      const eq = part.indexOf("=");
      if (eq <= 0) continue;
      try {
        attributes.set(part.slice(0, eq), decodeURIComponent(part.slice(eq + 1)));
      } catch {
        // A malformed escape: this attribute names nothing.
      }
    }
    const object = attributes.get("object");
    // kms-cloudhsm writes the token label without PKCS#11's blank padding, configured or reported.
    if (object && (token === undefined || attributes.get("token") === token.trimEnd())) labels.add(object);
  }
  return [...labels];
}
