// Server-Sent Events over `fetch`, since EventSource cannot send an Authorization header.

import { authedFetch } from "../../api/client";
import { ApiError, errorFromResponse } from "../../api/errors";
import type { RunEvent } from "../../api/types";
import { isTerminal } from "../../api/types";

export interface SseMessage {
  id: string | null;
  event: string;
  data: string;
}

/** The text/event-stream format (WHATWG HTML §9.2), fed with decoded text as it arrives. */
export class SseParser {
  private buffer = "";
  private data: string[] = [];
  private event = "";
  /** The last `id:` seen (kept across messages, as the spec says). */
  lastEventId: string | null = null;

  feed(text: string, emit: (m: SseMessage) => void): void {
    const buf = this.buffer + text;
    const newline = /\r\n|\r|\n/g;
    let pos = 0;
    let m: RegExpExecArray | null;
    while ((m = newline.exec(buf)) !== null) {
      // A "\r" at the very end may be the first half of "\r\n": wait for more.
      if (m[0] === "\r" && m.index === buf.length - 1) break;
      this.line(buf.slice(pos, m.index), emit);
      pos = m.index + m[0].length;
    }
    this.buffer = buf.slice(pos);
  }

  private line(line: string, emit: (m: SseMessage) => void): void {
    if (line === "") {
      if (this.data.length > 0) {
        emit({ id: this.lastEventId, event: this.event || "message", data: this.data.join("\n") });
      }
      this.data = [];
      this.event = "";
      return;
    }
    if (line.startsWith(":")) return; // comment (keep-alive)
    const colon = line.indexOf(":");
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    switch (field) {
      case "data":
        this.data.push(value);
        break;
      case "event":
        this.event = value;
        break;
      case "id":
        if (!value.includes("\0")) this.lastEventId = value;
        break;
      default:
        break; // "retry" and unknown fields are ignored
    }
  }
}

function parseEvent(data: string): RunEvent | null {
  try {
    const ev = JSON.parse(data) as Partial<RunEvent> | null;
    return ev !== null && typeof ev.seq === "number" && typeof ev.kind === "string" ? (ev as RunEvent) : null;
  } catch {
    return null;
  }
}

/** True for the run's last event: a `status` event with a terminal status. */
export function isFinalEvent(ev: RunEvent): boolean {
  const status = ev.data?.status;
  return ev.kind === "status" && typeof status === "string" && isTerminal(status);
}

export type StreamState =
  | { kind: "connecting" }
  | { kind: "live" }
  | { kind: "reconnecting"; attempt: number; error: string | null }
  | { kind: "ended" }
  | { kind: "failed"; error: unknown };

export interface FollowOptions {
  /** Resume after this sequence number (0: from the start). */
  after: number;
  onEvent: (ev: RunEvent) => void;
  onState: (state: StreamState) => void;
  signal: AbortSignal;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener(
      "abort",
      () => {
        clearTimeout(t);
        resolve();
      },
      { once: true },
    );
  });
}

/**
 * Follows `GET /runs/{id}/events` until the final status event: reconnects with
 * `Last-Event-ID` after a drop (backing off up to 10 s), ignores any event already seen, and
 * stops for good on 4xx answers (404: no such run; 401 that survived a renewal: signed out).
 */
export async function followRunEvents(runId: number, options: FollowOptions): Promise<void> {
  const { onEvent, onState, signal } = options;
  let last = options.after;
  let attempt = 0;
  const aborted = () => signal.aborted;
  while (!signal.aborted) {
    onState(attempt === 0 ? { kind: "connecting" } : { kind: "reconnecting", attempt, error: null });
    let error: string | null = null;
    try {
      const headers: Record<string, string> = { accept: "text/event-stream" };
      if (last > 0) headers["last-event-id"] = String(last);
      const res = await authedFetch(`/runs/${runId}/events`, { headers, signal, cache: "no-store" });
      if (!res.ok) {
        const err = await errorFromResponse(res);
        if (err.status < 500 && err.status !== 429) {
          onState({ kind: "failed", error: err });
          return;
        }
        throw err;
      }
      if (res.body === null) throw new Error("This browser cannot read streamed responses");
      onState({ kind: "live" });
      attempt = 0;
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      const parser = new SseParser();
      const messages: SseMessage[] = [];
      let finished = false;
      try {
        while (!finished) {
          const { value, done } = await reader.read();
          if (done) break;
          messages.length = 0;
          parser.feed(value, (msg) => messages.push(msg));
          for (const msg of messages) {
            const ev = parseEvent(msg.data);
            if (ev === null || ev.seq <= last) continue;
            last = ev.seq;
            onEvent(ev);
            if (isFinalEvent(ev)) {
              finished = true;
              break;
            }
          }
        }
      } finally {
        if (finished) await reader.cancel().catch(() => undefined);
      }
      if (finished) {
        onState({ kind: "ended" });
        return;
      }
      // The server closed the stream before the run ended (restart, proxy timeout): resume.
    } catch (err) {
      if (aborted()) return;
      if (err instanceof ApiError && err.status === 401) {
        onState({ kind: "failed", error: err });
        return;
      }
      error = err instanceof Error ? err.message : String(err);
    }
    attempt += 1;
    onState({ kind: "reconnecting", attempt, error });
    await sleep(Math.min(10_000, 500 * 2 ** (attempt - 1)), signal);
  }
}
