// The `sealkit` command tree (commander 14): every command, its options and its help text.

import { Argument, Command, CommanderError, Option } from "commander";
import { aliases, audit, grants, keys, policy, usage } from "./commands/admin.js";
import { decryptCommand, encryptCommand } from "./commands/crypt.js";
import { inspectCommand, rewrapCommand } from "./commands/envelope.js";
import { benchCommand, serveCommand } from "./commands/serve.js";
import { completionScript, SHELLS, type Shell } from "./completion.js";
import { describeError, EXIT, EXIT_CODES_HELP, exitCodeOf } from "./exit-codes.js";
import { endProgressLine } from "./output.js";
import { Session } from "./providers.js";

const collect = (value: string, previous: string[] = []) => [...previous, value];

const ENVIRONMENT_HELP = `Provider settings (a flag wins over an environment variable, which wins over the config profile):
  SEALKIT_PROVIDER       local | aws | pkcs11 | raw (default local; aws when an endpoint is set)
  SEALKIT_KEY            key id, ARN or alias (several: comma-separated)
  SEALKIT_DATA_DIR       local KMS data dir (default .sealkit/kms)
  SEALKIT_PRINCIPAL      principal ARN to act as against the local KMS (default: the account root)
  SEALKIT_ACCOUNT        account of the local KMS's keys (default 111122223333)
  SEALKIT_ENDPOINT       KMS endpoint URL (AWS_ENDPOINT_URL_KMS, AWS_REGION and credentials are read by the AWS SDK)
  SEALKIT_RAW_KEY_FILE   raw provider key: 32 bytes, or 64 hex characters
  SEALKIT_SUITE          cipher suite of new envelopes (default xchacha20-poly1305)
  SEALKIT_FRAME_SIZE     frame size of new envelopes (default 64 KiB)
  SEALKIT_DISCOVERY_ACCOUNTS  aws provider, decrypt/rewrap without --key: accounts whose keys may open envelopes
  SEALKIT_PKCS11_LIBRARY, SEALKIT_PKCS11_TOKEN, SEALKIT_PKCS11_PIN, SEALKIT_PKCS11_KEY_LABEL, SEALKIT_PKCS11_PROFILE
  SEALKIT_CONFIG_FILE    config file (default ~/.sealkit/config.json: { "profiles": { "default": { ... } } })
  SEALKIT_PROFILE        profile to use (default "default"; --profile wins)
  SEALKIT_DEBUG=1        print stack traces on errors
  NO_COLOR               no colors (there are none when output is not a terminal either)`;

/**
 * Commander quotes an unknown `--option=value` whole, value included: `--pkcs11-pin=1234` or `--password=...` was
 * echoed on stderr (and into CI logs). The value is cut; a PIN-like option gets where the PIN goes instead.
 */
function redactOptionValues(text: string): string {
  const redacted = text.replace(/(unknown option '[^'=\s]+)=[^']*'/g, "$1=...'");
  return /unknown option '--[\w-]*(pin|password|passphrase|secret)/i.test(text)
    ? `${redacted}sealkit takes no secret on the command line: the PKCS#11 PIN comes from SEALKIT_PKCS11_PIN, AWS credentials from the AWS variables or profile\n`
    : redacted;
}

/**
 * A pointer for the likely intent behind an unknown option: `decrypt --context` (the context is read from the
 * envelope; `--expect-context` checks it).
 */
function withHints(text: string): string {
  return /unknown option '--context[=']/.test(text)
    ? `${text}only encrypt takes --context: the envelope carries its context, and decrypt requires pairs of it with --expect-context k=v\n`
    : text;
}

/** Options shared by every command that talks to a key service. */
function withProvider(
  cmd: Command,
  keyHelp = "key id, key ARN or alias (repeat for several recipients)",
): Command {
  return cmd
    .addOption(
      new Option("--provider <name>", "key service (env SEALKIT_PROVIDER)").choices([
        "local",
        "aws",
        "pkcs11",
        "raw",
      ]),
    )
    .option("--key <key>", keyHelp, collect)
    .option("--data-dir <dir>", "local KMS data dir (env SEALKIT_DATA_DIR; default .sealkit/kms)")
    .option("--principal <arn>", "act as this principal against the local KMS (default: the account root)")
    .option("--account <id>", "local KMS account id (default 111122223333)")
    .option(
      "--endpoint <url>",
      "KMS endpoint for the aws provider (the default provider with an endpoint), e.g. the Sealkit KMS server http://127.0.0.1:4600",
    )
    .option("--region <region>", "AWS region (default: AWS_REGION, or us-east-1 with --endpoint)")
    .option("--raw-key-file <file>", "raw provider key file (env SEALKIT_RAW_KEY_FILE)")
    .option("--pkcs11-library <path>", "PKCS#11 library (env SEALKIT_PKCS11_LIBRARY)")
    .option("--pkcs11-token <label>", "PKCS#11 token label (env SEALKIT_PKCS11_TOKEN)")
    .option(
      "--pkcs11-key-label <label>",
      "PKCS#11 key label (env SEALKIT_PKCS11_KEY_LABEL); the PIN comes from SEALKIT_PKCS11_PIN",
    )
    .option(
      "--pkcs11-profile <name>",
      "softhsm, cloudhsm or generic (env SEALKIT_PKCS11_PROFILE; default softhsm)",
    );
}

/** Options of admin commands: local data dir or endpoint, and --json. */
function withAdmin(cmd: Command): Command {
  return cmd
    .option("--data-dir <dir>", "local KMS data dir (env SEALKIT_DATA_DIR; default .sealkit/kms)")
    .option("--principal <arn>", "act as this principal against the local KMS (default: the account root)")
    .option("--account <id>", "local KMS account id (default 111122223333)")
    .option(
      "--endpoint <url>",
      "a KMS endpoint instead (e.g. http://127.0.0.1:4600), through @aws-sdk/client-kms",
    )
    .option("--region <region>", "AWS region for --endpoint (default: AWS_REGION, or us-east-1)")
    .option("--json", "print JSON");
}

/**
 * Builds the program. Actions receive their options merged with the global ones (--profile, --quiet) and the
 * shared session, which `run` closes after the command.
 */
export function createProgram(session: Session): Command {
  const program = new Command("sealkit");
  program
    .description("Encrypt, decrypt, rewrap and inspect Sealkit envelopes; manage the local KMS.")
    .version(SEALKIT_VERSION, "-V, --version")
    .option("--profile <name>", 'config file profile (env SEALKIT_PROFILE; default "default")')
    .option("-q, --quiet", "no progress bar, no notices")
    .exitOverride()
    .configureOutput({ outputError: (text, write) => write(withHints(redactOptionValues(text))) })
    .showSuggestionAfterError(true)
    .configureHelp({ sortSubcommands: false })
    .addHelpText(
      "after",
      `\n${ENVIRONMENT_HELP}\n\n${EXIT_CODES_HELP}\n\nEach command has its own help: sealkit <command> --help`,
    );

  // Commander calls actions with (...arguments, options, command); handlers get (...arguments, all options, session).
  const act =
    (fn: (...args: never[]) => unknown) =>
    async (...args: unknown[]) => {
      const cmd = args[args.length - 1] as Command;
      const positional = args.slice(0, -2);
      const result = await (fn as (...a: unknown[]) => unknown)(
        ...positional,
        cmd.optsWithGlobals(),
        session,
      );
      if (typeof result === "number") process.exitCode = result;
      if (result === false) process.exitCode = EXIT.ENVELOPE;
    };

  withProvider(
    program
      .command("encrypt")
      .summary("encrypt a file or stdin into an envelope")
      .description(
        "Encrypt a file (or stdin) into a Sealkit envelope, streamed in bounded memory. Output goes to -o <file>, written under a temporary name and renamed when complete, or to stdout.",
      )
      .argument("[input]", "file to encrypt; - or absent for stdin")
      .option("-o, --output <file>", "envelope file (- or absent: stdout)")
      .option("--context <k=v>", "encryption context pair (repeatable)", collect)
      .option("--suite <suite>", "xchacha20-poly1305 (default) or aes-256-gcm")
      .option("--frame-size <bytes>", "plaintext bytes per frame, 64 to 4M (default 64K)"),
  )
    .addHelpText(
      "after",
      `
Examples:
  sealkit keys create --alias alias/backups
  sealkit encrypt backup.tar --key alias/backups --context purpose=backup -o backup.tar.slkt
  tar c dir | sealkit encrypt --provider raw --raw-key-file team.key > dir.tar.slkt
  sealkit encrypt report.pdf --provider aws --key arn:aws:kms:eu-west-1:111122223333:key/... -o report.slkt`,
    )
    .action(act((input: string | undefined, opts, s) => encryptCommand(input, opts as never, s)));

  withProvider(
    program
      .command("decrypt")
      .summary("decrypt an envelope to a file or stdout")
      .description(
        "Decrypt an envelope. To a file (-o): the plaintext is written to a temporary file (mode 0600) in the same directory, fsynced, and renamed over the output only after the whole envelope authenticated; on any failure the output path is left untouched. To stdout: frames are written as they verify, and a truncated or damaged envelope is reported at the end with exit code 3 (so check the exit code in pipelines). Without --key, the keys the envelope names for the provider are tried.",
      )
      .argument("[input]", "envelope file; - or absent for stdin")
      .option("-o, --output <file>", "plaintext file (- or absent: stdout)")
      .option(
        "--expect-context <k=v>",
        "require this context pair (repeatable); exit 7 when missing",
        collect,
      )
      .option(
        "--discovery-account <id>",
        "aws provider without --key: try only the envelope's keys in this AWS account (repeatable; env SEALKIT_DISCOVERY_ACCOUNTS)",
        collect,
      ),
    "key to decrypt with (default: the keys the envelope names)",
  )
    .addHelpText(
      "after",
      `
Examples:
  sealkit decrypt backup.tar.slkt -o backup.tar --expect-context purpose=backup
  sealkit decrypt < dir.tar.slkt --provider raw --raw-key-file team.key | tar x`,
    )
    .action(act((input: string | undefined, opts, s) => decryptCommand(input, opts as never, s)));

  withProvider(
    program
      .command("rewrap")
      .summary("change who can open envelopes, rewriting headers only")
      .description(
        "Add and/or remove encrypted data keys of existing envelopes without re-encrypting their bodies: open the data key with --provider/--key (default: the keys the envelope names), wrap it for --to-key with --to-provider, drop --remove-key. Each file is rewritten in place, crash-safe (temp file, fsync, rename, fsync of the directory). This is the migration path from the local KMS to AWS KMS or CloudHSM.",
      )
      .argument("<files...>", "envelope files to rewrap in place")
      .option("--to-key <key>", "key to add (repeatable)", collect)
      .addOption(
        new Option("--to-provider <name>", "provider of --to-key (default: --provider)").choices([
          "local",
          "aws",
          "pkcs11",
          "raw",
        ]),
      )
      .option(
        "--remove-key <key>",
        "key id, ARN or alias whose encrypted data key to drop (repeatable)",
        collect,
      )
      .option("--json", "print the summary as JSON")
      .option(
        "--discovery-account <id>",
        "aws provider without --key: open only with the envelopes' keys in this AWS account (repeatable)",
        collect,
      ),
    "key to open the envelopes with (default: the keys they name)",
  )
    .addHelpText(
      "after",
      `
Examples:
  sealkit rewrap *.slkt --to-provider aws --to-key arn:aws:kms:eu-west-1:111122223333:key/... --remove-key alias/backups
  sealkit rewrap data.slkt --provider raw --raw-key-file team.key --to-provider local --to-key alias/team --remove-key team.key`,
    )
    .action(act((files: string[], opts, s) => rewrapCommand(files, opts as never, s)));

  program
    .command("inspect")
    .summary("describe an envelope's header without decrypting")
    .description(
      "Print an envelope's header in words, without decrypting: suite, frame size, frame count and plaintext length (from the file size), message id, encryption context, and the encrypted data keys by provider and key id.",
    )
    .argument("<file>", "envelope file")
    .option("--json", "print JSON")
    .action(act((file: string, opts) => inspectCommand(file, opts as never)));

  const keysCmd = program
    .command("keys")
    .summary("create and manage KMS keys")
    .description(
      "Manage keys of the local KMS (--data-dir, in process) or of a KMS endpoint (--endpoint, e.g. the Sealkit KMS server, with the usual AWS credential variables).",
    );
  withAdmin(
    keysCmd
      .command("create")
      .description("create a symmetric encryption key")
      .option("--description <text>", "key description")
      .option("--alias <alias/name>", "also create this alias")
      .option("--rotation", "enable automatic rotation (yearly)"),
  ).action(act((opts, s) => keys.create(opts as never, s)));
  withAdmin(keysCmd.command("list").description("list keys with their state and aliases")).action(
    act((opts, s) => keys.list(opts as never, s)),
  );
  for (const [name, description, fn] of [
    ["describe", "show a key's metadata", keys.describe],
    ["enable", "enable a key", keys.enable],
    ["disable", "disable a key (it can no longer encrypt or decrypt)", keys.disable],
    ["rotations", "show a key's rotation status and past rotations", keys.rotations],
    ["cancel-deletion", "cancel a scheduled deletion (the key stays disabled)", keys.cancelDeletion],
  ] as const) {
    withAdmin(
      keysCmd.command(name).description(description).argument("<key>", "key id, ARN or alias"),
    ).action(act((key: string, opts, s) => fn(key, opts as never, s)));
  }
  withAdmin(
    keysCmd
      .command("rotate")
      .description("rotate a key's material now, or turn automatic rotation on or off")
      .argument("<key>", "key id, ARN or alias")
      .option("--automatic <on|off>", "turn automatic rotation on or off instead of rotating now")
      .option("--period-days <days>", "automatic rotation period, 90 to 2560 days (with --automatic on)"),
  ).action(act((key: string, opts, s) => keys.rotate(key, opts as never, s)));
  withAdmin(
    keysCmd
      .command("schedule-deletion")
      .description("schedule a key's deletion after a waiting period (cancel with cancel-deletion)")
      .argument("<key>", "key id, ARN or alias")
      .option("--days <n>", "waiting period, 7 to 30 days (default 30)"),
  ).action(act((key: string, opts, s) => keys.scheduleDeletion(key, opts as never, s)));

  const aliasesCmd = program.command("aliases").summary("name keys with aliases");
  withAdmin(
    aliasesCmd
      .command("create")
      .description("create an alias for a key")
      .argument("<alias>", "alias/<name>")
      .argument("<key>", "key id or ARN"),
  ).action(act((alias: string, key: string, opts, s) => aliases.create(alias, key, opts as never, s)));
  withAdmin(
    aliasesCmd
      .command("list")
      .description("list aliases")
      .option("--key <key>", "only the aliases of this key", collect),
  ).action(act((opts, s) => aliases.list(opts as never, s)));
  withAdmin(
    aliasesCmd.command("delete").description("delete an alias").argument("<alias>", "alias/<name>"),
  ).action(act((alias: string, opts, s) => aliases.delete(alias, opts as never, s)));

  const policyCmd = program.command("policy").summary("read and replace key policies");
  withAdmin(
    policyCmd
      .command("get")
      .description("print a key's policy (JSON)")
      .argument("<key>", "key id, ARN or alias"),
  ).action(act((key: string, opts, s) => policy.get(key, opts as never, s)));
  withAdmin(
    policyCmd
      .command("put")
      .description("replace a key's policy with a JSON file (- for stdin)")
      .argument("<key>", "key id, ARN or alias")
      .argument("<file>", "policy JSON file, or -")
      .option(
        "--bypass-policy-lockout-safety-check",
        "skip the check that you can still manage the key afterwards",
      ),
  ).action(act((key: string, file: string, opts, s) => policy.put(key, file, opts as never, s)));

  const grantsCmd = program.command("grants").summary("create, list and revoke grants");
  withAdmin(
    grantsCmd
      .command("create")
      .description("allow a principal some operations on a key")
      .argument("<key>", "key id, ARN or alias")
      .requiredOption("--grantee <arn>", "principal receiving the grant")
      .requiredOption("--operations <list>", "comma-separated operations, e.g. Decrypt,GenerateDataKey")
      .option("--retiring-principal <arn>", "principal allowed to retire the grant")
      .option("--name <name>", "grant name")
      .option(
        "--context-subset <k=v>",
        "only with an encryption context containing this pair (repeatable)",
        collect,
      )
      .option("--context-equals <k=v>", "only with exactly this encryption context (repeatable)", collect),
  ).action(act((key: string, opts, s) => grants.create(key, opts as never, s)));
  withAdmin(
    grantsCmd.command("list").description("list a key's grants").argument("<key>", "key id, ARN or alias"),
  ).action(act((key: string, opts, s) => grants.list(key, opts as never, s)));
  withAdmin(
    grantsCmd
      .command("revoke")
      .description("revoke a grant")
      .argument("<key>", "key id, ARN or alias")
      .argument("<grant-id>", "grant id"),
  ).action(act((key: string, id: string, opts, s) => grants.revoke(key, id, opts as never, s)));

  const auditCmd = program
    .command("audit")
    .summary("read and verify the local KMS audit log")
    .description(
      "The local KMS's hash-chained audit log. Local only: these commands read the data dir and refuse --endpoint.",
    );
  const withAudit = (cmd: Command) => withAdmin(cmd);
  withAudit(
    auditCmd
      .command("tail")
      .description("show the latest events")
      .option("-n, --lines <n>", "how many (default 20)"),
  ).action(act((opts, s) => audit.tail(opts as never, s)));
  withAudit(
    auditCmd
      .command("query")
      .description("search events")
      .option("--key-id <key>", "events about this key (id, ARN or alias)")
      .option("--event <name>", "events of this operation, e.g. Decrypt")
      .option("--caller <arn>", "events of this principal")
      .option("--from <date>", "events at or after this time (ISO 8601)")
      .option("--to <date>", "events at or before this time (ISO 8601)")
      .option("--errors", "only refused or failed calls")
      .option("--limit <n>", "at most n events (default 1000)"),
  ).action(
    act((opts, s) =>
      audit.query({ ...(opts as object), principal: (opts as { caller?: string }).caller } as never, s),
    ),
  );
  withAudit(
    auditCmd
      .command("verify")
      .description(
        "verify the hash chain and the signed digests, read-only (the server may be running); exit 3 when they do not verify",
      )
      .option(
        "--public-key <file>",
        "the audit signing public key kept outside the data dir (default: the data dir's audit-signing.key.pub)",
      )
      .option(
        "--known-digests <file>",
        "digests kept outside the data dir (from sealkit audit digests): also catches events deleted after the last digest still in the log",
      ),
  ).action(act((opts) => audit.verify(opts as never)));
  withAudit(
    auditCmd
      .command("digests")
      .description(
        "print the signed digests as JSON, to keep outside the data dir for audit verify --known-digests",
      ),
  ).action(act((opts) => audit.digests(opts as never)));

  withAdmin(
    program
      .command("usage")
      .summary("the local KMS's monthly usage report")
      .description(
        "Key-months and requests of a month in the shape of AWS KMS pricing, with the estimated AWS cost. Local only.",
      )
      .option("--month <YYYY-MM>", "the month (default: this month, UTC)"),
  ).action(act((opts, s) => usage(opts as never, s)));

  const kmsCmd = program.command("kms").summary("run the local KMS as an AWS KMS-compatible server");
  kmsCmd
    .command("serve")
    .description(
      "Serve the local KMS over the AWS KMS wire protocol (SigV4-authenticated). Prints the endpoint and a ready line; stops cleanly on SIGINT/SIGTERM/SIGHUP, answering requests in flight first (a second signal stops it at once). With --hsm, the root key is a PKCS#11 key (SoftHSM2, CloudHSM): if the HSM cannot be used the server does not start (there is no fallback to a key file).",
    )
    .option("--port <n>", "port (0 picks a free one)", "4600")
    .option("--host <addr>", "address to listen on", "127.0.0.1")
    .option(
      "--data-dir <dir>",
      "the local KMS's state, created if missing (env SEALKIT_DATA_DIR; default .sealkit/kms)",
    )
    .option(
      "--credentials <file>",
      'JSON: { "credentials": [ { "accessKeyId", "secretAccessKey", "principal" } ] }',
    )
    .option("--region <region>", "region in ARNs and SigV4 scopes (default us-east-1)")
    .option("--account <id>", "account owning the keys (default: the first credential's)")
    .option("--seed <file>", "YAML or JSON seed of keys, aliases and policies, applied idempotently at start")
    .option("--throttle", "AWS-like request quotas (ThrottlingException)")
    .option("--allow-unsigned-as <arn>", "DEVELOPMENT ONLY: accept unsigned requests as this principal")
    .option(
      "--cors-origin <origin>",
      'let browser pages of this origin call the server (repeatable; "*": any origin)',
      (origin: string, previous: string[] = []) => [...previous, origin],
    )
    .option("--hsm <config.json>", "root key on an HSM: { profile, library, tokenLabel, keyLabel, pinEnv }")
    .addHelpText(
      "after",
      `
Example:
  sealkit kms serve --port 4600 --data-dir .sealkit/kms --credentials creds.json
  AWS_ACCESS_KEY_ID=... AWS_SECRET_ACCESS_KEY=... sealkit keys list --endpoint http://127.0.0.1:4600`,
    )
    .action(act((opts) => serveCommand(opts as never)));

  program
    .command("bench")
    .summary("run the benchmark suite (tools/bench)")
    .description("Run the cipher benchmarks of tools/bench in a child process (from a Sealkit checkout).")
    .option("--quick", "a short run")
    .action(act((opts) => benchCommand(opts as never)));

  program
    .command("completion")
    .summary("print the shell completion script (bash, zsh or fish)")
    .description(
      "Print a completion script for the shell: subcommands, options, option values (providers, suites, on/off) and file names complete on Tab. Generated from this sealkit's commands, so it matches them.",
    )
    .addArgument(new Argument("<shell>", "bash, zsh or fish").choices(SHELLS))
    .addHelpText(
      "after",
      `
Install:
  bash  echo 'source <(sealkit completion bash)' >> ~/.bashrc
  zsh   sealkit completion zsh > "\${fpath[1]}/_sealkit"   (then a new shell; compinit must be on)
  fish  sealkit completion fish > ~/.config/fish/completions/sealkit.fish`,
    )
    .action((shell: Shell) => {
      process.stdout.write(completionScript(program, shell));
    });

  return program;
}

declare const SEALKIT_VERSION: string;

/**
 * Runs the CLI with `argv` (without node and the script) and returns the exit code. Errors are printed on stderr
 * as `sealkit: <CODE>: <message> — <what to do>`, with a stack only when SEALKIT_DEBUG=1.
 */
export async function run(argv: readonly string[]): Promise<number> {
  const session = new Session();
  const program = createProgram(session);
  try {
    if (argv.length === 0) {
      program.outputHelp({ error: true });
      return EXIT.USAGE;
    }
    await program.parseAsync([...argv], { from: "user" });
    return typeof process.exitCode === "number" ? process.exitCode : EXIT.OK;
  } catch (error) {
    if (error instanceof CommanderError) {
      if (error.code === "commander.helpDisplayed" || error.code === "commander.version") return EXIT.OK;
      // `sealkit help [command]` asked for help (exit code 0 from commander); a group without its subcommand
      // (`sealkit keys`) prints help as an error.
      if (error.code === "commander.help" && error.exitCode === 0) return EXIT.OK;
      return EXIT.USAGE;
    }
    endProgressLine();
    process.stderr.write(`${describeError(error, session.principal)}\n`);
    if (process.env.SEALKIT_DEBUG === "1") {
      // The stack and the causes (never key material: errors carry ids and codes only).
      for (let e: unknown = error, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
        process.stderr.write(`${depth ? "caused by: " : ""}${e.stack}\n`);
        if (e instanceof AggregateError)
          for (const inner of e.errors) process.stderr.write(`  - ${String(inner?.stack ?? inner)}\n`);
      }
    }
    return exitCodeOf(error);
  } finally {
    await session.close();
  }
}
