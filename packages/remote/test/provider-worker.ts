// A worker that asks a data-key server for a key with remoteProvider, as an edge function fetching keys from a
// central server would; run in workerd by worker.test.ts, which plays the server as Miniflare's outbound service.

import { remoteProvider } from "../src/index.js";

export default {
  async fetch(request: Request): Promise<Response> {
    const endpoint = new URL(request.url).searchParams.get("endpoint")!;
    const keys = remoteProvider({ endpoint, providerId: "raw" });
    try {
      const dataKey = await keys.generateDataKey({ length: 32, context: { object: "a" } });
      return Response.json({ ok: true, keyIds: dataKey.encryptedDataKeys.map((k) => k.keyId) });
    } catch (error) {
      const e = error as { code?: unknown; message: string };
      return Response.json({ ok: false, code: e.code, message: e.message });
    }
  },
};
