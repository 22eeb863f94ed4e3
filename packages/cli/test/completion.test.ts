// `sealkit completion`: the generated scripts run in real bash, zsh and fish (scripts/bootstrap.sh --system installs
// the last two). bash and fish complete exactly as on Tab (bash's COMPREPLY, fish's `complete -C`); zsh's
// completion builtins (compadd, _files) exist only inside a completion widget, so there they are replaced by
// functions that print what the script hands them.

import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Command } from "commander";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CLI_DIR, run, tempDir } from "./helpers.js";

let home: { dir: string; cleanup: () => void };
const scripts: Record<string, string> = {};
let work: string;

beforeAll(async () => {
  home = tempDir("sealkit-completion-");
  for (const shell of ["bash", "zsh", "fish"]) {
    const r = await run(["completion", shell], { cwd: home.dir });
    expect(r.code, r.stderr).toBe(0);
    scripts[shell] = join(home.dir, `sealkit.${shell}`);
    writeFileSync(scripts[shell]!, r.out);
  }
  // Files and a directory for file-name completion.
  work = join(home.dir, "work");
  mkdirSync(join(work, "backups"), { recursive: true });
  writeFileSync(join(work, "backup.tar"), "");
  writeFileSync(join(work, "backup.tar.slkt"), "");
  writeFileSync(join(work, "notes.txt"), "");
}, 60_000);
afterAll(() => home?.cleanup());

const shellQuote = (word: string) => `'${word.replace(/'/g, `'\\''`)}'`;

/** bash: COMP_WORDS as bash splits the line (at spaces, and around "=" and ":"), then what _sealkit put in COMPREPLY. */
function bash(words: string[]): string[] {
  const program = `source ${shellQuote(scripts.bash!)}
COMP_WORDS=(${words.map(shellQuote).join(" ")}); COMP_CWORD=$((\${#COMP_WORDS[@]} - 1))
_sealkit; printf '%s\\n' "\${COMPREPLY[@]}"`;
  return lines(execFileSync("bash", ["--norc", "-c", program], { cwd: work, encoding: "utf8" }));
}

/** fish: `complete -C` on the command line, as fish lists on Tab: "candidate<TAB>description". */
function fish(line: string): string[] {
  const program = `source ${shellQuote(scripts.fish!)}; complete -C ${shellQuote(line)}`;
  return lines(execFileSync("fish", ["--no-config", "-c", program], { cwd: work, encoding: "utf8" }));
}

/** zsh: `words`/`CURRENT` as zsh sets them; what _sealkit passes to compadd (value, then display) and _files. */
function zsh(words: string[]): string[] {
  const program = `compdef() { : }
compadd() { local i; for i in {1..\${#values}}; do print -r -- "$values[i]|$descriptions[i]"; done }
_files() { print -r -- "_files $*" }
source ${shellQuote(scripts.zsh!)}
words=(${words.map(shellQuote).join(" ")}); CURRENT=\${#words}
_sealkit`;
  return lines(execFileSync("zsh", ["-f", "-c", program], { cwd: work, encoding: "utf8" }));
}

const lines = (text: string) => text.split("\n").filter((l) => l !== "");
const names = (list: string[]) => list.map((l) => l.split(/[\t|]/)[0]).sort();

describe("sealkit completion", { timeout: 60_000 }, () => {
  it("completes subcommands, options, option values and file names in bash", () => {
    expect(bash(["sealkit", ""])).toEqual([
      "encrypt",
      "decrypt",
      "rewrap",
      "inspect",
      "keys",
      "aliases",
      "policy",
      "grants",
      "audit",
      "usage",
      "kms",
      "bench",
      "completion",
    ]);
    expect(bash(["sealkit", "keys", "ro"])).toEqual(["rotations", "rotate"]);
    expect(bash(["sealkit", "encrypt", "--pro"])).toEqual(["--provider", "--profile"]);
    expect(bash(["sealkit", "encrypt", "--provider", ""])).toEqual(["local", "aws", "pkcs11", "raw"]);
    // "--provider=a": bash makes "=" a word of its own.
    expect(bash(["sealkit", "encrypt", "--provider", "=", "a"])).toEqual(["aws"]);
    expect(bash(["sealkit", "encrypt", "--provider", "="])).toEqual(["local", "aws", "pkcs11", "raw"]);
    expect(bash(["sealkit", "keys", "rotate", "k1", "--automatic", ""])).toEqual(["on", "off"]);
    expect(bash(["sealkit", "decrypt", "back"]).sort()).toEqual(["backup.tar", "backup.tar.slkt", "backups"]);
    expect(bash(["sealkit", "decrypt", "-o", "n"])).toEqual(["notes.txt"]);
    expect(bash(["sealkit", "kms", "serve", "--data-dir", "b"])).toEqual(["backups"]);
    // A value is never taken for a subcommand: "--key list" then "l" completes nothing (keys have no files).
    expect(bash(["sealkit", "aliases", "list", "--key", "list", "--j"])).toEqual(["--json"]);
    // An ARN, which bash splits at ":", is skipped as the option's value.
    expect(bash(["sealkit", "encrypt", "--key", "arn", ":", "aws", ":", "kms", "--su"])).toEqual(["--suite"]);
    // Free-text values and key ids complete to nothing rather than to file names.
    expect(bash(["sealkit", "keys", "create", "--alias", ""])).toEqual([]);
    expect(bash(["sealkit", "keys", "describe", ""])).toEqual([]);
    // Global options before the subcommand.
    expect(bash(["sealkit", "-q", "--profile", "work", "keys", "l"])).toEqual(["list"]);
  });

  it("completes the same in fish, with descriptions", () => {
    expect(fish("sealkit keys ro")).toEqual([
      "rotate\trotate a key's material now, or turn automatic rotation on or off",
      "rotations\tshow a key's rotation status and past rotations",
    ]);
    expect(names(fish("sealkit encrypt --provider "))).toEqual(["aws", "local", "pkcs11", "raw"]);
    expect(names(fish("sealkit encrypt --provider="))).toEqual([
      "--provider=aws",
      "--provider=local",
      "--provider=pkcs11",
      "--provider=raw",
    ]);
    expect(names(fish("sealkit decrypt back"))).toEqual(["backup.tar", "backup.tar.slkt", "backups/"]);
    expect(names(fish("sealkit kms serve --data-dir b"))).toEqual(["backups/"]);
    expect(fish("sealkit keys describe ")).toEqual([]);
  });

  it("hands zsh the candidates with descriptions, and file names to _files", () => {
    expect(zsh(["sealkit", "keys", "ro"]).filter((l) => l.startsWith("rotate"))).toEqual([
      "rotate|rotate  -- rotate a key's material now, or turn automatic rotation on or off",
    ]);
    expect(zsh(["sealkit", "encrypt", "--provider", ""])).toEqual([
      "local|local",
      "aws|aws",
      "pkcs11|pkcs11",
      "raw|raw",
    ]);
    expect(zsh(["sealkit", "encrypt", "--provider=p"])).toContain("--provider=pkcs11|--provider=pkcs11");
    expect(zsh(["sealkit", "decrypt", "-o", ""])).toEqual(["_files "]);
    expect(zsh(["sealkit", "kms", "serve", "--data-dir", ""])).toEqual(["_files -/"]);
  });

  it("knows every command and option of the program, in all three shells", async () => {
    // The built program, as the scripts were generated from it (actions never run: no session is needed).
    const { createProgram } = (await import(join(CLI_DIR, "dist", "index.js"))) as {
      createProgram: (session: unknown) => Command;
    };
    const program = createProgram(undefined);
    const paths: { words: string[]; cmd: Command }[] = [];
    const walk = (cmd: Command, words: string[]) => {
      paths.push({ words, cmd });
      for (const sub of cmd.commands) walk(sub, [...words, sub.name()]);
    };
    walk(program, []);
    expect(paths.length).toBeGreaterThan(30);
    for (const { words, cmd } of paths) {
      const subcommands = cmd.commands.map((c) => c.name()).sort();
      const longOptions = [...cmd.options, ...program.options]
        .map((o) => o.long)
        .filter((n): n is string => n !== undefined);
      if (subcommands.length > 0) {
        expect(bash(["sealkit", ...words, ""]).sort(), words.join(" ")).toEqual(subcommands);
      }
      const options = bash(["sealkit", ...words, "--"]);
      expect(options, words.join(" ")).toEqual(expect.arrayContaining([...new Set(longOptions)]));
    }
    // The other shells answer from the same core: spot checks of every top-level command's options.
    for (const { words } of paths.filter((p) => p.words.length === 1)) {
      const line = ["sealkit", ...words, "--"];
      const expected = names(bash(line).map((w) => w));
      expect(names(fish(`${line.join(" ")}`)), words.join(" ")).toEqual(expected);
      expect(names(zsh(line)), words.join(" ")).toEqual(expected);
    }
  });

  it("refuses a shell it has no script for (exit 2, the choices named)", async () => {
    const r = await run(["completion", "powershell"], { cwd: home.dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/bash, zsh, fish/);
  });
});
