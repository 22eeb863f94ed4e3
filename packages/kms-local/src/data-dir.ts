// The data dir itself: created with mode 0700 when missing, refused with a message saying what to fix when it is not
// a directory, cannot be created, has a path SQLite cannot open, or can be replaced by someone other than its user.

import {
  accessSync,
  constants,
  existsSync,
  lstatSync,
  mkdirSync,
  readlinkSync,
  realpathSync,
  statSync,
} from "node:fs";
import { join, resolve } from "node:path";
import { SealkitError } from "@sealkit/core";
import Database from "better-sqlite3";

/**
 * The longest file name SQLite derives in the data dir: `audit.db.lock` with its rollback journal. SQLite's unix
 * VFS refuses a path of 512 bytes or more (MAX_PATHNAME, the terminating NUL included) with only "unable to open
 * database file".
 */
const LONGEST_NAME = "/audit.db.lock-journal";
const SQLITE_MAX_PATH_BYTES = 511;

/** The longest data dir path (bytes of UTF-8, absolute, symlinks resolved) whose files SQLite can open. */
export const MAX_DATA_DIR_PATH_BYTES = SQLITE_MAX_PATH_BYTES - LONGEST_NAME.length;

function dataDirError(dataDir: string, what: string, cause?: unknown): SealkitError {
  return new SealkitError(
    "ERR_PROVIDER_UNAVAILABLE",
    `the data dir ${dataDir} ${what}`,
    cause === undefined ? undefined : { cause },
  );
}

function checkPathLength(dataDir: string, absolute: string): void {
  const bytes = new TextEncoder().encode(absolute).length;
  if (bytes > MAX_DATA_DIR_PATH_BYTES) {
    throw dataDirError(
      dataDir,
      `has a path of ${bytes} bytes${absolute === resolve(dataDir) ? "" : ` (${absolute} with symbolic links resolved)`}; SQLite opens paths below 512 bytes, so a data dir path may have at most ${MAX_DATA_DIR_PATH_BYTES}: choose a shorter one`,
    );
  }
}

/** Why mkdir failed, in the operator's terms. */
function mkdirProblem(dataDir: string, cause: NodeJS.ErrnoException): string {
  switch (cause.code) {
    case "EEXIST":
    case "ENOTDIR": {
      let isFile = false;
      try {
        isFile = !statSync(dataDir).isDirectory();
      } catch {
        isFile = false;
      }
      return isFile
        ? "is a file, not a directory: give the path of a directory (it is created if missing)"
        : "cannot be created: a part of its path is a file, not a directory";
    }
    case "ENOENT": {
      // mkdir -p fails with ENOENT only when a symbolic link on the path points nowhere.
      try {
        if (lstatSync(dataDir).isSymbolicLink())
          return `is a symbolic link to ${readlinkSync(dataDir)}, which does not exist: create that directory or fix the link`;
      } catch {
        // Not the data dir itself: a link further up the path.
      }
      return "cannot be created: a symbolic link on its path points to nothing";
    }
    case "ENAMETOOLONG":
      return "cannot be created: its path, or a name in it, is too long for the file system";
    case "EACCES":
    case "EPERM":
      return "cannot be created: permission denied on its parent directory";
    case "EROFS":
      return "cannot be created: the file system is read-only";
    case "ENOSPC":
      return "cannot be created: the disk is full";
    default:
      return "cannot be created";
  }
}

/**
 * Creates the data dir (mode 0700, parents as needed) unless it exists, and checks that it is a directory
 * (a symbolic link to one is followed) whose path SQLite can open, and that only its user can change what is in
 * it: owned by the process's user or root, not writable by group or others. Whoever can write to the data dir can
 * put a kms.db and a root.key of their own in place of the real ones, and every key created afterwards would be
 * wrapped by a root key they know (OpenSSH's StrictModes and PostgreSQL's data directory check refuse the same).
 * @throws {SealkitError} ERR_PROVIDER_UNAVAILABLE naming the data dir and what to fix
 */
export function prepareDataDir(dataDir: string): void {
  checkPathLength(dataDir, resolve(dataDir));
  try {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  } catch (cause) {
    const error = cause as NodeJS.ErrnoException;
    throw dataDirError(dataDir, `${mkdirProblem(dataDir, error)} (${error.code})`, cause);
  }
  let stats: ReturnType<typeof statSync>;
  let real: string;
  try {
    stats = statSync(dataDir);
    real = realpathSync(dataDir);
  } catch (cause) {
    throw dataDirError(dataDir, `cannot be read (${(cause as NodeJS.ErrnoException).code})`, cause);
  }
  if (!stats.isDirectory())
    throw dataDirError(
      dataDir,
      "is a file, not a directory: give the path of a directory (it is created if missing)",
    );
  checkPathLength(dataDir, real);
  const uid = process.geteuid?.();
  if (uid !== undefined && stats.uid !== uid && stats.uid !== 0) {
    throw dataDirError(
      dataDir,
      `belongs to user ${stats.uid}, but this process runs as user ${uid}: that user could replace kms.db and the root key. Run as its owner, or chown it to the user that runs the KMS`,
    );
  }
  const mode = stats.mode & 0o777;
  if ((mode & 0o022) !== 0) {
    throw dataDirError(
      dataDir,
      `has mode ${mode.toString(8).padStart(4, "0")}: group or others may write to it, and so replace kms.db and the root key. Make it writable by its owner only (chmod 700)`,
    );
  }
}

/** The files of a data dir the KMS must read and write, as SQLite names them. */
const DATA_FILES = [
  "kms.db",
  "kms.db-wal",
  "kms.db-shm",
  "kms.db.lock",
  "kms.db.lock-journal",
  "audit.db",
  "audit.db-wal",
  "audit.db-shm",
  "audit.db.lock",
  "audit.db.lock-journal",
];

/**
 * Why SQLite could not open or write the data dir's databases ("unable to open database file", "attempt to write a
 * readonly database" say neither which file nor why): the first of the dir and its files that this process cannot
 * read and write, with its owner and mode. Undefined when every one is accessible (the cause is elsewhere).
 */
export function dataDirAccessProblem(dataDir: string): string | undefined {
  const uid = process.geteuid?.();
  const who = uid === undefined ? "this process" : `this process (user ${uid})`;
  const describe = (path: string) => {
    const stats = statSync(path);
    return `owner ${stats.uid}, mode ${(stats.mode & 0o777).toString(8).padStart(4, "0")}`;
  };
  try {
    accessSync(dataDir, constants.R_OK | constants.W_OK | constants.X_OK);
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    if (code === "EROFS") return `the data dir ${dataDir} is on a read-only file system (EROFS)`;
    return `${who} cannot write to the data dir ${dataDir} (${describe(dataDir)}; ${code}): chown -R it to the user that runs the KMS, or run the KMS as its owner`;
  }
  for (const name of DATA_FILES) {
    const path = join(dataDir, name);
    try {
      accessSync(path, constants.R_OK | constants.W_OK);
    } catch (cause) {
      const code = (cause as NodeJS.ErrnoException).code;
      if (code === "ENOENT") continue;
      if (code === "EROFS") return `the data dir ${dataDir} is on a read-only file system (EROFS)`;
      return `${who} cannot read and write ${path} (${describe(path)}; ${code}): every file of the data dir must belong to the user that runs the KMS (chown -R) and be writable by it`;
    }
  }
  return undefined;
}

/**
 * What an operator should do about a SQLite error met while opening the data dir, or undefined when there is nothing
 * more to say than SQLite's words: which file is not accessible (see {@link dataDirAccessProblem}), or, for a
 * damaged database, the usual cause after a restore: `-wal` and `-shm` files of the old database left beside the
 * restored one. SQLite replays a WAL onto whatever database file has its name; nothing ties it to the file it was
 * written for.
 */
export function explainOpenFailure(dataDir: string, code: string): string | undefined {
  if (/^SQLITE_(READONLY|CANTOPEN|PERM|AUTH)/.test(code)) return dataDirAccessProblem(dataDir);
  if (/^SQLITE_(CORRUPT|NOTADB)/.test(code)) {
    return `a database of the data dir is damaged (${code}). If kms.db or audit.db was just restored into this data dir, the -wal and -shm files beside it belong to the database it replaced: delete kms.db-wal, kms.db-shm, audit.db-wal and audit.db-shm, copy the backup in again (this open may have changed it), then start. Otherwise restore the data dir from its backup`;
  }
  return undefined;
}

/**
 * Why the data dir must not start as a new, empty KMS: its kms.db is missing or empty (a restore that left it out,
 * a file truncated to nothing) while the audit log beside it records keys created. SQLite would silently create an
 * empty kms.db, every earlier key would be NotFoundException and new ones would be made beside a log that names
 * the lost ones. Undefined when kms.db is there, or nothing shows that keys were made here.
 */
export function lostDatabaseProblem(dataDir: string): string | undefined {
  const kmsDb = join(dataDir, "kms.db");
  try {
    if (statSync(kmsDb).size > 0) return undefined;
  } catch {
    // Missing: look at the audit log.
  }
  const auditDb = join(dataDir, "audit.db");
  if (!existsSync(auditDb)) return undefined;
  let created = 0;
  try {
    const log = new Database(auditDb, { readonly: true, fileMustExist: true });
    try {
      created = (
        log
          .prepare(
            "SELECT count(*) AS n FROM audit_events WHERE event_name = 'CreateKey' AND error_code IS NULL",
          )
          .get() as { n: number }
      ).n;
    } finally {
      log.close();
    }
  } catch {
    return undefined; // Not an audit log this code can read: the audit log's own open reports it.
  }
  if (created === 0) return undefined;
  return `${kmsDb} is missing or empty, but the audit log beside it records ${created} key${created === 1 ? "" : "s"} created: this data dir held keys. Restore kms.db from the backup of this data dir (the -wal and -shm files of an old one removed); to start an empty KMS here on purpose, move audit.db and its -wal and -shm away first`;
}
