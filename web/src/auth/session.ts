// The browser side of a sign-in: who is signed in, the access token, and its renewal.
//
// Rules (the server's refresh tokens are single-use; presenting a used one revokes every token
// of that sign-in, in every tab):
//
// - The access token lives in memory only. Tabs share it over a BroadcastChannel.
// - The refresh token lives in localStorage under one key (REFRESH_KEY), as
//   `{"token": "...", "spent": false}`.
// - Every renewal runs inside the Web Lock `opsc-refresh`, held by at most one tab at a time.
//   Inside the lock the tab re-reads the stored token: if another tab rotated it meanwhile
//   and shared a fresh access token, nothing is sent. Before sending, the stored token is
//   marked `spent`, so it is sent at most once, whatever happens next (a crash, a lost
//   answer): a `spent` token found later means the renewal's outcome is unknown, and the
//   session ends instead of risking a reuse that would revoke the whole sign-in.
// - The new pair is stored, then the access token is broadcast to the other tabs.
// - Sign-out clears the stored token (in the lock) and tells the other tabs. It first waits for
//   this tab's renewal in flight, and it bumps the sign-out generation (kept in localStorage
//   under GENERATION_KEY, so every tab sees it at once): a renewal answer, or another tab's
//   `token` message, that belongs to an older generation is dropped, never adopted or
//   broadcast (where Web Locks are missing, nothing else orders a sign-out after a renewal).

import type { TokenPair, User } from "../api/types";
import { ApiError, NetworkError, errorFromResponse } from "../api/errors";

const REFRESH_KEY = "opsc.refresh";
const GENERATION_KEY = "opsc.signout-generation";
const LOCK_NAME = "opsc-refresh";
const CHANNEL_NAME = "opsc-auth";
/** Renew this long before the access token expires. */
const RENEW_EARLY_MS = 60_000;
/** Renewal timers of open tabs are spread over this much. */
const MAX_JITTER_MS = 5_000;
/** An access token with less than this left is not sent. */
const MIN_VALID_MS = 10_000;
/** How long a starting tab waits for another tab to share its access token. */
const PEER_WAIT_MS = 250;

export type SessionStatus = "loading" | "signed-in" | "signed-out";

export interface SessionSnapshot {
  status: SessionStatus;
  user: User | null;
  /** Why the session ended, when it ended by itself (shown on the sign-in page). */
  endedReason: string | null;
}

interface StoredRefresh {
  token: string;
  spent: boolean;
}

type ChannelMessage =
  | { type: "hello" }
  | { type: "token"; access: string; expiresAt: number; user: User; generation: number }
  | { type: "logout"; reason: string | null; generation: number };

function readStored(): StoredRefresh | null {
  let raw: string | null;
  try {
    raw = localStorage.getItem(REFRESH_KEY);
  } catch {
    return null;
  }
  if (!raw) return null;
  try {
    const v = JSON.parse(raw) as Partial<StoredRefresh>;
    if (typeof v.token !== "string" || !v.token) return null;
    return { token: v.token, spent: v.spent === true };
  } catch {
    return null;
  }
}

function writeStored(value: StoredRefresh | null): void {
  try {
    if (value === null) localStorage.removeItem(REFRESH_KEY);
    else localStorage.setItem(REFRESH_KEY, JSON.stringify(value));
  } catch {
    // Storage full or disabled: the session then lasts as long as this tab's access token.
  }
}

function readGeneration(): number {
  try {
    const n = Number(localStorage.getItem(GENERATION_KEY));
    return Number.isSafeInteger(n) && n > 0 ? n : 0;
  } catch {
    return 0;
  }
}

function writeGeneration(n: number): void {
  try {
    localStorage.setItem(GENERATION_KEY, String(n));
  } catch {
    // Without storage the tab's own counter (and the one in the logout message) still works.
  }
}

/** Runs `fn` holding the cross-tab refresh lock (or directly where Web Locks are missing). */
async function withRefreshLock<T>(fn: () => Promise<T>): Promise<T> {
  // Web Locks need a secure context (HTTPS or localhost). Without them the `spent` marker
  // still stops a token from being sent twice in sequence.
  if (typeof navigator !== "undefined" && "locks" in navigator) {
    return navigator.locks.request(LOCK_NAME, { mode: "exclusive" }, fn) as Promise<T>;
  }
  return fn();
}

async function postJson<T>(path: string, body: unknown, options: { keepalive?: boolean } = {}): Promise<T> {
  let res: Response;
  try {
    res = await fetch(path, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json" },
      body: JSON.stringify(body),
      credentials: "same-origin",
      // Outlives the page (a tab closed right after "Sign out" still revokes the session).
      keepalive: options.keepalive === true,
    });
  } catch {
    throw new NetworkError();
  }
  if (!res.ok) throw await errorFromResponse(res);
  return (await res.json()) as T;
}

class Session {
  private access: string | null = null;
  private expiresAt = 0;
  /** The stored refresh token this tab last saw (and may therefore consider rotated by others). */
  private knownRefresh: string | null = null;
  private inflight: Promise<string | null> | null = null;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private channel: BroadcastChannel | null = null;
  private listeners = new Set<() => void>();
  private snapshot: SessionSnapshot = { status: "loading", user: null, endedReason: null };
  private started = false;
  /** This tab's view of the sign-out generation (see `generation()`). */
  private signOuts = 0;
  /** The generation the access token was obtained in (sent along when shared). */
  private tokenGeneration = 0;

  // ---- React subscription -------------------------------------------------------------

  subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  getSnapshot = (): SessionSnapshot => this.snapshot;

  private set(next: Partial<SessionSnapshot>): void {
    this.snapshot = { ...this.snapshot, ...next };
    for (const l of this.listeners) l();
  }

  // ---- start-up -----------------------------------------------------------------------

  /** Restores the session of an earlier visit or of another open tab. Idempotent. */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    this.openChannel();
    const stored = readStored();
    if (!stored) {
      this.set({ status: "signed-out" });
      return;
    }
    // Another tab may hold a valid access token: take it rather than rotating the refresh
    // token once more.
    if (await this.askPeers()) return;
    await this.renew(null);
    if (this.snapshot.status === "loading") this.set({ status: "signed-out" });
  }

  private openChannel(): void {
    if (typeof BroadcastChannel === "undefined") return;
    this.channel = new BroadcastChannel(CHANNEL_NAME);
    this.channel.onmessage = (ev: MessageEvent<ChannelMessage>) => this.onMessage(ev.data);
  }

  private post(msg: ChannelMessage): void {
    this.channel?.postMessage(msg);
  }

  private onMessage(msg: ChannelMessage): void {
    switch (msg.type) {
      case "hello":
        if (this.usable(MIN_VALID_MS * 3) && this.access && this.snapshot.user) {
          this.post({ type: "token", access: this.access, expiresAt: this.expiresAt, user: this.snapshot.user, generation: this.tokenGeneration });
        }
        break;
      case "token":
        // A renewal that finished after a sign-out (in any tab) is not a session any more.
        if (msg.generation < this.generation()) break;
        if (msg.expiresAt > this.expiresAt) {
          this.knownRefresh = readStored()?.token ?? null;
          this.adopt(msg.access, msg.expiresAt, msg.user, msg.generation);
        }
        break;
      case "logout":
        this.signOuts = Math.max(this.signOuts, msg.generation);
        this.clearLocal(msg.reason);
        break;
    }
  }

  private askPeers(): Promise<boolean> {
    if (!this.channel) return Promise.resolve(false);
    return new Promise((resolve) => {
      const done = (ok: boolean) => {
        clearInterval(poll);
        clearTimeout(timeout);
        resolve(ok);
      };
      const poll = setInterval(() => {
        if (this.usable(MIN_VALID_MS)) done(true);
      }, 20);
      const timeout = setTimeout(() => done(this.usable(MIN_VALID_MS)), PEER_WAIT_MS);
      this.post({ type: "hello" });
    });
  }

  // ---- tokens -------------------------------------------------------------------------

  /** How many sign-outs happened: the larger of this tab's count and the stored one. */
  private generation(): number {
    return Math.max(this.signOuts, readGeneration());
  }

  /** A sign-out: results of renewals started before it are dropped from now on. */
  private bumpGeneration(): number {
    this.signOuts = this.generation() + 1;
    writeGeneration(this.signOuts);
    return this.signOuts;
  }

  private usable(minMs: number): boolean {
    return this.access !== null && this.expiresAt - Date.now() > minMs;
  }

  private adopt(access: string, expiresAt: number, user: User, generation: number): void {
    this.access = access;
    this.tokenGeneration = generation;
    this.expiresAt = expiresAt;
    this.set({ status: "signed-in", user, endedReason: null });
    this.schedule();
  }

  private schedule(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    // A little jitter so that open tabs do not all queue on the lock at the same instant
    // (the lock would make all but the first a no-op anyway).
    const jitter = Math.random() * MAX_JITTER_MS;
    const delay = Math.max(1_000, this.expiresAt - Date.now() - RENEW_EARLY_MS - jitter);
    this.timer = setTimeout(() => {
      void this.renew(null);
    }, delay);
  }

  /** The access token to send now, renewed first when it is about to expire; null when signed out. */
  async accessToken(): Promise<string | null> {
    if (this.usable(MIN_VALID_MS)) return this.access;
    if (this.snapshot.status === "signed-out") return null;
    return this.renew(null);
  }

  /**
   * Called after the server refused `rejected` with 401: returns a different, newer access
   * token (renewing if no other tab already did), or null when the session is over.
   */
  async accessTokenAfterRejection(rejected: string): Promise<string | null> {
    if (this.access !== null && this.access !== rejected && this.usable(MIN_VALID_MS)) return this.access;
    return this.renew(rejected);
  }

  /** One renewal at a time per tab; across tabs the lock serialises them. */
  private renew(rejected: string | null): Promise<string | null> {
    if (!this.inflight) {
      this.inflight = withRefreshLock(() => this.renewLocked(rejected)).finally(() => {
        this.inflight = null;
      });
    }
    return this.inflight;
  }

  private async renewLocked(rejected: string | null): Promise<string | null> {
    const generation = this.generation();
    const stored = readStored();
    if (!stored) {
      // Signed out elsewhere (or storage cleared).
      this.clearLocal(this.snapshot.status === "signed-in" ? "You were signed out." : null);
      return null;
    }
    if (stored.spent) {
      // A renewal started with this token and never finished: it may have been used.
      writeStored(null);
      this.endEverywhere("Your session could not be renewed. Please sign in again.");
      return null;
    }
    const rotatedElsewhere = stored.token !== this.knownRefresh;
    this.knownRefresh = stored.token;
    // A token rotated by another tab came with a fresh access token (broadcast); otherwise a
    // renewal is due once less than RENEW_EARLY_MS (+ the timer's jitter) is left.
    const threshold = rotatedElsewhere ? MIN_VALID_MS : RENEW_EARLY_MS + MAX_JITTER_MS + 5_000;
    const stillGood = this.access !== null && this.access !== rejected && this.usable(threshold);
    if (stillGood) {
      // Another tab renewed and shared the result, or a renewal is not due yet.
      this.schedule();
      return this.access;
    }

    writeStored({ token: stored.token, spent: true });
    let pair: TokenPair;
    try {
      pair = await postJson<TokenPair>("/api/refresh", { refresh_token: stored.token });
    } catch (err) {
      // Signed out meanwhile: nothing left to end.
      if (generation !== this.generation()) return null;
      writeStored(null);
      this.knownRefresh = null;
      if (err instanceof ApiError && err.status < 500) {
        this.endEverywhere("Your session has ended. Please sign in again.");
        return null;
      }
      // No answer (or a server error): the token may have been used, so it is not sent again.
      // Keep working with the current access token while it lasts.
      if (this.usable(MIN_VALID_MS) && this.access !== rejected) return this.access;
      this.endEverywhere("The server could not renew your session. Please sign in again.");
      return null;
    }
    return this.accept(pair, generation) ? pair.access_token : null;
  }

  /**
   * Stores and shares a new pair obtained in sign-out generation `generation`; a pair that
   * arrives after a sign-out is dropped (false). (Its refresh token belongs to the sign-in that
   * the sign-out revoked on the server.)
   */
  private accept(pair: TokenPair, generation: number): boolean {
    if (generation !== this.generation()) return false;
    writeStored({ token: pair.refresh_token, spent: false });
    this.knownRefresh = pair.refresh_token;
    const expiresAt = Date.now() + Math.max(30, pair.expires_in) * 1000;
    this.adopt(pair.access_token, expiresAt, pair.user, generation);
    this.post({ type: "token", access: pair.access_token, expiresAt, user: pair.user, generation });
    return true;
  }

  // ---- sign-in and sign-out -----------------------------------------------------------

  async login(username: string, password: string): Promise<User> {
    const pair = await postJson<TokenPair>("/api/login", { username, password });
    await withRefreshLock(() => {
      // A new sign-in belongs to the current generation, whatever ended before it.
      this.accept(pair, this.generation());
      return Promise.resolve();
    });
    return pair.user;
  }

  /**
   * Ends the session in every tab of this browser and on the server: `POST /api/logout` revokes
   * the sign-in's refresh tokens (a spent one identifies it just as well). Best effort: the
   * tabs forget the session even when the server cannot be reached.
   */
  async logout(reason: string | null = null): Promise<void> {
    // A renewal in flight first: its new refresh token is then the one revoked below (without
    // Web Locks nothing else orders the two). Its failure does not matter here.
    if (this.inflight) await this.inflight.catch(() => null);
    const { token, generation } = await withRefreshLock(() => {
      // Bumped together with clearing the token: anything renewed before is dropped.
      const generation = this.bumpGeneration();
      const stored = readStored()?.token ?? null;
      writeStored(null);
      return Promise.resolve({ token: stored, generation });
    });
    this.knownRefresh = null;
    this.post({ type: "logout", reason, generation });
    this.clearLocal(reason);
    if (token !== null) {
      await postJson("/api/logout", { refresh_token: token }, { keepalive: true }).catch(() => undefined);
    }
  }

  /** The role or name may change while signed in (`GET /api/verify` tells). */
  updateUser(user: User): void {
    const current = this.snapshot.user;
    if (
      current &&
      current.id === user.id &&
      current.role === user.role &&
      current.username === user.username &&
      current.email === user.email
    ) {
      return;
    }
    this.set({ user: { ...current, ...user } });
  }

  private endEverywhere(reason: string): void {
    this.post({ type: "logout", reason, generation: this.bumpGeneration() });
    this.clearLocal(reason);
  }

  private clearLocal(reason: string | null): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.access = null;
    this.expiresAt = 0;
    this.set({ status: "signed-out", user: null, endedReason: reason });
  }
}

export const session = new Session();
