// The event text written out member by member must be exactly JSON.stringify of the body: the hash covers it.

import { describe, expect, it } from "vitest";
import { MAX_EVENT_CHARS, prepareEvent } from "./build-event.js";
import { canonicalEventJson } from "./canonical-json.js";
import type { AuditEvent, AuditEventInput } from "./types.js";

const ACCOUNT = "111122223333";
const NOW = new Date("2026-11-29T10:00:00.123Z");

/** Inputs covering every optional member and every kind of string JSON.stringify escapes. */
const INPUTS: AuditEventInput[] = [
  { eventName: "ListKeys", caller: { principal: `arn:aws:iam::${ACCOUNT}:root`, account: ACCOUNT } },
  {
    eventName: "Decrypt",
    caller: {
      principal: "s3.amazonaws.com",
      account: ACCOUNT,
      viaService: "s3.amazonaws.com",
      accessKeyId: "AKIA",
      userAgent: 'agent "quoted" \\ back\\slash',
    },
    requestParameters: { keyId: "k", encryptionContext: { "a\nb": "tab\there", "\u0001": "\u001f" } },
    responseElements: { items: [1, "two", null, true, { nested: [] }], at: new Date(0) },
    errorCode: "AccessDeniedException",
    errorMessage: 'User: arn:aws:iam::1:user/x is not authorized\u2028 to "Decrypt"',
    resources: [
      { ARN: "arn:aws:kms:us-east-1:1:key/1" },
      { ARN: "a", type: "T" },
      { ARN: "b", accountId: "9", type: "T" },
    ],
    keyId: "arn:aws:kms:us-east-1:1:key/1",
    requestId: "req-\ud83d\ude00-emoji",
    readOnly: false,
    eventTime: new Date("2020-02-29T23:59:59.999Z"),
  },
  {
    eventName: "GenerateDataKey\ud83d\ude00",
    caller: { principal: `arn:aws:iam::${ACCOUNT}:user/path/al:ice`, account: ACCOUNT, sourceIp: "10.0.0.7" },
    errorMessage: "a lone \ud800 surrogate, escaped by JSON.stringify",
    requestParameters: { skipped: undefined, n: 1.5e300, neg: -0, list: [undefined, () => 1] },
    resources: [],
  },
  { eventName: "CreateAlias", caller: { principal: "arn:too:few:colons", account: "é漢字" } },
  { eventName: "Sign", caller: { principal: "arn:a:b:c:d:", account: ACCOUNT } },
];

describe("prepareEvent", () => {
  for (const [i, input] of INPUTS.entries()) {
    for (const region of [undefined, 'eu-west-"1"']) {
      it(`writes the text JSON.stringify would for input ${i}${region ? " with a region" : ""}`, () => {
        const { body, prefix } = prepareEvent(input, { now: NOW, eventSource: "kms.amazonaws.com", region });
        expect(`${prefix}}`).toBe(JSON.stringify(body));
        expect(`${prefix}}`).toBe(canonicalEventJson(body as unknown as AuditEvent));
      });
    }
  }

  it("records an event over MAX_EVENT_CHARS with its long strings cut, still canonical; refuses one still too big", () => {
    const huge = "\u0001".repeat(100_000); // 600,000 characters of JSON once escaped
    const pair = `${"x".repeat(1023)}\ud83d\ude00${"y".repeat(5000)}`; // the cut falls inside the pair
    const input: AuditEventInput = {
      eventName: "CreateKey",
      caller: { principal: "p", account: ACCOUNT, userAgent: "u".repeat(300_000) },
      requestParameters: {
        description: huge,
        tags: [{ tagKey: pair, tagValue: "v" }],
        [huge]: 1,
        __proto__x: 2,
      },
      responseElements: null,
      errorCode: "ValidationException",
      errorMessage: `Value '${huge}' at 'description' failed to satisfy constraint`,
    };
    const { body, prefix } = prepareEvent(input, {
      now: NOW,
      eventSource: "kms.amazonaws.com",
      region: undefined,
    });
    expect(`${prefix}}`).toBe(JSON.stringify(body));
    expect(`${prefix}}`).toBe(canonicalEventJson(body as unknown as AuditEvent));
    expect(prefix.length).toBeLessThan(MAX_EVENT_CHARS);
    const params = body.requestParameters as Record<string, unknown>;
    expect(params.description).toBe(`${"\u0001".repeat(1024)}...(100000 characters, cut in the audit log)`);
    expect((params.tags as { tagKey: string }[])[0]?.tagKey).toBe(
      `${"x".repeat(1023)}...(${pair.length} characters, cut in the audit log)`,
    );
    expect(Object.keys(params)).toContain(
      `${"\u0001".repeat(1024)}...(100000 characters, cut in the audit log)`,
    );
    expect(body.errorMessage).toBe(
      `Value '${"\u0001".repeat(1017)}...(${input.errorMessage?.length} characters, cut in the audit log)`,
    );
    expect(body.userAgent).toHaveLength(1024 + "...(300000 characters, cut in the audit log)".length);
    expect(body.errorCode).toBe("ValidationException");
    // Short values are kept whole; an event still too big once cut is refused as before.
    const many = Object.fromEntries(Array.from({ length: 400 }, (_, i) => [`k${i}`, "z".repeat(2000)]));
    expect(() =>
      prepareEvent(
        { eventName: "X", caller: { principal: "p", account: ACCOUNT }, requestParameters: many },
        { now: NOW, eventSource: "k", region: undefined },
      ),
    ).toThrow(RangeError);
  });

  it("derives principalId, readOnly and the time as before", () => {
    const make = (principal: string, eventName = "Decrypt") =>
      prepareEvent(
        { eventName, caller: { principal, account: ACCOUNT } },
        { now: NOW, eventSource: "k", region: undefined },
      ).body;
    // The resource part: everything after the fifth colon, or the whole principal when there is none.
    expect(make(`arn:aws:iam::${ACCOUNT}:user/a:b`).userIdentity.principalId).toBe("user/a:b");
    expect(make("arn:a:b:c:d:").userIdentity.principalId).toBe("arn:a:b:c:d:");
    expect(make("arn:a:b:c").userIdentity.principalId).toBe("arn:a:b:c");
    expect(make(`arn:aws:iam::${ACCOUNT}:root`).userIdentity).toMatchObject({
      type: "Root",
      principalId: ACCOUNT,
    });
    expect(make("kms.amazonaws.com").userIdentity.type).toBe("AWSService");
    expect(make(ACCOUNT, "GetKeyPolicy").readOnly).toBe(true);
    expect(make(ACCOUNT, "ListAliases").readOnly).toBe(true);
    expect(make(ACCOUNT, "GenerateMac").readOnly).toBe(true);
    expect(make(ACCOUNT, "CreateKey").readOnly).toBe(false);
    expect(make(ACCOUNT, "Getaway").readOnly).toBe(true); // Get* as CloudTrail, and as the regex before
    // The same millisecond shares one conversion; another one does not reuse it.
    expect(make(ACCOUNT).eventTime).toBe("2026-11-29T10:00:00.123Z");
    const later = prepareEvent(
      { eventName: "X", caller: { principal: "p", account: "a" }, eventTime: new Date(NOW.getTime() + 1) },
      { now: NOW, eventSource: "k", region: undefined },
    );
    expect(later.body.eventTime).toBe("2026-11-29T10:00:00.124Z");
  });

  it("hands back copies equal to the stored text parsed, never the caller's objects", () => {
    const proto = JSON.parse('{"__proto__": {"x": 1}}') as Record<string, unknown>;
    class Custom {
      a = 1;
    }
    const cases: Record<string, unknown>[] = [
      {
        keyId: "k",
        context: { tenant: "acme", n: 1, f: 0.5, t: true, nil: null },
        list: ["a", 2, [3], { b: 4 }],
      },
      { zero: -0 },
      { inf: Number.POSITIVE_INFINITY, nan: Number.NaN },
      { skipped: undefined, list: [undefined, () => 1, Symbol("s")] },
      { when: new Date(0), nested: { toJSON: () => "replaced" } },
      // biome-ignore lint/suspicious/noSparseArray: a hole is what is tested
      { sparse: [1, , 3] },
      { custom: new Custom() },
      proto,
      { 2: "b", 1: "a", z: "z", a: "a" },
    ];
    for (const requestParameters of cases) {
      const { body, prefix } = prepareEvent(
        {
          eventName: "Decrypt",
          caller: { principal: "p", account: "a" },
          requestParameters,
          responseElements: requestParameters,
        },
        { now: NOW, eventSource: "k", region: undefined },
      );
      const stored = JSON.parse(`${prefix}}`) as AuditEvent;
      for (const copy of [body.requestParameters, body.responseElements]) {
        expect(copy).not.toBe(requestParameters);
        expect(copy).toStrictEqual(stored.requestParameters);
        expect(JSON.stringify(copy)).toBe(JSON.stringify(stored.requestParameters));
        expect(Object.getPrototypeOf(copy)).toBe(Object.getPrototypeOf(stored.requestParameters));
        // -0 becomes 0 through JSON, which toStrictEqual does not tell apart.
        if ("zero" in requestParameters) expect(Object.is(copy?.zero, 0)).toBe(true);
      }
    }
  });

  it("refuses parameters that serialize to nothing", () => {
    const input = {
      eventName: "Decrypt",
      caller: { principal: "p", account: "a" },
      requestParameters: { toJSON: () => undefined },
    } as unknown as AuditEventInput;
    expect(() => prepareEvent(input, { now: NOW, eventSource: "k", region: undefined })).toThrow(TypeError);
  });
});

describe("prepareEvent and lone surrogates", () => {
  const base: AuditEventInput = {
    eventName: "Encrypt",
    caller: { principal: `arn:aws:iam::${ACCOUNT}:user/alice`, account: ACCOUNT },
  };

  it("refuses one in an indexed column (it would be stored as U+FFFD and verify as edited)", () => {
    const defaults = { now: NOW, eventSource: "kms.amazonaws.com", region: undefined };
    for (const input of [
      { ...base, eventName: "Encrypt\uD800" },
      { ...base, caller: { ...base.caller, principal: "arn:aws:iam::1:user/\uDC00x" } },
      { ...base, keyId: "key\uD83D" },
      { ...base, errorCode: "\uDE00Denied" },
    ]) {
      expect(() => prepareEvent(input, defaults)).toThrow(/lone UTF-16 surrogate/);
    }
    // Elsewhere the JSON escape keeps it exactly, and a pair is text.
    expect(() =>
      prepareEvent({ ...base, errorMessage: "a\uD800b", keyId: "k\uD83D\uDE00" }, defaults),
    ).not.toThrow();
  });
});
