// A run's output as lines, built from log chunks (which need not end at a line break), kept
// in fixed-size chunks so that 100k+ lines never mean copying one big array, with a filtered
// view (by step and target) that is extended incrementally as lines arrive.

import type { LogStream, RunEvent } from "../../api/types";

export interface LogLine {
  step: number | null;
  target: number | null;
  stream: LogStream;
  text: string;
}

export interface LogFilter {
  step: number | null;
  target: number | null;
}

const CHUNK_BITS = 12;
const CHUNK_SIZE = 1 << CHUNK_BITS;
const CHUNK_MASK = CHUNK_SIZE - 1;

function streamOf(s: string | null): LogStream {
  return s === "stderr" || s === "system" ? s : "stdout";
}

export class LogStore {
  private chunks: LogLine[][] = [];
  private count = 0;
  /** Per (step, target, stream): the index of a line still waiting for its line break. */
  private open = new Map<string, number>();
  private filter: LogFilter = { step: null, target: null };
  private filtered: number[] = [];
  private scanned = 0;
  private listeners = new Set<() => void>();
  private notifyScheduled = false;
  /** Changes on every visible change; the React snapshot. */
  version = 0;
  /** Sequence number of the last event taken in (to resume a stream without duplicates). */
  lastSeq = 0;

  get length(): number {
    return this.count;
  }

  line(index: number): LogLine | undefined {
    return this.chunks[index >> CHUNK_BITS]?.[index & CHUNK_MASK];
  }

  private push(line: LogLine): number {
    const index = this.count;
    const chunkIndex = index >> CHUNK_BITS;
    let chunk = this.chunks[chunkIndex];
    if (!chunk) {
      chunk = [];
      this.chunks.push(chunk);
    }
    chunk.push(line);
    this.count += 1;
    return index;
  }

  private replace(index: number, line: LogLine): void {
    const chunk = this.chunks[index >> CHUNK_BITS];
    if (chunk) chunk[index & CHUNK_MASK] = line;
  }

  /** Takes in an event of the run's stream (only `log` events carry lines). */
  append(ev: RunEvent): void {
    if (ev.seq <= this.lastSeq) return;
    this.lastSeq = ev.seq;
    if (ev.kind !== "log" || !ev.text) return;
    const stream = streamOf(ev.stream);
    const step = ev.step;
    const target = ev.target_id;
    const key = `${step ?? ""}|${target ?? ""}|${stream}`;
    const pieces = ev.text.replace(/\r\n/g, "\n").split("\n");
    let i = 0;
    const openIndex = this.open.get(key);
    if (openIndex !== undefined) {
      const previous = this.line(openIndex);
      if (previous) this.replace(openIndex, { ...previous, text: previous.text + (pieces[0] ?? "") });
      i = 1;
      if (pieces.length === 1) {
        this.changed();
        return;
      }
      this.open.delete(key);
    }
    for (; i < pieces.length; i++) {
      const text = pieces[i] ?? "";
      const last = i === pieces.length - 1;
      if (last && text === "") break; // the chunk ended with a line break
      const index = this.push({ step, target, stream, text });
      if (last) this.open.set(key, index);
    }
    this.changed();
  }

  appendAll(events: RunEvent[]): void {
    for (const ev of events) this.append(ev);
  }

  // ---- filtered view ------------------------------------------------------------------

  setFilter(filter: LogFilter): void {
    if (filter.step === this.filter.step && filter.target === this.filter.target) return;
    this.filter = filter;
    this.filtered = [];
    this.scanned = 0;
    this.version += 1;
    this.emit();
  }

  private get unfiltered(): boolean {
    return this.filter.step === null && this.filter.target === null;
  }

  private catchUp(): void {
    if (this.unfiltered) return;
    const { step, target } = this.filter;
    for (let i = this.scanned; i < this.count; i++) {
      const l = this.line(i);
      if (!l) continue;
      if ((step === null || l.step === step) && (target === null || l.target === target)) this.filtered.push(i);
    }
    this.scanned = this.count;
  }

  /** Lines in the current view. */
  viewLength(): number {
    if (this.unfiltered) return this.count;
    this.catchUp();
    return this.filtered.length;
  }

  viewLine(i: number): LogLine | undefined {
    if (this.unfiltered) return this.line(i);
    this.catchUp();
    const index = this.filtered[i];
    return index === undefined ? undefined : this.line(index);
  }

  *lines(): Generator<LogLine> {
    for (const chunk of this.chunks) yield* chunk;
  }

  // ---- subscription (batched to one notification per animation frame) -----------------

  subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  getVersion = (): number => this.version;

  private changed(): void {
    if (this.notifyScheduled) return;
    this.notifyScheduled = true;
    const run = () => {
      this.notifyScheduled = false;
      this.version += 1;
      this.emit();
    };
    // Hidden tabs get no animation frames: a timer keeps the view current when they return.
    if (typeof document !== "undefined" && document.visibilityState === "visible") requestAnimationFrame(run);
    else setTimeout(run, 250);
  }

  private emit(): void {
    for (const l of this.listeners) l();
  }
}
