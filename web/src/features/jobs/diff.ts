// A line diff (Myers' O((N+M)·D) algorithm) and the collapsing of long unchanged runs, for the
// job history view. Small on purpose: definitions are a few hundred lines at most.

export type DiffOp = "same" | "add" | "del";

export interface DiffLine {
  op: DiffOp;
  text: string;
  /** 1-based line numbers in the old and new text (null on the side the line is absent from). */
  oldNo: number | null;
  newNo: number | null;
}

/** The lines of `b` compared with `a`: every line of both, in order, marked same/add/del. */
export function diffLines(a: readonly string[], b: readonly string[]): DiffLine[] {
  const n = a.length;
  const m = b.length;
  const max = n + m;
  const offset = max + 1;
  // v[k + offset]: the furthest x reached on diagonal k; one copy kept per edit distance d.
  let v = new Int32Array(2 * max + 3);
  const trace: Int32Array[] = [];
  let done = false;
  for (let d = 0; d <= max && !done; d++) {
    trace.push(v.slice());
    const next = v.slice();
    for (let k = -d; k <= d; k += 2) {
      const down = k === -d || (k !== d && (v[k - 1 + offset] ?? 0) < (v[k + 1 + offset] ?? 0));
      let x = down ? (v[k + 1 + offset] ?? 0) : (v[k - 1 + offset] ?? 0) + 1;
      let y = x - k;
      while (x < n && y < m && a[x] === b[y]) {
        x++;
        y++;
      }
      next[k + offset] = x;
      if (x >= n && y >= m) {
        done = true;
        break;
      }
    }
    v = next;
  }
  // Walk back from (n, m) through the saved frontiers.
  const out: DiffLine[] = [];
  let x = n;
  let y = m;
  for (let d = trace.length - 1; d >= 0; d--) {
    const frontier = trace[d] ?? new Int32Array(0);
    const k = x - y;
    const down = k === -d || (k !== d && (frontier[k - 1 + offset] ?? 0) < (frontier[k + 1 + offset] ?? 0));
    const prevK = down ? k + 1 : k - 1;
    const prevX = d === 0 ? 0 : (frontier[prevK + offset] ?? 0);
    const prevY = d === 0 ? 0 : prevX - prevK;
    while (x > prevX && y > prevY) {
      x--;
      y--;
      out.push({ op: "same", text: a[x] ?? "", oldNo: x + 1, newNo: y + 1 });
    }
    if (d === 0) break;
    if (down) {
      y--;
      out.push({ op: "add", text: b[y] ?? "", oldNo: null, newNo: y + 1 });
    } else {
      x--;
      out.push({ op: "del", text: a[x] ?? "", oldNo: x + 1, newNo: null });
    }
  }
  return out.reverse();
}

export type DiffRow = DiffLine | { op: "skip"; count: number };

/** Keeps `context` unchanged lines around each change and folds longer unchanged runs. */
export function collapse(lines: readonly DiffLine[], context = 3): DiffRow[] {
  const rows: DiffRow[] = [];
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    if (line === undefined) break;
    if (line.op !== "same") {
      rows.push(line);
      i++;
      continue;
    }
    let end = i;
    while (end < lines.length && lines[end]?.op === "same") end++;
    const keepBefore = i === 0 ? 0 : context;
    const keepAfter = end === lines.length ? 0 : context;
    if (end - i > keepBefore + keepAfter + 1) {
      rows.push(...lines.slice(i, i + keepBefore));
      rows.push({ op: "skip", count: end - i - keepBefore - keepAfter });
      rows.push(...lines.slice(end - keepAfter, end));
    } else {
      rows.push(...lines.slice(i, end));
    }
    i = end;
  }
  return rows;
}

/** JSON with sorted keys and 2-space indentation, so that equal values print equally. */
export function canonicalJson(value: unknown): string {
  const sort = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(sort);
    if (typeof v === "object" && v !== null) {
      const entries = Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
      return Object.fromEntries(entries.map(([k, x]) => [k, sort(x)]));
    }
    return v;
  };
  return JSON.stringify(sort(value), null, 2);
}
