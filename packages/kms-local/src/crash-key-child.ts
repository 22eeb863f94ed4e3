// Crash-test child: creates the root key file and the audit signing key in a data dir, then prints "done".
// The test runs it under strace, which SIGKILLs it at a chosen system call of the creation.

import { join } from "node:path";
import { loadOrCreateSigningKey } from "./audit/signing-key.js";
import { loadRootKeyFile } from "./root-key.js";

const [dataDir, which] = process.argv.slice(2);
if (dataDir === undefined || (which !== "root" && which !== "signing"))
  throw new TypeError("usage: crash-key-child <dataDir> root|signing");
if (which === "root") loadRootKeyFile(join(dataDir, "root.key"), true);
else await loadOrCreateSigningKey(join(dataDir, "audit-signing.key"));
process.stdout.write("done\n");
