// The run page's step × target grid, from the run's step rows.
import type { RunStep } from "../../api/types";

export interface GridModel {
  steps: { idx: number; label: string; type: string }[];
  targets: { id: number | null; name: string }[];
  cell: Map<string, RunStep>;
}

export const cellKey = (idx: number, target: number | null) => `${idx}|${target ?? ""}`;

export function buildGrid(rows: RunStep[]): GridModel {
  const steps = new Map<number, { idx: number; label: string; type: string }>();
  const targets = new Map<number | null, string>();
  const cell = new Map<string, RunStep>();
  for (const r of rows) {
    if (!steps.has(r.idx)) steps.set(r.idx, { idx: r.idx, label: r.name ?? r.type, type: r.type });
    if (!targets.has(r.target_id)) targets.set(r.target_id, r.target_name ?? (r.target_id === null ? "(no target)" : `target #${r.target_id}`));
    cell.set(cellKey(r.idx, r.target_id), r);
  }
  return {
    steps: [...steps.values()].sort((a, b) => a.idx - b.idx),
    targets: [...targets.entries()].map(([id, name]) => ({ id, name })).sort((a, b) => a.name.localeCompare(b.name)),
    cell,
  };
}
