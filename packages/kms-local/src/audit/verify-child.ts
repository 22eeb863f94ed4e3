// Child process of the hostile-input tests: verifies an audit.db with a public key and prints a summary of the
// report (or of the AuditUnreadableError) as one JSON line, so a test can run verification under a small heap.

import { readFileSync } from "node:fs";
import { verifyAuditFile } from "./verify-log.js";

const [path, publicKeyPath] = process.argv.slice(2);
if (path === undefined || publicKeyPath === undefined)
  throw new TypeError("usage: verify-child <audit.db> <public key PEM file>");
try {
  const report = await verifyAuditFile(path, readFileSync(publicKeyPath, "utf8"));
  const { problems, ...rest } = report;
  process.stdout.write(
    `${JSON.stringify({ ...rest, problems: problems.length, first: problems[0], last: problems.at(-1) })}\n`,
  );
} catch (error) {
  const { code, reason, message } = error as { code?: string; reason?: string; message?: string };
  process.stdout.write(`${JSON.stringify({ error: { code, reason, message } })}\n`);
}
