// The Ed25519 key that signs audit digests: loaded from the data dir, created with mode 0600 on first start.

import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
} from "node:crypto";
import { constants, promises as fs } from "node:fs";
import { dirname } from "node:path";
import { syncDirectory, temporaryPathBeside } from "../durable-file.js";
import { KmsError } from "../errors.js";

/** The digest signing key pair and the SHA-256 fingerprint (hex) of the public key's SPKI DER. */
export interface DigestSigningKey {
  privateKey: KeyObject;
  publicKey: KeyObject;
  /** The public key as SPKI PEM, written next to the private key as `<path>.pub` for external verifiers. */
  publicKeyPem: string;
  fingerprint: string;
}

function fingerprintOf(publicKey: KeyObject): string {
  return createHash("sha256")
    .update(publicKey.export({ type: "spki", format: "der" }))
    .digest("hex");
}

/**
 * Loads the PKCS#8 PEM Ed25519 key at `path`, or creates it (mode 0600, fsync'd, linked into place atomically)
 * when missing.
 * Writes the public key next to it as `<path>.pub` (mode 0644).
 *
 * @throws {KmsError} KMSInternalException when the file exists but is not a regular file, not an Ed25519 private key, is accessible
 *   by group or others, or cannot be read or created (the file system error in `cause`), as for the root key file.
 */
export async function loadOrCreateSigningKey(path: string): Promise<DigestSigningKey> {
  try {
    return await loadOrCreate(path);
  } catch (error) {
    if (KmsError.isInstance(error)) throw error;
    throw signingKeyError(
      path,
      `cannot be read or created (${(error as Error)?.message ?? String(error)})`,
      error,
    );
  }
}

function signingKeyError(path: string, problem: string, cause?: unknown): KmsError {
  return new KmsError(
    "KMSInternalException",
    `audit signing key ${path} ${problem}`,
    cause === undefined ? undefined : { cause },
  );
}

async function loadOrCreate(path: string): Promise<DigestSigningKey> {
  let pem: string;
  try {
    const stats = await fs.stat(path);
    // Reading a FIFO (or a device) would block open forever, or read without end.
    if (!stats.isFile()) throw signingKeyError(path, "is not a regular file");
    const mode = stats.mode & 0o777;
    if (mode & 0o077) {
      // Readable by others, anyone could sign digests; writable by others, anyone could swap the key.
      throw signingKeyError(
        path,
        `has mode ${mode.toString(8).padStart(4, "0")}; it must be accessible by its owner only (chmod 600)`,
      );
    }
    pem = await fs.readFile(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
    const { privateKey } = generateKeyPairSync("ed25519");
    pem = privateKey.export({ type: "pkcs8", format: "pem" }) as string;
    await fs.mkdir(dirname(path), { recursive: true });
    // Written and fsync'd under a temporary name, then linked into place (which fails if the name exists): a
    // crash or a full disk leaves no key file or a complete one, never an empty one that every later open
    // would refuse.
    const temp = temporaryPathBeside(path);
    try {
      const handle = await fs.open(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
      try {
        await handle.writeFile(pem, "utf8");
        await handle.sync();
      } finally {
        await handle.close();
      }
      await fs.link(temp, path);
      // Unlinked before the directory fsync: a crash during it must not leave a second name of the private key.
      await fs.unlink(temp).catch(() => undefined);
      syncDirectory(dirname(path));
    } catch (createError) {
      // Another process created it between our read and our create: use theirs.
      if ((createError as NodeJS.ErrnoException).code !== "EEXIST") throw createError;
      pem = await fs.readFile(path, "utf8");
    } finally {
      await fs.unlink(temp).catch(() => undefined);
    }
  }
  const privateKey = createPrivateKey(pem);
  if (privateKey.asymmetricKeyType !== "ed25519") {
    throw signingKeyError(path, "is not an Ed25519 private key");
  }
  const publicKey = createPublicKey(privateKey);
  const publicKeyPem = publicKey.export({ type: "spki", format: "pem" }) as string;
  const pubPath = `${path}.pub`;
  const existing = await fs.readFile(pubPath, "utf8").catch(() => undefined);
  if (existing !== publicKeyPem) await fs.writeFile(pubPath, publicKeyPem, { mode: 0o644 });
  return { privateKey, publicKey, publicKeyPem, fingerprint: fingerprintOf(publicKey) };
}

/** Parses an SPKI PEM Ed25519 public key (for verifying a copied log with only the public key). */
export function parsePublicKey(pem: string): { publicKey: KeyObject; fingerprint: string } {
  const publicKey = createPublicKey(pem);
  if (publicKey.asymmetricKeyType !== "ed25519")
    throw new TypeError("audit public key is not an Ed25519 key");
  return { publicKey, fingerprint: fingerprintOf(publicKey) };
}
