// Seed files: keys (by alias), their description, policy, rotation and tags, and extra aliases, applied idempotently.

import { readFileSync } from "node:fs";
import { parse as parseYaml } from "yaml";
import type { KmsBackend, KmsCaller } from "./server.js";

/** One key of a seed file. The alias names the key, so applying the seed twice creates it once. */
export interface SeedKey {
  /** `alias/<name>`; required, it is how a second run finds the key. */
  readonly alias: string;
  readonly description?: string;
  /** A key policy, as a JSON string or an object. Default: the default key policy of the seeding account. */
  readonly policy?: string | Record<string, unknown>;
  /** Automatic rotation: true (365 days), false, or a period in days (90 to 2,560). */
  readonly rotation?: boolean | number;
  readonly tags?: Readonly<Record<string, string>>;
  /** False to leave the key disabled (default true). */
  readonly enabled?: boolean;
}

/** A seed file's content. */
export interface Seed {
  /** The principal the seed acts as (default `arn:aws:iam::<account>:root`). */
  readonly principal?: string;
  readonly keys?: readonly SeedKey[];
  /** Extra aliases pointing at a seeded alias, a key id or a key ARN. */
  readonly aliases?: readonly { readonly name: string; readonly target: string }[];
}

/** What applying a seed did, by alias. */
export interface SeedResult {
  readonly created: string[];
  readonly updated: string[];
  readonly unchanged: string[];
  /**
   * Seeded keys (and extra aliases naming them) whose key is pending deletion: left as they are. A key pending
   * deletion cannot be changed, and cancelling its deletion would undo what its owner asked for.
   */
  readonly pendingDeletion: string[];
}

/** What a seed did, in one line for a server's start-up output (the same in sealkit-kms and sealkit kms serve). */
export function seedSummary(result: SeedResult): string {
  const { created, updated, unchanged, pendingDeletion } = result;
  const left =
    pendingDeletion.length > 0
      ? `, left as they are (key pending deletion): ${pendingDeletion.join(", ")}`
      : "";
  return `seed: ${created.length} created, ${updated.length} updated, ${unchanged.length} unchanged${left}`;
}

/** Key states in which a key cannot be changed until its deletion is cancelled. */
const PENDING_DELETION = new Set(["PendingDeletion", "PendingReplicaDeletion"]);

/**
 * Reads a seed file (YAML, or JSON, which is YAML too).
 * @throws {TypeError} for a document that is not a seed (see {@link checkSeed}); the file system's error when unreadable.
 */
export function loadSeedFile(path: string): Seed {
  const text = readFileSync(path, "utf8"); // a file that cannot be read throws its ENOENT, EACCES, ...
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (e) {
    // The parser's errors carry a code of their own (BLOCK_AS_IMPLICIT_KEY, ...): a bad file, not an I/O failure.
    throw new TypeError(`seed file ${path} is not valid YAML or JSON: ${firstLine((e as Error).message)}`);
  }
  return checkSeed(doc);
}

/** Checks the shape of a seed document. @throws {TypeError} naming the first bad field. */
export function checkSeed(doc: unknown): Seed {
  if (doc === null || doc === undefined) return {};
  if (typeof doc !== "object" || Array.isArray(doc))
    throw new TypeError("seed: expected a mapping with keys and aliases");
  const seed = doc as Record<string, unknown>;
  if (seed.principal !== undefined && typeof seed.principal !== "string")
    throw new TypeError('seed: "principal" expected a string');
  if (seed.keys !== undefined && !Array.isArray(seed.keys))
    throw new TypeError('seed: "keys" expected a list');
  if (seed.aliases !== undefined && !Array.isArray(seed.aliases))
    throw new TypeError('seed: "aliases" expected a list');
  const seen = new Set<string>();
  ((seed.keys ?? []) as unknown[]).forEach((k, i) => {
    const key = k as Record<string, unknown>;
    if (typeof key !== "object" || key === null) throw new TypeError(`seed: keys[${i}] expected a mapping`);
    if (typeof key.alias !== "string" || !key.alias.startsWith("alias/")) {
      throw new TypeError(`seed: keys[${i}].alias expected "alias/<name>"`);
    }
    if (seen.has(key.alias)) throw new TypeError(`seed: alias ${key.alias} appears twice`);
    seen.add(key.alias);
    if (key.description !== undefined && typeof key.description !== "string")
      throw new TypeError(`seed: keys[${i}].description expected a string`);
    if (
      key.policy !== undefined &&
      typeof key.policy !== "string" &&
      (typeof key.policy !== "object" || key.policy === null)
    ) {
      throw new TypeError(`seed: keys[${i}].policy expected a JSON string or a mapping`);
    }
    if (key.rotation !== undefined && typeof key.rotation !== "boolean" && !Number.isInteger(key.rotation)) {
      throw new TypeError(`seed: keys[${i}].rotation expected true, false or a number of days`);
    }
    if (key.enabled !== undefined && typeof key.enabled !== "boolean")
      throw new TypeError(`seed: keys[${i}].enabled expected a boolean`);
    if (key.tags !== undefined) {
      if (typeof key.tags !== "object" || key.tags === null || Array.isArray(key.tags))
        throw new TypeError(`seed: keys[${i}].tags expected a mapping`);
      for (const [t, v] of Object.entries(key.tags)) {
        if (typeof v !== "string") throw new TypeError(`seed: keys[${i}].tags.${t} expected a string`);
      }
    }
  });
  ((seed.aliases ?? []) as unknown[]).forEach((a, i) => {
    const alias = a as Record<string, unknown>;
    if (
      typeof alias !== "object" ||
      alias === null ||
      typeof alias.name !== "string" ||
      typeof alias.target !== "string"
    ) {
      throw new TypeError(`seed: aliases[${i}] expected { name, target }`);
    }
    if (!alias.name.startsWith("alias/"))
      throw new TypeError(`seed: aliases[${i}].name expected "alias/<name>"`);
  });
  return seed as Seed;
}

/**
 * Applies a seed through the local KMS's API as `caller`: creates missing keys and aliases, and brings existing
 * ones to the seed's description, policy, rotation, tags and state. Running it twice changes nothing the second time.
 * A seeded key that is pending deletion (and an extra alias to it) is left as it is and listed in `pendingDeletion`.
 * @throws the local KMS's errors (KmsError), for example MalformedPolicyDocumentException for a bad policy.
 */
export async function applySeed(kms: KmsBackend, caller: KmsCaller, seed: Seed): Promise<SeedResult> {
  const result: SeedResult = { created: [], updated: [], unchanged: [], pendingDeletion: [] };
  const aliases = await listAllAliases(kms, caller);
  for (const key of seed.keys ?? []) {
    const policy =
      key.policy === undefined
        ? undefined
        : typeof key.policy === "string"
          ? key.policy
          : JSON.stringify(key.policy);
    const tags = Object.entries(key.tags ?? {}).map(([TagKey, TagValue]) => ({ TagKey, TagValue }));
    let keyId = aliases.get(key.alias);
    let changed = false;
    if (keyId === undefined) {
      const created = await kms.createKey(caller, {
        ...(key.description !== undefined ? { Description: key.description } : {}),
        ...(policy !== undefined ? { Policy: policy } : {}),
        ...(tags.length > 0 ? { Tags: tags } : {}),
      });
      keyId = created.KeyMetadata.KeyId as string;
      await kms.createAlias(caller, { AliasName: key.alias, TargetKeyId: keyId });
      aliases.set(key.alias, keyId);
      result.created.push(key.alias);
    } else {
      const { KeyMetadata: meta } = await kms.describeKey(caller, { KeyId: keyId });
      if (PENDING_DELETION.has(meta.KeyState)) {
        result.pendingDeletion.push(key.alias);
        continue;
      }
      if (key.description !== undefined && meta.Description !== key.description) {
        await kms.updateKeyDescription(caller, { KeyId: keyId, Description: key.description });
        changed = true;
      }
      if (policy !== undefined) {
        const current = await kms.getKeyPolicy(caller, { KeyId: keyId, PolicyName: "default" });
        if (!sameJson(current.Policy, policy)) {
          await kms.putKeyPolicy(caller, { KeyId: keyId, PolicyName: "default", Policy: policy });
          changed = true;
        }
      }
      if (tags.length > 0) {
        const current = await kms.listResourceTags(caller, { KeyId: keyId });
        const have = new Map<string, string>(
          ((current.Tags ?? []) as { TagKey: string; TagValue: string }[]).map((t) => [t.TagKey, t.TagValue]),
        );
        if (tags.some((t) => have.get(t.TagKey) !== t.TagValue)) {
          await kms.tagResource(caller, { KeyId: keyId, Tags: tags });
          changed = true;
        }
      }
      if (key.enabled !== false && meta.KeyState === "Disabled") {
        await kms.enableKey(caller, { KeyId: keyId });
        changed = true;
      }
    }
    if (key.rotation !== undefined) {
      const status = await kms.getKeyRotationStatus(caller, { KeyId: keyId });
      const want = key.rotation !== false;
      const period = typeof key.rotation === "number" ? key.rotation : 365;
      if (
        want &&
        (!status.KeyRotationEnabled ||
          (status.RotationPeriodInDays !== undefined && status.RotationPeriodInDays !== period))
      ) {
        await kms.enableKeyRotation(caller, { KeyId: keyId, RotationPeriodInDays: period });
        changed = true;
      } else if (!want && status.KeyRotationEnabled) {
        await kms.disableKeyRotation(caller, { KeyId: keyId });
        changed = true;
      }
    }
    if (key.enabled === false) {
      const { KeyMetadata: meta } = await kms.describeKey(caller, { KeyId: keyId });
      if (meta.KeyState === "Enabled") {
        await kms.disableKey(caller, { KeyId: keyId });
        changed = true;
      }
    }
    if (!result.created.includes(key.alias)) (changed ? result.updated : result.unchanged).push(key.alias);
  }
  for (const alias of seed.aliases ?? []) {
    const target = aliases.get(alias.target) ?? alias.target;
    const { KeyMetadata: targetMeta } = await kms.describeKey(caller, { KeyId: target });
    const targetId = targetMeta.KeyId as string;
    const current = aliases.get(alias.name);
    if (PENDING_DELETION.has(targetMeta.KeyState)) {
      result.pendingDeletion.push(alias.name);
    } else if (current === undefined) {
      await kms.createAlias(caller, { AliasName: alias.name, TargetKeyId: targetId });
      aliases.set(alias.name, targetId);
      result.created.push(alias.name);
    } else if (current !== targetId) {
      await kms.updateAlias(caller, { AliasName: alias.name, TargetKeyId: targetId });
      aliases.set(alias.name, targetId);
      result.updated.push(alias.name);
    } else {
      result.unchanged.push(alias.name);
    }
  }
  return result;
}

async function listAllAliases(kms: KmsBackend, caller: KmsCaller): Promise<Map<string, string>> {
  const map = new Map<string, string>();
  let marker: string | undefined;
  do {
    const page = await kms.listAliases(caller, { Limit: 100, ...(marker ? { Marker: marker } : {}) });
    for (const a of page.Aliases ?? []) if (a.TargetKeyId) map.set(a.AliasName, a.TargetKeyId);
    marker = page.Truncated ? page.NextMarker : undefined;
  } while (marker);
  return map;
}

function sameJson(a: unknown, b: string): boolean {
  try {
    return JSON.stringify(JSON.parse(String(a))) === JSON.stringify(JSON.parse(b));
  } catch {
    return a === b;
  }
}

/** The first line of a parser message (the yaml package appends the quoted source below it). */
function firstLine(message: string): string {
  return message.split("\n", 1)[0]!.trim();
}
