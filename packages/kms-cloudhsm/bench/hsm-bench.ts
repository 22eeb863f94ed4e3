// Benchmark: data-key generate and decrypt through pkcs11Provider on SoftHSM2, 1/8/32 calls in flight, with
// pkcs11js's synchronous and thread-pool (async) C_Encrypt/C_Decrypt, and the event-loop delay each causes.
// Run: pnpm --filter @sealkit/kms-cloudhsm bench   (needs softhsm2; BENCH_SECONDS per cell, default 2)

import { monitorEventLoopDelay, performance } from "node:perf_hooks";
import pkcs11js from "pkcs11js";
import { createAesKey } from "../src/key-admin.js";
import { pkcs11Provider } from "../src/pkcs11-provider.js";
import { hasSoftHsm, SOFTHSM_LIBRARY, setupSoftHsm, slotOf, softHsmOptions } from "../test/softhsm.js";

const SECONDS = Number(process.env.BENCH_SECONDS ?? 2);
const TOKEN = { label: "bench", pin: "1234", soPin: "5678" };
const session = softHsmOptions(TOKEN);
const context = { tenant: "acme", app: "bench" };

/** Runs `op` with `inFlight` calls outstanding for SECONDS; returns ops/s and the event-loop delay seen. */
async function measure(inFlight: number, op: () => Promise<unknown>) {
  const histogram = monitorEventLoopDelay({ resolution: 1 });
  // A 1 ms interval timer: how late it fires is how long the loop was blocked.
  let lateMax = 0;
  let ticks = 0;
  let last = performance.now();
  const timer = setInterval(() => {
    const now = performance.now();
    lateMax = Math.max(lateMax, now - last - 1);
    last = now;
    ticks++;
  }, 1);
  histogram.enable();
  const end = performance.now() + SECONDS * 1000;
  let done = 0;
  const worker = async () => {
    while (performance.now() < end) {
      await op();
      done++;
    }
  };
  const start = performance.now();
  await Promise.all(Array.from({ length: inFlight }, worker));
  const finished = performance.now();
  const elapsed = (finished - start) / 1000;
  // A loop that never turned has no timer samples: count the gap up to the end as well.
  lateMax = Math.max(lateMax, finished - last - 1);
  histogram.disable();
  clearInterval(timer);
  return {
    opsPerSecond: Math.round(done / elapsed),
    loopDelayP99Ms: histogram.percentile(99) / 1e6,
    loopDelayMaxMs: histogram.max / 1e6,
    timerLateMaxMs: lateMax,
    timerTicksPerSecond: Math.round(ticks / elapsed),
  };
}

/** How long one raw call keeps the JavaScript thread busy: sync C_Encrypt vs starting C_EncryptAsync. */
async function callBlocking() {
  const module = new pkcs11js.PKCS11();
  module.load(SOFTHSM_LIBRARY);
  try {
    module.C_Initialize({ flags: pkcs11js.CKF_OS_LOCKING_OK });
  } catch {}
  const slot = slotOf(module, TOKEN.label);
  const s = module.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION);
  try {
    module.C_Login(s, pkcs11js.CKU_USER, TOKEN.pin);
  } catch {}
  module.C_FindObjectsInit(s, [{ type: pkcs11js.CKA_LABEL, value: "master" }]);
  const key = module.C_FindObjects(s, 1)[0]!;
  module.C_FindObjectsFinal(s);
  const mech = () => ({
    mechanism: pkcs11js.CKM_AES_GCM,
    parameter: {
      type: pkcs11js.CK_PARAMS_GCM,
      iv: Buffer.alloc(12, 1),
      ivBits: 96,
      aad: Buffer.alloc(40),
      tagBits: 128,
    },
  });
  const n = 5000;
  const input = Buffer.alloc(32, 7);
  const sync: number[] = [];
  const asyncStart: number[] = [];
  const asyncTotal: number[] = [];
  for (let i = 0; i < n; i++) {
    module.C_EncryptInit(s, mech(), key);
    const t0 = performance.now();
    module.C_Encrypt(s, input, Buffer.alloc(64));
    sync.push(performance.now() - t0);
  }
  for (let i = 0; i < n; i++) {
    module.C_EncryptInit(s, mech(), key);
    const t0 = performance.now();
    const pending = module.C_EncryptAsync(s, input, Buffer.alloc(64));
    asyncStart.push(performance.now() - t0);
    await pending;
    asyncTotal.push(performance.now() - t0);
  }
  const initTimes: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    module.C_EncryptInit(s, mech(), key);
    initTimes.push(performance.now() - t0);
    module.C_Encrypt(s, input, Buffer.alloc(64));
  }
  const randomTimes: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    module.C_GenerateRandom(s, Buffer.alloc(32));
    randomTimes.push(performance.now() - t0);
  }
  module.C_CloseSession(s);
  const stats = (xs: number[]) => {
    const sorted = [...xs].sort((a, b) => a - b);
    return {
      meanUs: Math.round((xs.reduce((a, b) => a + b, 0) / xs.length) * 1000 * 10) / 10,
      p99Us: Math.round(sorted[Math.floor(sorted.length * 0.99)]! * 1000 * 10) / 10,
    };
  };
  return {
    "C_Encrypt (sync): JS thread blocked": stats(sync),
    "C_EncryptAsync: JS thread blocked to queue it": stats(asyncStart),
    "C_EncryptAsync: latency until resolved": stats(asyncTotal),
    "C_EncryptInit (always sync)": stats(initTimes),
    "C_GenerateRandom 32 B (sync only in pkcs11js 2.1.7)": stats(randomTimes),
  };
}

async function main() {
  if (!hasSoftHsm) {
    console.error("softhsm2 is not installed: apt-get install -y softhsm2");
    process.exit(1);
  }
  const hsm = setupSoftHsm([TOKEN]);
  try {
    await createAesKey(session, { label: "master" });
    console.log(
      `# pkcs11Provider on SoftHSM2 ${SOFTHSM_LIBRARY}, ${SECONDS} s per cell, Node ${process.version}`,
    );
    console.log("\n## Raw pkcs11js call cost (5,000 calls, 32-byte AES-GCM)\n");
    console.table(await callBlocking());
    const rows: Record<string, unknown>[] = [];
    for (const [mode, async, yieldEvery] of [
      ["sync, no yield", false, 0],
      ["sync + setImmediate", false, undefined],
      ["async (default)", true, undefined],
    ] as const) {
      const provider = pkcs11Provider({ ...session, keyLabel: "master", poolSize: 32, async, yieldEvery });
      const edks = await Promise.all(
        Array.from({ length: 64 }, () => provider.generateDataKey({ length: 32, context })),
      );
      let i = 0;
      for (const inFlight of [1, 8, 32]) {
        const gen = await measure(inFlight, () => provider.generateDataKey({ length: 32, context }));
        const dec = await measure(inFlight, () =>
          provider.decryptDataKey({
            encryptedDataKey: edks[i++ % edks.length]!.encryptedDataKeys[0]!,
            context,
          }),
        );
        rows.push({
          calls: mode,
          inFlight,
          "generate ops/s": gen.opsPerSecond,
          "decrypt ops/s": dec.opsPerSecond,
          "loop delay p99 ms (gen)": gen.loopDelayP99Ms.toFixed(2),
          "1ms timer late max ms (gen)": gen.timerLateMaxMs.toFixed(1),
          "1ms timer ticks/s (gen)": gen.timerTicksPerSecond,
        });
      }
      await provider.close();
    }
    console.log("\n## Provider throughput and event-loop delay\n");
    console.table(rows);
  } finally {
    hsm.cleanup();
  }
}

await main();
