// AWS CloudHSM client SDK 5 gives every session its own handle for the same key ("key handles are now
// session-specific", AWS's SDK 3 to SDK 5 migration notes). SoftHSM2's handles are process-wide, so it cannot show
// this; the stand-in below is test/fake-module.ts with exactly that one behaviour changed: C_FindObjects returns a
// handle that names the key in the session that found it only, and any other session refuses it with
// CKR_KEY_HANDLE_INVALID, as CloudHSM does.

import { SealkitError } from "@sealkit/core";
import pkcs11js from "pkcs11js";
import { describe, expect, it } from "vitest";
import { cloudhsmProvider, FakeModule } from "../test/fake-module.js";
import type { Handle, MechanismSpec, TemplateAttribute } from "./pkcs11-module.js";

const context = { tenant: "acme" };

const sessionNumber = (session: Handle) => Number(session.readBigUInt64LE());

/** FakeModule whose key handles are per session, like CloudHSM client SDK 5's. */
class PerSessionHandles extends FakeModule {
  /** Calls that passed a key handle found in another session. */
  foreignHandleUses = 0;
  /** With `duplicate`, C_FindObjects finds a second key with the same label. */
  duplicate = false;

  #keyIn(session: Handle): Handle {
    const handle = Buffer.alloc(8);
    handle.writeBigUInt64LE(BigInt(1000 + sessionNumber(session)));
    return handle;
  }

  #check(session: Handle, key: Handle): void {
    if (!key.equals(this.#keyIn(session))) {
      this.foreignHandleUses++;
      throw Object.assign(new Error(`CKR_KEY_HANDLE_INVALID:${pkcs11js.CKR_KEY_HANDLE_INVALID}`), {
        name: "Pkcs11Error",
      });
    }
  }

  override C_FindObjects(session: Handle): Handle[] {
    const found = super.C_FindObjects(session);
    if (found.length === 0) return found;
    const key = this.#keyIn(session);
    if (!this.duplicate) return [key];
    const other = Buffer.alloc(8);
    other.writeBigUInt64LE(BigInt(5000 + sessionNumber(session)));
    return [key, other];
  }

  override C_GetAttributeValue(session: Handle, object: Handle, template: TemplateAttribute[]) {
    this.#check(session, object);
    return super.C_GetAttributeValue(session, object, template);
  }

  override C_EncryptInit(session: Handle, mechanism: MechanismSpec, key: Handle): void {
    this.#check(session, key);
    super.C_EncryptInit(session, mechanism, key);
  }

  override C_DecryptInit(session: Handle, mechanism: MechanismSpec, key: Handle): void {
    this.#check(session, key);
    super.C_DecryptInit(session, mechanism, key);
  }
}

describe("session-specific key handles (CloudHSM client SDK 5 stand-in)", () => {
  it("never passes a key handle to a session that did not find it, and looks the key up once per session", async () => {
    const fake = new PerSessionHandles({ ivSource: "hsm" });
    const provider = cloudhsmProvider(fake, { poolSize: 4 });
    for (let round = 0; round < 5; round++) {
      const keys = await Promise.all(
        Array.from({ length: 12 }, () => provider.generateDataKey({ length: 32, context })),
      );
      const opened = await Promise.all(
        keys.map(({ encryptedDataKeys }) =>
          provider.decryptDataKey({ encryptedDataKey: encryptedDataKeys[0]!, context }),
        ),
      );
      expect(opened).toEqual(keys.map((key) => key.plaintext));
    }
    expect(fake.foreignHandleUses).toBe(0);
    const sessions = fake.count("C_OpenSession");
    expect(sessions).toBe(4);
    expect(fake.count("C_FindObjectsInit")).toBe(sessions);
    await provider.close();
  });

  it("a label that becomes ambiguous is an error in a session that looks it up, never the first key found", async () => {
    const fake = new PerSessionHandles({ ivSource: "hsm" });
    const provider = cloudhsmProvider(fake, { poolSize: 2 });
    await provider.generateDataKey({ length: 32, context });
    fake.duplicate = true;
    fake.dropSessions(); // every session is lost (a failover): the retry opens a new one and must look again
    const error = await provider.generateDataKey({ length: 32, context }).catch((e: unknown) => e);
    expect(SealkitError.isInstance(error, "ERR_KEY_NOT_FOUND")).toBe(true);
    expect((error as Error).message).toMatch(/ambiguous: 2 secret keys/);
    expect(fake.foreignHandleUses).toBe(0);
    await provider.close();
  });
});
