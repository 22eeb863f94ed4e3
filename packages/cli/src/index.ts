// @sealkit/cli: the `sealkit` command, also usable as a library (run it with arguments, get the exit code).

export {
  PROVIDERS,
  type ProfileSettings,
  type ProviderName,
  resolveSettings,
  type Settings,
} from "./config.js";
export { describeError, EXIT, EXIT_CODES_HELP, exitCodeOf, UsageError } from "./exit-codes.js";
export { createProgram, run } from "./program.js";
