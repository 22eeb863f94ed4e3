// LocalKms.listRetirableGrants against the API reference (ListRetirableGrants): which grants, pages, who may ask.

import { describe, expect, it, vi } from "vitest";
import type { LocalKms } from "./local-kms.js";
import { ACCOUNT, ALICE, BOB, cleanupsAfterEach, MALLORY, openTemp, ROOT, rejects } from "./test-helpers.js";
import type { Caller } from "./types.js";

vi.setConfig({ testTimeout: 60_000 });

const cleanups = cleanupsAfterEach();

/** A LocalKms whose clock advances a second on every reading (distinct creation dates), or a frozen one. */
async function setup(frozen = false): Promise<LocalKms> {
  let t = Date.UTC(2026, 0, 15);
  const clock = () => {
    if (!frozen) t += 1000;
    return new Date(t);
  };
  const temp = await openTemp({ clock });
  cleanups.push(temp.cleanup);
  return temp.kms;
}

async function newKey(kms: LocalKms): Promise<string> {
  return (await kms.createKey(ROOT, {})).KeyMetadata.KeyId;
}

const SERVICE: Caller = { principal: "dynamodb.us-east-1.amazonaws.com", account: ACCOUNT };

describe("listRetirableGrants (API reference: ListRetirableGrants)", () => {
  it("lists the grants on every key whose retiring principal is exactly the one named, oldest first", async () => {
    const kms = await setup();
    const [k1, k2, k3] = [await newKey(kms), await newKey(kms), await newKey(kms)];
    const mine: string[] = [];
    for (const KeyId of [k1, k2, k1, k3]) {
      const g = await kms.createGrant(ROOT, {
        KeyId,
        GranteePrincipal: BOB.principal,
        RetiringPrincipal: ALICE.principal,
        Operations: ["Decrypt"],
      });
      mine.push(g.GrantId);
    }
    // Not listed: another retiring principal, the account root (a filter is exact, not "every principal of the
    // account"), no retiring principal, and Alice as grantee only.
    await kms.createGrant(ROOT, {
      KeyId: k2,
      GranteePrincipal: ALICE.principal,
      RetiringPrincipal: BOB.principal,
      Operations: ["Decrypt"],
    });
    await kms.createGrant(ROOT, {
      KeyId: k2,
      GranteePrincipal: BOB.principal,
      RetiringPrincipal: ROOT.principal,
      Operations: ["Encrypt"],
    });
    await kms.createGrant(ROOT, { KeyId: k3, GranteePrincipal: ALICE.principal, Operations: ["Encrypt"] });

    const all = await kms.listRetirableGrants(ALICE, { RetiringPrincipal: ALICE.principal });
    expect(all.Truncated).toBe(false);
    expect(all.NextMarker).toBeUndefined();
    expect(all.Grants.map((g) => g.GrantId)).toEqual(mine);
    expect(all.Grants[1]).toMatchObject({
      KeyId: `arn:aws:kms:us-east-1:${ACCOUNT}:key/${k2}`,
      GranteePrincipal: BOB.principal,
      RetiringPrincipal: ALICE.principal,
      IssuingAccount: `arn:aws:iam::${ACCOUNT}:root`,
      Operations: ["Decrypt"],
    });
    expect(all.Grants[1]!.CreationDate).toBeInstanceOf(Date);
    const root = await kms.listRetirableGrants(ALICE, { RetiringPrincipal: ROOT.principal });
    expect(root.Grants.map((g) => g.Operations)).toEqual([["Encrypt"]]);
    expect(
      (await kms.listRetirableGrants(ALICE, { RetiringPrincipal: `arn:aws:iam::${ACCOUNT}:user/nobody` }))
        .Grants,
    ).toEqual([]);
  });

  it("pages by Limit and Marker; the marker names a position, so grants retired meanwhile skip nothing", async () => {
    const kms = await setup();
    const KeyId = await newKey(kms);
    const ids: string[] = [];
    for (let i = 0; i < 7; i++) {
      ids.push(
        (
          await kms.createGrant(ROOT, {
            KeyId,
            GranteePrincipal: BOB.principal,
            RetiringPrincipal: ALICE.principal,
            Operations: ["Decrypt"],
          })
        ).GrantId,
      );
    }
    const seen: string[] = [];
    let Marker: string | undefined;
    let pages = 0;
    do {
      const page = await kms.listRetirableGrants(BOB, {
        RetiringPrincipal: ALICE.principal,
        Limit: 3,
        ...(Marker ? { Marker } : {}),
      });
      pages++;
      expect(page.Grants.length).toBeLessThanOrEqual(3);
      expect(page.Truncated).toBe(page.NextMarker !== undefined);
      // Retire each page before asking for the next: an offset would now skip grants.
      for (const g of page.Grants) {
        seen.push(g.GrantId);
        await kms.retireGrant(ALICE, { KeyId: g.KeyId, GrantId: g.GrantId });
      }
      Marker = page.NextMarker;
    } while (Marker !== undefined);
    expect(seen).toEqual(ids);
    expect(pages).toBe(3);
    expect((await kms.listRetirableGrants(ALICE, { RetiringPrincipal: ALICE.principal })).Grants).toEqual([]);
  });

  it("grants created in the same millisecond are each listed once across pages (ties ordered by grant id)", async () => {
    const kms = await setup(true);
    const KeyId = await newKey(kms);
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const g = await kms.createGrant(ROOT, {
        KeyId,
        GranteePrincipal: BOB.principal,
        RetiringPrincipal: ALICE.principal,
        Operations: ["Decrypt"],
      });
      ids.push(g.GrantId);
    }
    const seen: string[] = [];
    let Marker: string | undefined;
    do {
      const page = await kms.listRetirableGrants(ALICE, {
        RetiringPrincipal: ALICE.principal,
        Limit: 2,
        ...(Marker ? { Marker } : {}),
      });
      seen.push(...page.Grants.map((g) => g.GrantId));
      Marker = page.NextMarker;
    } while (Marker !== undefined);
    expect(seen).toEqual([...ids].sort());
  });

  it("a marker is valid only for this list: ListGrants' marker and forged ones are InvalidMarkerException", async () => {
    const kms = await setup();
    const KeyId = await newKey(kms);
    for (let i = 0; i < 2; i++) {
      await kms.createGrant(ROOT, {
        KeyId,
        GranteePrincipal: ALICE.principal,
        RetiringPrincipal: ALICE.principal,
        Operations: ["Decrypt"],
      });
    }
    const other = await kms.listGrants(ROOT, { KeyId, Limit: 1 });
    expect(other.NextMarker).toBeDefined();
    await rejects(
      kms.listRetirableGrants(ALICE, { RetiringPrincipal: ALICE.principal, Marker: other.NextMarker! }),
      "InvalidMarkerException",
    );
    for (const Marker of [
      "x",
      "skm2.e30",
      `skm2.${Buffer.from('["ListRetirableGrants","a",1]').toString("base64url")}`,
    ])
      await rejects(
        kms.listRetirableGrants(ALICE, { RetiringPrincipal: ALICE.principal, Marker }),
        "InvalidMarkerException",
      );
    const first = await kms.listRetirableGrants(ALICE, { RetiringPrincipal: ALICE.principal, Limit: 1 });
    await rejects(kms.listGrants(ROOT, { KeyId, Marker: first.NextMarker! }), "InvalidMarkerException");
  });

  it("validates its members: one of the two principals, Limit 1 to 100, a principal ARN", async () => {
    const kms = await setup();
    const both = await rejects(
      kms.listRetirableGrants(ALICE, {
        RetiringPrincipal: ALICE.principal,
        RetiringServicePrincipal: SERVICE.principal,
      }),
      "ValidationException",
    );
    expect(both.message).toContain("not both");
    await rejects(kms.listRetirableGrants(ALICE, {}), "ValidationException");
    await rejects(
      kms.listRetirableGrants(ALICE, { RetiringPrincipal: ALICE.principal, Limit: 101 }),
      "ValidationException",
    );
    await rejects(
      kms.listRetirableGrants(ALICE, { RetiringPrincipal: ALICE.principal, Limit: 0 }),
      "ValidationException",
    );
    await rejects(
      kms.listRetirableGrants(ALICE, { RetiringPrincipal: ALICE.principal, Limit: 1.5 }),
      "ValidationException",
    );
    await rejects(kms.listRetirableGrants(ALICE, { RetiringPrincipal: "alice" }), "InvalidArnException");
    await rejects(kms.listRetirableGrants(ALICE, { RetiringPrincipal: "a b" }), "ValidationException");
    await rejects(
      kms.listRetirableGrants(ALICE, {
        RetiringPrincipal: `arn:aws:iam::${ACCOUNT}:user/${"a".repeat(300)}`,
      }),
      "ValidationException",
    );
    await rejects(
      kms.listRetirableGrants(SERVICE, { RetiringServicePrincipal: "not a service" }),
      "ValidationException",
    );
    await rejects(
      kms.listRetirableGrants(ALICE, { RetiringPrincipal: 7 as unknown as string }),
      "ValidationException",
    );
  });

  it("authorizes as documented here: a retiring principal of the caller's account; a service only its own", async () => {
    const kms = await setup();
    const KeyId = await newKey(kms);
    await kms.createGrant(ROOT, {
      KeyId,
      GranteePrincipal: SERVICE.principal,
      RetiringPrincipal: SERVICE.principal,
      Operations: ["Decrypt"],
    });
    await kms.createGrant(ROOT, {
      KeyId,
      GranteePrincipal: MALLORY.principal,
      RetiringPrincipal: MALLORY.principal,
      Operations: ["Decrypt"],
    });
    // Another account's principal lists the grants it may retire on this account's keys (AWS: grants on keys of
    // any account), but not the grants of a principal of this account, nor this account's of hers.
    const hers = await kms.listRetirableGrants(MALLORY, { RetiringPrincipal: MALLORY.principal });
    expect(hers.Grants.map((g) => g.GranteePrincipal)).toEqual([MALLORY.principal]);
    const denied = await rejects(
      kms.listRetirableGrants(MALLORY, { RetiringPrincipal: ALICE.principal }),
      "AccessDeniedException",
    );
    expect(denied.message).toContain("kms:ListRetirableGrants");
    await rejects(
      kms.listRetirableGrants(ALICE, { RetiringPrincipal: MALLORY.principal }),
      "AccessDeniedException",
    );
    // A service principal: only the service itself, through either member.
    for (const request of [
      { RetiringServicePrincipal: SERVICE.principal },
      { RetiringPrincipal: SERVICE.principal },
    ]) {
      expect((await kms.listRetirableGrants(SERVICE, request)).Grants).toHaveLength(1);
      await rejects(kms.listRetirableGrants(ALICE, request), "AccessDeniedException");
    }
    // The key policy is not consulted (an IAM-level permission in AWS): a policy denying everything to everyone
    // but the root user does not stop Bob from listing what Alice may retire.
    await kms.putKeyPolicy(ROOT, {
      KeyId,
      PolicyName: "default",
      Policy: JSON.stringify({
        Version: "2012-10-17",
        Statement: [
          { Effect: "Allow", Principal: { AWS: ROOT.principal }, Action: "kms:*", Resource: "*" },
          { Effect: "Deny", NotPrincipal: { AWS: ROOT.principal }, Action: "kms:*", Resource: "*" },
        ],
      }),
    });
    expect((await kms.listRetirableGrants(BOB, { RetiringPrincipal: ALICE.principal })).Grants).toEqual([]);
  });

  it("audits the call with its parameters, refused calls included", async () => {
    const kms = await setup();
    await kms.listRetirableGrants(ALICE, { RetiringPrincipal: ALICE.principal, Limit: 5 });
    await rejects(
      kms.listRetirableGrants(MALLORY, { RetiringPrincipal: ALICE.principal }),
      "AccessDeniedException",
    );
    const events = (await kms.auditLog!.query({})).filter((e) => e.eventName === "ListRetirableGrants");
    expect(events.map((e) => [e.userIdentity.arn, e.errorCode ?? null])).toEqual([
      [ALICE.principal, null],
      [MALLORY.principal, "AccessDeniedException"],
    ]);
    expect(events[0]!.requestParameters).toMatchObject({ retiringPrincipal: ALICE.principal, limit: 5 });
  });
});
