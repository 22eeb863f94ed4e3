// Child process of data-dir-faults.test.ts: opens a LocalKms on argv[2] (run as another user), creates a key and
// closes it; prints one JSON line: { ok: true } or the error's name, AWS name and message.

import { LocalKms } from "../../src/local-kms.js";

const dataDir = process.argv[2];
if (!dataDir) throw new Error("usage: open-child <dataDir>");
try {
  const kms = await LocalKms.open({ dataDir });
  await kms.createKey({ principal: "arn:aws:iam::111122223333:root", account: "111122223333" }, {});
  await kms.close();
  process.stdout.write(`${JSON.stringify({ ok: true })}\n`);
} catch (error) {
  const e = error as Error & { awsName?: string; cause?: { code?: string } };
  process.stdout.write(
    `${JSON.stringify({ ok: false, name: e.name, awsName: e.awsName, message: e.message, cause: e.cause?.code })}\n`,
  );
}
