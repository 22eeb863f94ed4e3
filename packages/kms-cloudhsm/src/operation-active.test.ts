// A session left with an operation active (CKR_OPERATION_ACTIVE) on a real SoftHSM2 token: a C_FindObjectsFinal that
// failed (as a throttled AWS CloudHSM answers, CKR_FUNCTION_FAILED) leaves the search open in that session, and
// every later C_FindObjectsInit or C_EncryptInit there fails. The pool must not lend that session again as it is.

import { SealkitError } from "@sealkit/core";
import pkcs11js from "pkcs11js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  hasSoftHsm,
  recordingSoftHsm,
  SKIP_MESSAGE,
  type SoftHsm,
  setupSoftHsm,
  softHsmOptions,
} from "../test/softhsm.js";
import { createAesKey } from "./key-admin.js";
import { pkcs11Provider } from "./pkcs11-provider.js";

if (!hasSoftHsm) console.warn(SKIP_MESSAGE);

const TOKEN = { label: "operation-active", pin: "1234", soPin: "5678" };
const context = { tenant: "acme" };

const outcome = (promise: Promise<unknown>) =>
  promise.then(
    () => "ok",
    (e: unknown) => (SealkitError.isInstance(e) ? `${e.code} ${e.message}` : String(e)),
  );

describe.skipIf(!hasSoftHsm)("a session with an operation left active (SoftHSM2)", () => {
  let hsm: SoftHsm;

  beforeAll(async () => {
    hsm = setupSoftHsm([TOKEN]);
    await createAesKey(softHsmOptions(TOKEN), { label: "master" });
  });

  afterAll(() => hsm?.cleanup());

  it("is discarded and the call retried on a fresh session, instead of failing every call it is lent to", async () => {
    const { module, hooks } = recordingSoftHsm();
    const provider = pkcs11Provider({ ...softHsmOptions(TOKEN), keyLabel: "master", poolSize: 1, module });
    // The first key lookup's C_FindObjectsFinal fails without closing the search (SoftHSM2 keeps it open).
    hooks.C_FindObjectsFinal = () => {
      delete hooks.C_FindObjectsFinal;
      throw Object.assign(new Error(`CKR_FUNCTION_FAILED:${pkcs11js.CKR_FUNCTION_FAILED}`), {
        name: "Pkcs11Error",
      });
    };
    expect(await outcome(provider.generateDataKey({ length: 32, context }))).toMatch(
      /^ERR_PROVIDER_UNAVAILABLE .*CKR_FUNCTION_FAILED/,
    );
    // The search is still open in the pool's only session: SoftHSM2 says so to anyone who starts another.
    const results = [];
    for (let i = 0; i < 3; i++)
      results.push(await outcome(provider.generateDataKey({ length: 32, context })));
    expect(results).toEqual(["ok", "ok", "ok"]);
    const stats = provider.stats();
    expect(stats.sessionsDiscarded).toBe(1);
    expect(stats.open).toBe(1);
    expect(stats.reinitializations).toBe(0);
    await provider.close();
  });
});
