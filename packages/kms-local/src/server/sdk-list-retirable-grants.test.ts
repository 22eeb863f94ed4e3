// ListRetirableGrants through the real @aws-sdk/client-kms, over HTTP, against the real LocalKms.

import * as K from "@aws-sdk/client-kms";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ALICE, BOB, MALLORY, type SdkServer, sdkFailure, startSdkServer } from "./test-support.js";

describe("ListRetirableGrants with @aws-sdk/client-kms", { timeout: 30_000 }, () => {
  let fixture: SdkServer;
  let alice: K.KMSClient;
  let bob: K.KMSClient;
  let mallory: K.KMSClient;

  beforeAll(async () => {
    fixture = await startSdkServer("sealkit-kms-retirable-");
    ({ alice, bob, mallory } = fixture);
  });
  afterAll(() => fixture?.close());

  const failure = sdkFailure;

  it("lists the grants Alice may retire across keys, pages with the SDK's paginator, and she retires them", async () => {
    const keys = [
      (await alice.send(new K.CreateKeyCommand({}))).KeyMetadata!.Arn!,
      (await alice.send(new K.CreateKeyCommand({}))).KeyMetadata!.Arn!,
    ];
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const g = await alice.send(
        new K.CreateGrantCommand({
          KeyId: keys[i % 2],
          GranteePrincipal: BOB.principal,
          RetiringPrincipal: ALICE.principal,
          Operations: ["Decrypt", "DescribeKey"],
          Constraints: { EncryptionContextSubset: { tenant: `t${i}` } },
          Name: `g${i}`,
        }),
      );
      ids.push(g.GrantId!);
    }
    // Bob's own retirable grant is not Alice's.
    await alice.send(
      new K.CreateGrantCommand({
        KeyId: keys[0],
        GranteePrincipal: ALICE.principal,
        RetiringPrincipal: BOB.principal,
        Operations: ["Encrypt"],
      }),
    );

    const first = await alice.send(
      new K.ListRetirableGrantsCommand({ RetiringPrincipal: ALICE.principal, Limit: 2 }),
    );
    expect(first.Grants).toHaveLength(2);
    expect(first.Truncated).toBe(true);
    expect(first.NextMarker).toBeTruthy();
    expect(first.Grants![0]).toMatchObject({
      KeyId: keys[0],
      GranteePrincipal: BOB.principal,
      RetiringPrincipal: ALICE.principal,
      IssuingAccount: "arn:aws:iam::111122223333:root",
      Operations: ["Decrypt", "DescribeKey"],
      Constraints: { EncryptionContextSubset: { tenant: "t0" } },
      Name: "g0",
    });
    expect(first.Grants![0]!.CreationDate).toBeInstanceOf(Date);

    // Bob (same account) may list them too; the paginator follows NextMarker to the end.
    const pages: number[] = [];
    const listed: K.GrantListEntry[] = [];
    for await (const page of K.paginateListRetirableGrants(
      { client: bob, pageSize: 2 },
      { RetiringPrincipal: ALICE.principal },
    )) {
      pages.push(page.Grants!.length);
      listed.push(...page.Grants!);
    }
    expect(pages).toEqual([2, 2, 1]);
    expect(new Set(listed.map((g) => g.GrantId))).toEqual(new Set(ids));

    // What the listing gives is what RetireGrant takes.
    for (const g of listed)
      await alice.send(new K.RetireGrantCommand({ KeyId: g.KeyId, GrantId: g.GrantId }));
    const after = await alice.send(new K.ListRetirableGrantsCommand({ RetiringPrincipal: ALICE.principal }));
    expect(after.Grants).toEqual([]);
    expect(after.Truncated).toBe(false);
  });

  it("another account lists its own retirable grants on this account's keys, not this account's", async () => {
    const { KeyMetadata } = await alice.send(new K.CreateKeyCommand({}));
    const grant = await alice.send(
      new K.CreateGrantCommand({
        KeyId: KeyMetadata!.KeyId,
        GranteePrincipal: MALLORY.principal,
        RetiringPrincipal: MALLORY.principal,
        Operations: ["Decrypt"],
      }),
    );
    const hers = await mallory.send(
      new K.ListRetirableGrantsCommand({ RetiringPrincipal: MALLORY.principal }),
    );
    expect(hers.Grants?.map((g) => g.GrantId)).toEqual([grant.GrantId]);
    expect(
      await failure(mallory.send(new K.ListRetirableGrantsCommand({ RetiringPrincipal: ALICE.principal }))),
    ).toMatchObject({ name: "AccessDeniedException", status: 400 });
    expect(
      await failure(alice.send(new K.ListRetirableGrantsCommand({ RetiringPrincipal: MALLORY.principal }))),
    ).toMatchObject({ name: "AccessDeniedException", status: 400 });
  });

  it("answers bad requests with AWS's exceptions", async () => {
    const cases: [K.ListRetirableGrantsCommandInput, string][] = [
      [{}, "ValidationException"],
      [
        { RetiringPrincipal: ALICE.principal, RetiringServicePrincipal: "ec2.amazonaws.com" },
        "ValidationException",
      ],
      [{ RetiringPrincipal: ALICE.principal, Limit: 101 }, "ValidationException"],
      [{ RetiringPrincipal: ALICE.principal, Limit: 0 }, "ValidationException"],
      [{ RetiringPrincipal: "alice" }, "InvalidArnException"],
      [{ RetiringPrincipal: ALICE.principal, Marker: "not-a-marker" }, "InvalidMarkerException"],
    ];
    for (const [input, name] of cases) {
      expect(
        (await failure(alice.send(new K.ListRetirableGrantsCommand(input)))).name,
        JSON.stringify(input),
      ).toBe(name);
    }
  });
});
