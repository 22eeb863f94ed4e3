// Short-lived signed links to the edge worker: the origin, which knows the user, signs "file id + expiry"; the
// worker, which does not, checks the signature in constant time before it decrypts anything.

import { createHmac, timingSafeEqual } from "node:crypto";

/** Signs a link for `id`, valid for `ttlSeconds`. */
export function signEdgePath(secret: string, id: string, ttlSeconds = 3600, now = Date.now()): string {
  const expires = Math.floor(now / 1000) + ttlSeconds;
  const signature = createHmac("sha256", secret).update(`${id}.${expires}`).digest("hex");
  return `/files/${id}?expires=${expires}&signature=${signature}`;
}

/** Checks a link signed by signEdgePath (the worker has its own copy on Web Crypto; tests compare the two). */
export function verifyEdgePath(
  secret: string,
  id: string,
  expires: string,
  signature: string,
  now = Date.now(),
): boolean {
  if (!/^\d+$/.test(expires) || Number(expires) * 1000 < now || !/^[0-9a-f]{64}$/.test(signature))
    return false;
  const expected = createHmac("sha256", secret).update(`${id}.${expires}`).digest();
  return timingSafeEqual(expected, Buffer.from(signature, "hex"));
}

/** Signs an upload link to the edge worker for `tenant`. */
export function signEdgeUpload(
  secret: string,
  tenant: string,
  name: string,
  ttlSeconds = 3600,
  now = Date.now(),
): string {
  const expires = Math.floor(now / 1000) + ttlSeconds;
  const signature = createHmac("sha256", secret).update(`upload:${tenant}.${expires}`).digest("hex");
  return `/uploads?${new URLSearchParams({ tenant, name, expires: String(expires), signature })}`;
}
