// `sealkit completion <bash|zsh|fish>`: shell completion scripts generated from the command tree itself, so they
// cannot drift from the commands and options that exist.
//
// One POSIX sh core decides what may come next (subcommands, options, option values, file names); each shell's
// script wraps it in that shell's completion API. bash and zsh define the core as functions; fish runs it with
// `sh -c` (a millisecond per Tab), so all three shells answer from the same logic.

import type { Command, Option } from "commander";

/** Shells with a completion script. */
export const SHELLS = ["bash", "zsh", "fish"] as const;
export type Shell = (typeof SHELLS)[number];

/** What an option's value, or a command's arguments, complete to. */
type Values = "file" | "dir" | "text" | `choices:${string}`;

interface OptionSpec {
  readonly names: readonly string[];
  readonly description: string;
  /** Undefined for a flag without a value. */
  readonly value: Values | undefined;
}

interface CommandSpec {
  /** Space-separated subcommand names below `sealkit` ("" for sealkit itself). */
  readonly path: string;
  readonly subcommands: readonly { readonly name: string; readonly description: string }[];
  readonly options: readonly OptionSpec[];
  /** Whether its arguments are files (`[input]`, `<file>`, `<files...>`). */
  readonly files: boolean;
}

const HELP: OptionSpec = {
  names: ["-h", "--help"],
  description: "display help for command",
  value: undefined,
};

/** The value an option takes, read from its choices or its placeholder (`<file>`, `<dir>`, `<on|off>`). */
function optionValues(option: Option): Values | undefined {
  if (!option.required && !option.optional) return undefined;
  if (option.argChoices?.length) return `choices:${option.argChoices.join(" ")}`;
  const placeholder = /<([^>]+)>|\[([^\]]+)\]/.exec(option.flags);
  const name = placeholder?.[1] ?? placeholder?.[2] ?? "";
  if (/^[a-z0-9-]+(\|[a-z0-9-]+)+$/.test(name)) return `choices:${name.split("|").join(" ")}`;
  if (name === "dir") return "dir";
  if (/file|path|\.json$/.test(name)) return "file";
  return "text";
}

function optionSpec(option: Option): OptionSpec {
  const names = [option.short, option.long].filter((n): n is string => typeof n === "string");
  return { names, description: option.description, value: optionValues(option) };
}

function describe(cmd: Command): string {
  const text = cmd.summary() || cmd.description();
  // The first sentence, on one line.
  return text
    .split(/(?<=\.)\s/)[0]!
    .replace(/\s+/g, " ")
    .replace(/\.$/, "");
}

/** Every command of the tree, depth first, with its own options plus the program's global ones. */
function commandSpecs(program: Command): CommandSpec[] {
  const globals = program.options.filter((o) => !o.hidden).map(optionSpec);
  const specs: CommandSpec[] = [];
  const walk = (cmd: Command, path: string) => {
    const own = path === "" ? [] : cmd.options.filter((o) => !o.hidden).map(optionSpec);
    specs.push({
      path,
      subcommands: cmd.commands.map((c) => ({ name: c.name(), description: describe(c) })),
      options: [...own, ...globals, HELP],
      files: cmd.registeredArguments.some((a) => /^(input|file|files)$/.test(a.name())),
    });
    for (const sub of cmd.commands) walk(sub, path === "" ? sub.name() : `${path} ${sub.name()}`);
  };
  walk(program, "");
  return specs;
}

/** A single-quoted sh word. */
function sq(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

/** The POSIX sh core: data functions generated from the tree, and `__sealkit_complete cur words...`. */
function shCore(program: Command): string {
  const specs = commandSpecs(program);
  const lines: string[] = [];
  const caseOf = (name: string, comment: string, arms: string[], subject = '"$1"') => {
    lines.push(`# ${comment}`, `${name}() {`, `  case ${subject} in`);
    lines.push(...arms, "  esac", "}");
  };
  // Completion candidates are printed one per line as "word<TAB>description".
  const printPairs = (pairs: readonly (readonly [string, string])[]) =>
    `printf '%s\\t%s\\n' ${pairs.map(([w, d]) => `${sq(w)} ${sq(d)}`).join(" ")}`;

  caseOf(
    "__sealkit_subs",
    "The subcommands of a command path, with their descriptions.",
    specs
      .filter((s) => s.subcommands.length > 0)
      .map((s) => `    ${sq(s.path)}) ${printPairs(s.subcommands.map((c) => [c.name, c.description]))} ;;`),
  );
  caseOf(
    "__sealkit_opts",
    "The options of a command path (long names, and short ones when there is no long one).",
    specs.map(
      (s) =>
        `    ${sq(s.path)}) ${printPairs(s.options.map((o) => [o.names[o.names.length - 1]!, o.description]))} ;;`,
    ),
  );
  lines.push(
    "# Succeeds when $2 is a subcommand of the command path $1.",
    "__sealkit_is_sub() {",
    '  case "$1 $2" in',
    `    ${specs.flatMap((s) => s.subcommands.map((c) => sq(`${s.path} ${c.name}`))).join("|")}) return 0 ;;`,
    "  esac",
    "  return 1",
    "}",
  );
  // "path option" -> what its value completes to; options without a value are absent.
  const valued = new Map<string, string[]>();
  for (const s of specs) {
    for (const o of s.options) {
      if (o.value === undefined) continue;
      const keys = valued.get(o.value) ?? [];
      for (const name of o.names) keys.push(sq(`${s.path} ${name}`));
      valued.set(o.value, keys);
    }
  }
  caseOf(
    "__sealkit_value",
    'What the value of option $2 of command path $1 completes to (file, dir, text, choices:a b); "" for a flag.',
    [...valued].map(([value, keys]) => `    ${keys.join("|")}) echo ${sq(value)} ;;`),
    '"$1 $2"',
  );
  const withFiles = specs.filter((s) => s.files).map((s) => sq(s.path));
  lines.push(
    "# Succeeds when the arguments of command path $1 are files.",
    "__sealkit_takes_files() {",
    '  case "$1" in',
    `    ${withFiles.join("|")}) return 0 ;;`,
    "  esac",
    "  return 1",
    "}",
  );
  lines.push(
    `# Prints the candidates for word $1, given the words between "sealkit" and it ($2...): "word<TAB>description"
# lines, and @file or @dir where file or directory names may go.
__sealkit_complete() {
  [ -n "\${ZSH_VERSION-}" ] && emulate -L sh
  __sk_cur=$1
  shift
  __sk_path=
  __sk_pending=
  for __sk_word do
    if [ -n "$__sk_pending" ]; then
      __sk_pending=
      continue
    fi
    case $__sk_word in
      --*=* | - | --) ;;
      -*) [ -n "$(__sealkit_value "$__sk_path" "$__sk_word")" ] && __sk_pending=$__sk_word ;;
      *) __sealkit_is_sub "$__sk_path" "$__sk_word" && __sk_path=\${__sk_path:+$__sk_path }$__sk_word ;;
    esac
  done
  if [ -n "$__sk_pending" ]; then
    __sealkit_values "$(__sealkit_value "$__sk_path" "$__sk_pending")" ""
    return 0
  fi
  case $__sk_cur in
    --*=*)
      __sealkit_values "$(__sealkit_value "$__sk_path" "\${__sk_cur%%=*}")" "\${__sk_cur%%=*}="
      return 0
      ;;
    -*)
      __sealkit_opts "$__sk_path"
      return 0
      ;;
  esac
  __sealkit_subs "$__sk_path"
  __sealkit_takes_files "$__sk_path" && echo @file
  return 0
}

# The candidates for an option value of kind $1, each prefixed with $2 ("--option=" when written together).
__sealkit_values() {
  case $1 in
    file) [ -z "$2" ] && echo @file ;;
    dir) [ -z "$2" ] && echo @dir ;;
    choices:*) for __sk_choice in \${1#choices:}; do printf '%s%s\\t\\n' "$2" "$__sk_choice"; done ;;
  esac
  return 0
}`,
  );
  return lines.join("\n");
}

const BASH = `
_sealkit() {
  local cur=\${COMP_WORDS[COMP_CWORD]} line i
  local -a before=()
  # bash splits "--option=value" at "=": the "=" is dropped, so the value follows its option as a word of its own.
  [[ $cur == "=" ]] && cur=
  for ((i = 1; i < COMP_CWORD; i++)); do
    [[ \${COMP_WORDS[i]} == "=" ]] || before+=("\${COMP_WORDS[i]}")
  done
  COMPREPLY=()
  while IFS= read -r line; do
    case $line in
      @file) compopt -o filenames 2>/dev/null; mapfile -t -O "\${#COMPREPLY[@]}" COMPREPLY < <(compgen -f -- "$cur") ;;
      @dir) compopt -o filenames 2>/dev/null; mapfile -t -O "\${#COMPREPLY[@]}" COMPREPLY < <(compgen -d -- "$cur") ;;
      *) line=\${line%%$'\\t'*}; [[ $line == "$cur"* ]] && COMPREPLY+=("$line") ;;
    esac
  done < <(__sealkit_complete "$cur" "\${before[@]}")
}
complete -F _sealkit sealkit`;

const ZSH = `
_sealkit() {
  local line kind=
  local -a values descriptions
  for line in "\${(@f)$(__sealkit_complete "\${words[CURRENT]}" "\${(@)words[2,CURRENT-1]}")}"; do
    case $line in
      @file) kind=file ;;
      @dir) kind=dir ;;
      ?*) values+=("\${line%%$'\\t'*}"); descriptions+=("\${\${line/$'\\t'/  -- }%  -- }") ;;
    esac
  done
  (( \${#values} )) && compadd -l -d descriptions -a values
  case $kind in
    file) _files ;;
    dir) _files -/ ;;
  esac
  return 0
}
if [[ $zsh_eval_context[-1] == loadautofunc ]]; then
  _sealkit "$@"
else
  compdef _sealkit sealkit
fi`;

/** A fish single-quoted string. */
function fishQuote(text: string): string {
  return `'${text.replace(/[\\']/g, (c) => `\\${c}`)}'`;
}

function fishScript(core: string): string {
  return `# sealkit completion for fish: the sh core below decides, fish lists.
set -g __sealkit_core ${fishQuote(`${core}\n__sealkit_complete "$@"`)}

function __sealkit_candidates
    set -l before (commandline -opc)[2..-1]
    set -l cur (commandline -ct)
    for line in (sh -c $__sealkit_core sh $cur $before)
        switch $line
            case @file
                __fish_complete_path $cur
            case @dir
                __fish_complete_directories $cur
            case '*'
                echo $line
        end
    end
end

complete -c sealkit -f -a '(__sealkit_candidates)'`;
}

/**
 * The completion script of `shell` for this program.
 * @throws {TypeError} for a shell other than bash, zsh and fish.
 */
export function completionScript(program: Command, shell: Shell): string {
  const core = shCore(program);
  switch (shell) {
    case "bash":
      return `# sealkit completion for bash: source <(sealkit completion bash)\n${core}\n${BASH}\n`;
    case "zsh":
      return `#compdef sealkit\n# sealkit completion for zsh: sealkit completion zsh > "\${fpath[1]}/_sealkit"\n${core}\n${ZSH}\n`;
    case "fish":
      return `${fishScript(core)}\n`;
    default:
      throw new TypeError(`completion: expected one of ${SHELLS.join(", ")}, got ${String(shell)}`);
  }
}
