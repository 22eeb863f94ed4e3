// `sealkit kms serve --cors-origin`: browser pages of the listed origins may call the server; bad origins are a
// usage error before anything starts.

import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { run, startServe, tempDir } from "./helpers.js";

const t = tempDir();
afterAll(() => t.cleanup());
const unsigned = ["--allow-unsigned-as", "arn:aws:iam::111122223333:root"];

describe("kms serve --cors-origin", () => {
  it("answers the preflight of each listed origin, and refuses another", async () => {
    const serve = await startServe(
      [
        "--data-dir",
        join(t.dir, "kms"),
        ...unsigned,
        "--cors-origin",
        "http://localhost:5173",
        "--cors-origin",
        "https://app.example.com",
      ],
      { cwd: t.dir },
    );
    try {
      const preflight = (origin: string) =>
        fetch(`${serve.url}/`, {
          method: "OPTIONS",
          headers: { origin, "access-control-request-method": "POST" },
        });
      for (const origin of ["http://localhost:5173", "https://app.example.com"]) {
        const answer = await preflight(origin);
        expect(answer.status, origin).toBe(200);
        expect(answer.headers.get("access-control-allow-origin")).toBe(origin);
      }
      const refused = await preflight("https://evil.example");
      expect(refused.status).toBe(403);
      expect(refused.headers.get("access-control-allow-origin")).toBeNull();
    } finally {
      serve.child.kill("SIGTERM");
      expect((await serve.closed).code).toBe(0);
    }
  });

  it("refuses an origin browsers never send, and * with --allow-unsigned-as, as usage errors (exit 2)", async () => {
    const slash = await run(
      ["kms", "serve", "--port", "0", ...unsigned, "--cors-origin", "http://localhost:5173/"],
      {
        cwd: t.dir,
      },
    );
    expect(slash.code).toBe(2);
    expect(slash.stderr).toMatch(
      /--cors-origin: "http:\/\/localhost:5173\/" is not an origin.*did you mean "http:\/\/localhost:5173"\?/,
    );
    const star = await run(["kms", "serve", "--port", "0", ...unsigned, "--cors-origin", "*"], {
      cwd: t.dir,
    });
    expect(star.code).toBe(2);
    expect(star.stderr).toMatch(/any web page/);
  });
});
