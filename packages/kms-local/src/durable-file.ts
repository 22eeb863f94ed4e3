// Creating key files so that a crash or a full disk leaves either no file or a complete one: written and fsync'd
// under a temporary name beside the target, linked into place, then the directory fsync'd.

import { randomBytes } from "node:crypto";
import { closeSync, constants, fsyncSync, openSync } from "node:fs";
import { basename, dirname, join } from "node:path";

/** A hidden temporary name in the directory of `path`, unique to this process and call. */
export function temporaryPathBeside(path: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(6).toString("hex")}.tmp`);
}

/** fsyncs a directory so that a name just linked into it survives a power cut; best effort where unsupported. */
export function syncDirectory(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, constants.O_RDONLY);
    fsyncSync(fd);
  } catch {
    // Some file systems refuse fsync on a directory; the file itself is already fsync'd.
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
