// sealkit audit query and tail read audit.db read-only: beside a running server (which holds the data dir), and
// without writing (opening the local KMS to read signed a digest over the events after the last one when it closed).

import { cpSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, describe, expect, it } from "vitest";
import { auditDigestCount, ok, run, startServe, tempDir } from "./helpers.js";

const t = tempDir();
afterAll(() => t.cleanup());
const cwd = t.dir;
const dataDir = join(cwd, "kms");
const dd = ["--data-dir", dataDir];
const auditDb = join(dataDir, "audit.db");

const digestCount = () => auditDigestCount(auditDb);

describe("sealkit audit query and tail", () => {
  it("read the log beside a running server, and leave events after the last digest unsigned", async () => {
    const created = JSON.parse(
      (await ok(["keys", "create", "--alias", "alias/q", "--json", ...dd], { cwd })).out,
    );
    const keyId = created.KeyMetadata.KeyId as string;
    const serve = await startServe([...dd, "--allow-unsigned-as", "arn:aws:iam::111122223333:root"], { cwd });
    const answer = await fetch(`${serve.url}/`, {
      method: "POST",
      headers: { "content-type": "application/x-amz-json-1.1", "x-amz-target": "TrentService.DescribeKey" },
      body: JSON.stringify({ KeyId: "alias/q" }),
    });
    expect(answer.status).toBe(200);
    // The server holds the data dir: before, both commands waited for it and failed (exit 1, busy).
    const beside = await run(["audit", "query", "--event", "DescribeKey", "--json", ...dd], { cwd });
    expect(beside.code, beside.stderr).toBe(0);
    expect(JSON.parse(beside.out).length).toBeGreaterThan(0);
    const tail = await run(["audit", "tail", "-n", "1", "--json", ...dd], { cwd });
    expect(tail.code, tail.stderr).toBe(0);
    expect(JSON.parse(tail.out)[0].eventName).toBe("DescribeKey");
    // Killed: no closing digest, so the DescribeKey event is after the last digest.
    serve.child.kill("SIGKILL");
    await serve.closed;
    const digests = digestCount();
    const size = statSync(auditDb).size;
    // A key id, its ARN and its alias name the same events, the server's DescribeKey last.
    const byKey = [keyId, created.KeyMetadata.Arn, "alias/q"].map(async (key) => {
      const events = JSON.parse(
        (await ok(["audit", "query", "--key-id", key, "--json", ...dd], { cwd })).out,
      );
      return events.map((e: { eventName: string; sequence: number }) => `${e.sequence}:${e.eventName}`);
    });
    const [byId, byArn, byAlias] = await Promise.all(byKey);
    expect(byId).toEqual(byArn);
    expect(byAlias).toEqual(byArn);
    expect(byArn[0]).toMatch(/:CreateKey$/);
    expect(byArn).toContainEqual(expect.stringMatching(/:CreateAlias$/));
    expect(byArn.at(-1)).toMatch(/:DescribeKey$/);
    expect(JSON.parse((await ok(["audit", "tail", "--json", ...dd], { cwd })).out).length).toBeGreaterThan(2);
    const verified = JSON.parse((await ok(["audit", "verify", "--json", ...dd], { cwd })).out);
    expect(verified.eventsAfterLastDigest).toBeGreaterThan(0);
    // Before, each query or tail opened the local KMS, whose close signed a digest over that tail.
    expect(digestCount()).toBe(digests);
    expect(statSync(auditDb).size).toBe(size);
  });

  it("says so when the data dir has no audit log, and refuses --endpoint", async () => {
    const none = await run(["audit", "tail", "--data-dir", join(cwd, "nothing")], { cwd });
    expect(none.code).toBe(5);
    expect(none.stderr).toMatch(/no audit log/);
    const endpoint = await run(["audit", "query", "--endpoint", "http://127.0.0.1:1"], { cwd });
    expect(endpoint.code).toBe(2);
  });

  it("audit verify: a log replaced by another file or damaged is a failed verification (exit 3), not an error", async () => {
    const copy = join(cwd, "kms-replaced");
    cpSync(dataDir, copy, { recursive: true });
    for (const name of ["audit.db-wal", "audit.db-shm"]) rmSync(join(copy, name), { force: true });
    writeFileSync(
      join(copy, "audit.db"),
      "not a database at all, but long enough to look like one ".repeat(100),
    );
    const replaced = await run(["audit", "verify", "--data-dir", copy], { cwd });
    expect(replaced.code, replaced.stderr).toBe(3);
    expect(replaced.out).toMatch(/FAILED/);
    const json = await run(["audit", "verify", "--json", "--data-dir", copy], { cwd });
    expect(json.code).toBe(3);
    expect(JSON.parse(json.out)).toMatchObject({ ok: false, unreadable: "not-sqlite" });
    // Another SQLite database in its place.
    rmSync(join(copy, "audit.db"));
    const other = new Database(join(copy, "audit.db"));
    other.exec("CREATE TABLE t (x)");
    other.close();
    const notLog = await run(["audit", "verify", "--data-dir", copy], { cwd });
    expect(notLog.code, notLog.stderr).toBe(3);
    expect(notLog.out).toMatch(/not a Sealkit audit log/);
  });
});
