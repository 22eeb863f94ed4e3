// AWS CloudHSM allows at most 1,024 sessions per application, and every pool of the process (a provider, the
// kms-local key wrapper, key administration) draws from the same allowance; past it C_OpenSession returns
// CKR_SESSION_COUNT. SoftHSM2 has no such limit, so the stand-in is test/fake-module.ts with that one behaviour
// added: an application-wide session limit, here 3 so that the test stays small.

import { SealkitError } from "@sealkit/core";
import pkcs11js from "pkcs11js";
import { describe, expect, it } from "vitest";
import { cloudhsmProvider, FakeModule } from "../test/fake-module.js";
import type { Handle } from "./pkcs11-module.js";

const context = { tenant: "acme" };

/** FakeModule refusing more than `limit` open sessions at once with CKR_SESSION_COUNT, as CloudHSM does past 1,024. */
class SessionLimit extends FakeModule {
  open = 0;
  refused = 0;
  constructor(readonly limit: number) {
    super({ ivSource: "hsm" });
  }
  override C_OpenSession(slot: Handle, flags: number): Handle {
    if (this.open >= this.limit) {
      this.refused++;
      throw Object.assign(new Error(`CKR_SESSION_COUNT:${pkcs11js.CKR_SESSION_COUNT}`), {
        name: "Pkcs11Error",
      });
    }
    const session = super.C_OpenSession(slot, flags);
    this.open++;
    return session;
  }
  override C_CloseSession(session: Handle): void {
    super.C_CloseSession(session);
    this.open--;
  }
}

describe("the application-wide session limit (CloudHSM stand-in)", () => {
  it("a pool that meets CKR_SESSION_COUNT while holding sessions waits for one of them instead of failing", async () => {
    const fake = new SessionLimit(3);
    const provider = cloudhsmProvider(fake, { poolSize: 8 }); // more than the token allows: other pools of the process hold the rest
    const outcomes = await Promise.all(
      Array.from({ length: 40 }, () =>
        provider.generateDataKey({ length: 32, context }).then(
          () => "ok",
          (e: unknown) => (SealkitError.isInstance(e) ? `${e.code}: ${e.message}` : String(e)),
        ),
      ),
    );
    expect(new Set(outcomes)).toEqual(new Set(["ok"]));
    expect(fake.refused).toBeGreaterThan(0);
    expect(provider.stats()).toMatchObject({ open: 3, peakOpen: 3, waiting: 0 });
    expect(provider.stats().sessionLimitHits).toBe(fake.refused);
    await provider.close();
    expect(fake.open).toBe(0);
  });

  it("with no session of its own to wait for, the call fails with ERR_PROVIDER_UNAVAILABLE naming the CKR", async () => {
    const fake = new SessionLimit(0);
    const provider = cloudhsmProvider(fake, { poolSize: 2 });
    const error = await provider.generateDataKey({ length: 32, context }).catch((e: unknown) => e);
    expect(SealkitError.isInstance(error, "ERR_PROVIDER_UNAVAILABLE")).toBe(true);
    expect((error as Error).message).toMatch(/CKR_SESSION_COUNT/);
    expect(provider.stats()).toMatchObject({ open: 0, waiting: 0 });
    await provider.close();
  });
});
