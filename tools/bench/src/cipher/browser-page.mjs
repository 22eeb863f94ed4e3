// The browser half of the cipher benchmark, bundled into a page: the same workloads and runner as in Node, with
// the baselines a browser has (libsodium-wrappers and Web Crypto AES-GCM). Returns plain result objects.

import { runWorkload } from "./bench.mjs";
import {
  bulkWorkload,
  libsodiumHeapImplementation,
  libsodiumImplementation,
  sealkitImplementation,
  sealkitStreamImplementation,
  smallWorkload,
  WEB_CRYPTO_WINDOW,
  webCryptoAesImplementation,
} from "./cases.mjs";
import { randomBytes } from "./data.mjs";

/**
 * @param options { rounds, warmup, bulkBytes, smallMessages, smallSize }
 * @param modules { sodium, cipher, core } (cipher and core null when Sealkit is not built)
 * @returns {Promise<{ results?: object[], error?: string, correctness?: boolean, userAgent: string }>}
 */
export async function runBrowserBench(options, { sodium, cipher, core }) {
  const log = (line) => console.log(line);
  try {
    await sodium.ready;
    const implementations = [];
    if (cipher && core && typeof core.rawKeyProvider === "function") {
      const providers = [core.rawKeyProvider({ keyId: "bench-key", key: randomBytes(32) })];
      if (typeof cipher.encrypt === "function" && typeof cipher.decrypt === "function") {
        implementations.push(sealkitImplementation(cipher, providers, "XCHACHA20_POLY1305"));
        implementations.push(sealkitImplementation(cipher, providers, "AES_256_GCM"));
      }
      if (typeof cipher.encryptStream === "function" && typeof cipher.decryptStream === "function") {
        implementations.push(sealkitStreamImplementation(cipher, providers, "XCHACHA20_POLY1305"));
        implementations.push(sealkitStreamImplementation(cipher, providers, "AES_256_GCM"));
      }
    }
    implementations.push(
      libsodiumImplementation(sodium),
      libsodiumHeapImplementation(sodium),
      await webCryptoAesImplementation(crypto.subtle, WEB_CRYPTO_WINDOW),
      await webCryptoAesImplementation(crypto.subtle, 1),
    );
    const results = [];
    log(`browser: ${options.bulkBytes / 1048576} MiB in 64 KiB frames`);
    results.push(
      ...(await runWorkload(implementations, bulkWorkload(randomBytes(options.bulkBytes)), {
        ...options,
        log,
      })),
    );
    log(`browser: ${options.smallMessages} messages of ${options.smallSize} bytes`);
    const messages = Array.from({ length: options.smallMessages }, () => randomBytes(options.smallSize));
    results.push(...(await runWorkload(implementations, smallWorkload(messages), { ...options, log })));
    return { results, userAgent: navigator.userAgent };
  } catch (error) {
    return {
      error: String(error?.stack ?? error),
      correctness: Boolean(error?.correctness),
      userAgent: navigator.userAgent,
    };
  }
}
