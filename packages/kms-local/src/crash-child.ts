// Crash-test child: changes and uses keys in a loop and prints every acknowledged result, until it is killed.

import { randomBytes } from "node:crypto";
import { LocalKms } from "./local-kms.js";
import type { Caller } from "./types.js";

const ROOT: Caller = { principal: "arn:aws:iam::111122223333:root", account: "111122223333" };
const dataDir = process.argv[2];
if (!dataDir) throw new Error("usage: crash-child <dataDir>");

const ack = (record: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(record)}\n`);
const b64 = (b: Uint8Array) => Buffer.from(b).toString("base64");

const kms = await LocalKms.open({ dataDir });
ack({ op: "open" });
const mine: { id: string; rotations: number }[] = [];
for (let i = 0; ; i++) {
  const roll = Math.random();
  if (mine.length === 0 || roll < 0.2) {
    const { KeyMetadata } = await kms.createKey(ROOT, { Description: `crash ${i}` });
    mine.push({ id: KeyMetadata.KeyId, rotations: 0 });
    ack({ op: "key", keyId: KeyMetadata.KeyId });
    continue;
  }
  const key = mine[Math.floor(Math.random() * mine.length)]!;
  if (roll < 0.35 && key.rotations < 9) {
    await kms.rotateKeyOnDemand(ROOT, { KeyId: key.id });
    key.rotations++;
    ack({ op: "rotate", keyId: key.id, rotations: key.rotations });
  } else if (roll < 0.4) {
    const name = `alias/crash-${process.pid}-${i}`;
    await kms.createAlias(ROOT, { AliasName: name, TargetKeyId: key.id });
    ack({ op: "alias", name, keyId: key.id });
  } else if (roll < 0.46 && i % 3 === 0) {
    // First use of an AWS managed key happens inside a read-only call: its creation must be durable too.
    const service = `svc${process.pid}-${i}`;
    const caller = { ...ROOT, viaService: `${service}.us-east-1.amazonaws.com` };
    const plaintext = randomBytes(16);
    const r = await kms.encrypt(caller, { KeyId: `alias/aws/${service}`, Plaintext: plaintext });
    ack({
      op: "ct",
      keyId: r.KeyId.split("/")[1],
      blob: b64(r.CiphertextBlob),
      plaintext: b64(plaintext),
      context: {},
      viaService: caller.viaService,
    });
  } else if (roll < 0.43) {
    await kms.scheduleKeyDeletion(ROOT, { KeyId: key.id, PendingWindowInDays: 30 });
    mine.splice(mine.indexOf(key), 1);
    ack({ op: "schedule-deletion", keyId: key.id });
  } else {
    const plaintext = randomBytes(1 + Math.floor(Math.random() * 64));
    const context = { n: String(i) };
    const { CiphertextBlob } = await kms.encrypt(ROOT, {
      KeyId: key.id,
      Plaintext: plaintext,
      EncryptionContext: context,
    });
    ack({ op: "ct", keyId: key.id, blob: b64(CiphertextBlob), plaintext: b64(plaintext), context });
  }
}
