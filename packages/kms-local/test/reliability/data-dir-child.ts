// Child process of data-dir.test.ts: opens a LocalKms on argv[2], creates a key, says "open", then waits to be killed.

import { LocalKms } from "../../src/local-kms.js";

const dataDir = process.argv[2];
if (!dataDir) throw new Error("usage: data-dir-child <dataDir>");
const kms = await LocalKms.open({ dataDir });
await kms.createKey({ principal: "arn:aws:iam::111122223333:root", account: "111122223333" }, {});
process.stdout.write("open\n");
setInterval(() => undefined, 60_000);
