// The demo's HSM mode (SEALKIT_DEMO_PROVIDER=pkcs11): a SoftHSM2 token in the data dir holds the master key, and
// @sealkit/kms-cloudhsm issues the page's data keys. Needs Debian's softhsm2 package.

import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { createAesKey, findKey, type Pkcs11Provider, pkcs11Provider } from "@sealkit/kms-cloudhsm";

const LIBRARY = process.env.SOFTHSM2_LIBRARY ?? "/usr/lib/softhsm/libsofthsm2.so";
const TOKEN = "sealkit-demo";
const PIN = "1234";
const KEY = "demo-master";

/**
 * Creates (once) a SoftHSM2 token and a non-extractable AES-256 key under `dir`, and returns a provider over it.
 * @throws {Error} when SoftHSM2 is not installed
 */
export async function demoHsmProvider(
  dir: string,
): Promise<{ provider: Pkcs11Provider; close: () => Promise<void> }> {
  if (!existsSync(LIBRARY)) {
    throw new Error(
      `SoftHSM2 is not installed (${LIBRARY} missing): apt-get install softhsm2, or use another provider`,
    );
  }
  const tokens = join(dir, "tokens");
  const conf = join(dir, "softhsm2.conf");
  if (!existsSync(conf)) {
    await mkdir(tokens, { recursive: true, mode: 0o700 });
    await writeFile(
      conf,
      `directories.tokendir = ${tokens}\nobjectstore.backend = file\nlog.level = ERROR\n`,
    );
    const init = spawnSync(
      "softhsm2-util",
      ["--init-token", "--free", "--label", TOKEN, "--pin", PIN, "--so-pin", "12345678"],
      { env: { ...process.env, SOFTHSM2_CONF: conf }, encoding: "utf8" },
    );
    if (init.status !== 0) throw new Error(`softhsm2-util --init-token failed: ${init.stderr}`);
  }
  process.env.SOFTHSM2_CONF = conf;
  const config = { library: LIBRARY, tokenLabel: TOKEN, pin: PIN, profile: "softhsm" as const };
  if (!(await findKey(config, { label: KEY }))) await createAesKey(config, { label: KEY });
  const provider = pkcs11Provider({ ...config, keyLabel: KEY });
  return { provider, close: () => provider.close() };
}
