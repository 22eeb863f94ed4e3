// The README's first example, run as written (imports mapped to the modules under test) on a SoftHSM2 token.

import { readFileSync } from "node:fs";
import * as cipher from "@sealkit/cipher";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hasSoftHsm, type SoftHsm, setupSoftHsm } from "../test/softhsm.js";
import * as kmsCloudhsm from "./index.js";

const modules: Record<string, unknown> = { "@sealkit/cipher": cipher, "@sealkit/kms-cloudhsm": kmsCloudhsm };

describe.skipIf(!hasSoftHsm)("README example", () => {
  let hsm: SoftHsm;
  beforeAll(() => {
    // The token the README's shell block creates.
    hsm = setupSoftHsm([{ label: "sealkit", pin: "1234", soPin: "5678" }]);
  });
  afterAll(() => hsm?.cleanup());

  it("runs as written and prints the decrypted text, twice (key created, then found)", async () => {
    const readme = readFileSync(new URL("../README.md", import.meta.url), "utf8");
    const code = /```js\n(import \{ decrypt, encrypt \}[\s\S]*?)```/.exec(readme)?.[1];
    expect(code).toBeDefined();
    const body = code!.replace(
      /^import \{([^}]+)\} from "([^"]+)";$/gm,
      (_, names: string, from: string) => `const {${names}} = modules[${JSON.stringify(from)}];`,
    );
    const AsyncFunction = Object.getPrototypeOf(async () => {}).constructor as new (
      ...args: string[]
    ) => (...values: unknown[]) => Promise<void>;
    for (let run = 0; run < 2; run++) {
      const printed: unknown[] = [];
      await new AsyncFunction("modules", "console", body)(modules, { log: (x: unknown) => printed.push(x) });
      expect(printed).toEqual(["hello, HSM"]);
    }
  });
});
