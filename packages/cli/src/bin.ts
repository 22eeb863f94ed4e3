#!/usr/bin/env node
// The `sealkit` executable: runs the CLI and exits with its code.

import { handleClosedStdout } from "./io.js";
import { run } from "./program.js";

// `pnpm sealkit ...` runs scripts from the repo root: resolve the user's paths from where they typed the command.
if (process.env.npm_lifecycle_event === "sealkit" && process.env.INIT_CWD) {
  try {
    process.chdir(process.env.INIT_CWD);
  } catch {}
}

// The CLI pins an AWS SDK release that runs on Node 20; its notice about future releases is noise on every command.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";

handleClosedStdout();

run(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
    // Everything the command opened is closed; if a stray handle remains, do not hang.
    setTimeout(() => process.exit(code), 2000).unref();
  },
  (error) => {
    process.stderr.write(`sealkit: ERR_UNEXPECTED: ${(error as Error)?.message ?? String(error)}\n`);
    process.exit(1);
  },
);
