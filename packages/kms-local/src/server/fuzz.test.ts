// Property tests: random JSON for every operation is either decoded or refused with a WireError, and random bodies
// sent to a real server never produce a 500.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodeRequest } from "./codec.js";
import { OPERATION_MODELS, type Shape } from "./model.generated.js";
import { createKmsServer, type KmsServer } from "./server.js";
import { openTestKms } from "./test-kms.js";
import { ALICE, call } from "./test-support.js";
import { WireError } from "./wire-errors.js";

const operations = Object.keys(OPERATION_MODELS);

/** Values that fit a shape most of the time, and anything JSON some of the time. */
function valueFor(shape: Shape, depth = 0): fc.Arbitrary<unknown> {
  const anything = fc.jsonValue({ maxDepth: 2 });
  let fitting: fc.Arbitrary<unknown>;
  if (shape === "s")
    fitting = fc.oneof(
      fc.string({ maxLength: 40 }),
      fc.constantFrom("alias/x", "11111111-2222-3333-4444-555555555555"),
    );
  else if (shape === "n") fitting = fc.oneof(fc.integer({ min: -5, max: 5000 }), fc.double());
  else if (shape === "b") fitting = fc.boolean();
  else if (shape === "B")
    fitting = fc.oneof(fc.base64String({ maxLength: 64 }), fc.string({ maxLength: 20 }));
  else if (shape === "t") fitting = fc.integer({ min: 0, max: 2_000_000_000 });
  else if (Array.isArray(shape)) {
    const [kind, inner] = shape as readonly ["l" | "m", Shape];
    const item = depth > 3 ? anything : valueFor(inner, depth + 1);
    fitting =
      kind === "l"
        ? fc.array(item, { maxLength: 3 })
        : fc.dictionary(fc.string({ maxLength: 8 }), item, { maxKeys: 3 });
  } else {
    fitting = depth > 3 ? anything : structureFor(shape as Record<string, Shape>, depth + 1);
  }
  return fc.oneof({ arbitrary: fitting, weight: 4 }, { arbitrary: anything, weight: 1 });
}

function structureFor(members: Record<string, Shape>, depth = 0): fc.Arbitrary<Record<string, unknown>> {
  const record: Record<string, fc.Arbitrary<unknown>> = {};
  for (const [name, shape] of Object.entries(members)) record[name] = valueFor(shape, depth);
  return fc.record(record, { requiredKeys: [] });
}

const requestFor = fc
  .constantFrom(...operations)
  .chain((op) =>
    fc.tuple(fc.constant(op), structureFor((OPERATION_MODELS[op] as { input: Record<string, Shape> }).input)),
  );

describe("fuzzing the server's JSON", () => {
  it("decodeRequest decodes or throws a WireError, for any operation and any JSON", () => {
    fc.assert(
      fc.property(requestFor, ([op, body]) => {
        try {
          decodeRequest(OPERATION_MODELS[op]!, Buffer.from(JSON.stringify(body)));
        } catch (e) {
          expect(e).toBeInstanceOf(WireError);
          expect(["SerializationException", "ValidationException"]).toContain((e as WireError).awsName);
        }
      }),
      { numRuns: 1000 },
    );
  }, 60_000);

  describe("against a real server", () => {
    let dir: string;
    let server: KmsServer;
    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), "sealkit-kms-fuzz-"));
      const kms = await openTestKms(dir);
      server = createKmsServer({ kms: kms.kms, credentials: [ALICE], region: "us-east-1" });
      await server.listen(0, "127.0.0.1");
    });
    afterAll(async () => {
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    });

    it("never answers 500 to a random request of any operation", async () => {
      await fc.assert(
        fc.asyncProperty(requestFor, async ([op, body]) => {
          const res = await call(server.url, op, body);
          expect(res.status, `${op} ${JSON.stringify(body)} → ${res.text}`).toBeLessThan(500);
          expect(typeof res.json().__type === "string" || res.status === 200).toBe(true);
        }),
        { numRuns: 150 },
      );
    }, 120_000);
  });
});
