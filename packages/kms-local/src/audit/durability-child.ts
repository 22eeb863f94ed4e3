// Child process of the durability test: appends from 16 loops and prints "sequence eventID" after each acknowledgement.

import { writeSync } from "node:fs";
import { AuditLog } from "./audit-log.js";

const [dir, loops = "16"] = process.argv.slice(2);
if (dir === undefined) throw new TypeError("usage: durability-child <dataDir> [loops]");

const log = await AuditLog.open(dir, { digestEvery: 200 });
// The first commit also starts the writer thread; the parent's kill timer starts after it.
const first = await log.append({
  eventName: "ListKeys",
  caller: { principal: "arn:aws:iam::111122223333:root", account: "111122223333" },
});
writeSync(1, `${first.sequence} ${first.eventID}\nready\n`);
await Promise.all(
  Array.from({ length: Number(loops) }, async (_, loop) => {
    for (let i = 0; ; i++) {
      const event = await log.append({
        eventName: "GenerateDataKey",
        caller: { principal: "arn:aws:iam::111122223333:user/alice", account: "111122223333" },
        requestParameters: { keyId: "alias/app", loop, i },
        keyId: "arn:aws:kms:us-east-1:111122223333:key/aaaaaaaa-0000-4000-8000-000000000001",
      });
      // Written synchronously, so a line on the pipe means the event was acknowledged before the kill.
      writeSync(1, `${event.sequence} ${event.eventID}\n`);
    }
  }),
);
