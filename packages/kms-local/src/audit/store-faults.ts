// Test support: which real ways of making a store unwritable this machine allows (the fail-closed tests use them).

import { execFileSync } from "node:child_process";
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** Runs a command; true when it exited 0. */
export function tryRun(file: string, args: string[]): boolean {
  try {
    execFileSync(file, args, { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

/**
 * Probes once whether a 1 MB tmpfs can be mounted (root with CAP_SYS_ADMIN) and whether the immutable attribute
 * can be set (chattr +i). chmod cannot stand in for either: tests run as root, which writes through it.
 */
export function probeStoreFaults(): { readonly canMount: boolean; readonly canChattr: boolean } {
  const probe = mkdtempSync(join(tmpdir(), "sealkit-audit-probe-"));
  try {
    const canMount =
      tryRun("mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", probe]) && tryRun("umount", [probe]);
    const file = join(probe, "f");
    closeSync(openSync(file, "w"));
    const canChattr = tryRun("chattr", ["+i", file]) && tryRun("chattr", ["-i", file]);
    return { canMount, canChattr };
  } finally {
    rmSync(probe, { recursive: true, force: true });
  }
}

/**
 * Fills the file system holding `dir` (a small tmpfs) until it refuses another byte; returns the filler's path,
 * whose removal frees the space again.
 * @throws the write error when it is anything but ENOSPC (the file system did not fill up as expected)
 */
export function fillFileSystem(dir: string): string {
  const filler = join(dir, "filler");
  const fd = openSync(filler, "w");
  const chunk = Buffer.alloc(4096, 1);
  try {
    for (;;) writeSync(fd, chunk);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOSPC") throw error;
  } finally {
    closeSync(fd);
  }
  return filler;
}
