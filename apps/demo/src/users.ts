// The demo's two users, in two tenants, and their cookie sessions. A real app has its own login; this one only
// needs to show that the key service sees who is asking.

import { randomBytes, toHex } from "@sealkit/core";

export interface DemoUser {
  readonly name: string;
  readonly password: string;
  readonly tenant: string;
  /** The principal the local KMS sees (and audits) when this user asks for keys. */
  readonly principal: string;
}

export const ACCOUNT = "111122223333";

export const USERS: readonly DemoUser[] = [
  { name: "alice", password: "alice", tenant: "acme", principal: `arn:aws:iam::${ACCOUNT}:user/alice` },
  { name: "bob", password: "bob", tenant: "globex", principal: `arn:aws:iam::${ACCOUNT}:user/bob` },
];

export const SESSION_COOKIE = "sealkit_demo_session";

/** In-memory sessions: an opaque random token per login. */
export class Sessions {
  readonly #byToken = new Map<string, DemoUser>();

  /** Checks a name and password; returns a new session token, or undefined. */
  login(name: string, password: string): string | undefined {
    const user = USERS.find((u) => u.name === name && u.password === password);
    if (!user) return undefined;
    const token = toHex(randomBytes(24));
    this.#byToken.set(token, user);
    return token;
  }

  logout(token: string | undefined): void {
    if (token) this.#byToken.delete(token);
  }

  /** The user with this name. */
  byName(name: string): DemoUser | undefined {
    return USERS.find((u) => u.name === name);
  }

  /** The user of a request's session cookie. */
  userOf(request: Request): DemoUser | undefined {
    const cookie = request.headers.get("cookie") ?? "";
    const token = /(?:^|;\s*)sealkit_demo_session=([0-9a-f]+)/.exec(cookie)?.[1];
    return token ? this.#byToken.get(token) : undefined;
  }
}
