// "Download full log": reads the run's whole output page by page (never all at once from the
// server) and saves it as a text file.

import { api } from "../../api/client";
import type { LogPage } from "../../api/types";
import { LogStore, type LogLine } from "./logStore";

const PAGE = 5000;

export function formatLogLine(line: LogLine, stepLabel: (s: number) => string, targetLabel: (t: number) => string): string {
  const parts: string[] = [];
  if (line.step !== null) parts.push(stepLabel(line.step));
  if (line.target !== null) parts.push(targetLabel(line.target));
  if (line.stream !== "stdout") parts.push(line.stream);
  return parts.length > 0 ? `[${parts.join(" ")}] ${line.text}` : line.text;
}

export async function fetchFullLog(runId: number, onProgress: (chunks: number) => void, signal: AbortSignal): Promise<LogStore> {
  const store = new LogStore();
  let offset = 0;
  let total = 0;
  for (;;) {
    const page = await api<LogPage>(`/runs/${runId}/log`, { query: { offset, limit: PAGE }, signal });
    store.appendAll(page.chunks);
    total += page.chunks.length;
    onProgress(total);
    // `next_offset` is null once a finished run has nothing more; for a running run an
    // empty page means "nothing more yet": the file then holds the output so far.
    if (page.next_offset === null || page.chunks.length === 0) break;
    offset = page.next_offset;
  }
  return store;
}

export function saveText(filename: string, parts: string[]): void {
  const blob = new Blob(parts, { type: "text/plain;charset=utf-8" });
  const url = URL.createObjectURL(blob);
  const a = document.createElement("a");
  a.href = url;
  a.download = filename;
  a.style.display = "none";
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

export async function downloadFullLog(
  runId: number,
  stepLabel: (s: number) => string,
  targetLabel: (t: number) => string,
  onProgress: (chunks: number) => void,
  signal: AbortSignal,
): Promise<number> {
  const store = await fetchFullLog(runId, onProgress, signal);
  const parts: string[] = [];
  for (const line of store.lines()) parts.push(`${formatLogLine(line, stepLabel, targetLabel)}\n`);
  saveText(`opsconductor-run-${runId}.log`, parts);
  return store.length;
}
