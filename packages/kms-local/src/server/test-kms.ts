// Test helper: a real LocalKms in a temporary data dir for the server tests, with its audit log at hand.

import type { AuditLog } from "../audit/index.js";
import { LocalKms } from "../local-kms.js";
import type { KmsBackend } from "./server.js";

export interface TestKms {
  readonly kms: KmsBackend;
  readonly local: LocalKms;
  readonly auditLog: AuditLog;
  closed(): boolean;
}

/**
 * Opens a LocalKms in `dataDir`. `slowMs` delays GenerateRandom before it runs, to hold a request in flight;
 * `failGenerateRandom` makes it throw a plain Error, a fault the real KMS cannot be made to show on demand.
 */
export async function openTestKms(
  dataDir: string,
  options: { slowMs?: number; failGenerateRandom?: string } = {},
): Promise<TestKms> {
  const local = await LocalKms.open({ dataDir, region: "us-east-1", account: "111122223333" });
  let closed = false;
  const kms = new Proxy(local, {
    get(target, prop) {
      if (prop === "generateRandom" && options.failGenerateRandom) {
        return async () => {
          throw new Error(options.failGenerateRandom);
        };
      }
      if (prop === "generateRandom" && options.slowMs) {
        return async (caller: unknown, request: unknown) => {
          await new Promise((r) => setTimeout(r, options.slowMs));
          return target.generateRandom(caller as never, request as never);
        };
      }
      if (prop === "close") {
        return async () => {
          await target.close();
          closed = true;
        };
      }
      const value = Reflect.get(target, prop, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  }) as unknown as KmsBackend;
  return { kms, local, auditLog: local.auditLog as AuditLog, closed: () => closed };
}
