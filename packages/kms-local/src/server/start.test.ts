// startKmsServer and serveUntilSignal in this process; the bins' own runs in child processes are in bin.test.ts.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { type StopSignal, serveUntilSignal, startKmsServer } from "./start.js";
import { ALICE } from "./test-support.js";

const SIGNALS: readonly StopSignal[] = ["SIGTERM", "SIGINT", "SIGHUP"];

describe("serveUntilSignal", { timeout: 30_000 }, () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  async function start() {
    const dir = mkdtempSync(join(tmpdir(), "sealkit-kms-start-"));
    dirs.push(dir);
    return startKmsServer({ dataDir: join(dir, "kms"), credentials: [ALICE], port: 0 });
  }

  it.each(SIGNALS)(
    "on %s: writes ready, closes the server and its local KMS, runs afterClose, writes stopped, removes its handlers",
    async (signal) => {
      const before = SIGNALS.map((s) => process.listenerCount(s));
      const started = await start();
      const lines: string[] = [];
      const order: string[] = [];
      const served = serveUntilSignal(started, {
        write: (line) => lines.push(line),
        afterClose: async () => {
          const caller = { principal: ALICE.principal, account: "111122223333" };
          const kms = await started.kms.listKeys(caller, {}).then(
            () => "open",
            (e: Error) => e.message,
          );
          order.push(`afterClose, then the local KMS: ${kms}`);
        },
      });
      expect(lines).toEqual(["ready\n"]);
      expect(SIGNALS.map((s) => process.listenerCount(s))).toEqual(before.map((n) => n + 1));
      const health = await fetch(`${started.url}/health`);
      expect(health.status).toBe(200);
      process.emit(signal);
      await served;
      expect(order).toEqual(["afterClose, then the local KMS: This LocalKms is closed."]);
      expect(lines).toEqual([
        "ready\n",
        `${signal}: finishing requests in flight, then stopping (send it again to exit at once)\n`,
        "stopped\n",
      ]);
      await expect(fetch(`${started.url}/health`)).rejects.toThrow();
      expect(SIGNALS.map((s) => process.listenerCount(s))).toEqual(before);
    },
  );

  it("rejects with afterClose's error, without writing stopped", async () => {
    const started = await start();
    const lines: string[] = [];
    const served = serveUntilSignal(started, {
      write: (line) => lines.push(line),
      afterClose: () => Promise.reject(new Error("the HSM session is gone")),
    });
    process.emit("SIGTERM");
    await expect(served).rejects.toThrow("the HSM session is gone");
    expect(lines.at(-1)).toMatch(/^SIGTERM: finishing/);
  });
});
