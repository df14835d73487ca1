// Sign-out against a renewal in flight, without Web Locks (plain http to a non-localhost host):
// two "tabs" are two instances of the module sharing a fake localStorage, a fake fetch and
// Node's BroadcastChannel.
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";

interface Call {
  path: string;
  body: Record<string, unknown>;
  keepalive: boolean;
  resolve: (value: unknown) => void;
}

let calls: Call[] = [];
let store = new Map<string, string>();
const channels: BroadcastChannel[] = [];

function pair(n: number) {
  return {
    access_token: `access-${String(n)}`,
    refresh_token: `refresh-${String(n)}`,
    token_type: "bearer",
    expires_in: 900,
    user: { id: 1, username: "admin", email: null, role: "admin" },
  };
}

function answer(call: Call | undefined, body: unknown): void {
  if (!call) throw new Error("no such request");
  call.resolve(new Response(JSON.stringify(body), { status: 200, headers: { "content-type": "application/json" } }));
}

/** Lets promises, and BroadcastChannel messages (delivered on the event loop), run. */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
}

async function newTab() {
  vi.resetModules();
  const { session } = await import("./session");
  return session;
}

beforeEach(() => {
  calls = [];
  store = new Map();
  vi.stubGlobal("localStorage", {
    getItem: (k: string) => store.get(k) ?? null,
    setItem: (k: string, v: string) => void store.set(k, v),
    removeItem: (k: string) => void store.delete(k),
  });
  // No Web Locks, as on plain http to a host other than localhost.
  vi.stubGlobal("navigator", {});
  const Real = BroadcastChannel;
  vi.stubGlobal(
    "BroadcastChannel",
    class extends Real {
      constructor(name: string) {
        super(name);
        channels.push(this);
      }
    },
  );
  vi.stubGlobal("fetch", (path: string, init: RequestInit) => {
    return new Promise((resolve) => {
      calls.push({ path, body: JSON.parse(init.body as string) as Record<string, unknown>, keepalive: init.keepalive === true, resolve });
    });
  });
});

afterEach(() => {
  for (const c of channels.splice(0)) c.close();
  vi.unstubAllGlobals();
});

async function signedIn() {
  const tab = await newTab();
  await tab.start(); // nothing stored: signed out, listening to the other tabs
  const login = tab.login("admin", "pw");
  answer(calls[0], pair(1));
  await login;
  return tab;
}

describe("sign-out and a renewal in flight", () => {
  it("waits for the renewal, then revokes the renewed token (keepalive) and stays signed out", async () => {
    const tab = await signedIn();
    const renewal = tab.accessTokenAfterRejection("access-1");
    await settle();
    expect(calls[1]?.path).toBe("/api/refresh");
    const logout = tab.logout();
    await settle();
    expect(calls).toHaveLength(2); // the sign-out waits for the answer
    answer(calls[1], pair(2));
    await renewal;
    await settle();
    expect(calls[2]?.path).toBe("/api/logout");
    expect(calls[2]?.body).toEqual({ refresh_token: "refresh-2" });
    expect(calls[2]?.keepalive).toBe(true);
    answer(calls[2], {});
    await logout;
    expect(tab.getSnapshot().status).toBe("signed-out");
    expect(store.get("opsc.refresh")).toBeUndefined();
  });

  it("drops a renewal answer that arrives after another tab signed out", async () => {
    const a = await signedIn();
    const b = await newTab();
    // b learns the session from a.
    const start = b.start();
    await settle();
    await start;
    expect(b.getSnapshot().status).toBe("signed-in");

    const renewal = a.accessTokenAfterRejection("access-1");
    await settle();
    const refresh = calls.findLast((c) => c.path === "/api/refresh");
    const logout = b.logout();
    await settle();
    answer(calls.findLast((c) => c.path === "/api/logout"), {});
    await logout;
    answer(refresh, pair(2));
    expect(await renewal).toBeNull();
    await settle();
    expect(a.getSnapshot().status).toBe("signed-out");
    expect(b.getSnapshot().status).toBe("signed-out");
    expect(store.get("opsc.refresh")).toBeUndefined();
  });

  it("ignores a token message of an older sign-out generation, adopts a current one", async () => {
    const tab = await signedIn();
    const logout = tab.logout();
    await settle();
    answer(calls.findLast((c) => c.path === "/api/logout"), {});
    await logout;
    const peer = new BroadcastChannel("opsc-auth");
    const token = { type: "token", access: "stale", expiresAt: Date.now() + 600_000, user: pair(9).user };
    peer.postMessage({ ...token, generation: 0 });
    await settle();
    expect(tab.getSnapshot().status).toBe("signed-out");
    peer.postMessage({ ...token, generation: 1 });
    await settle();
    expect(tab.getSnapshot().status).toBe("signed-in");
  });
});
