import { describe, expect, it } from "vitest";
import { canonicalJson, collapse, diffLines, type DiffLine, type DiffRow } from "./diff";

/** The diff as "  x" / "+ x" / "- x" lines, easy to read in a failing assertion. */
function render(lines: readonly DiffLine[]): string[] {
  return lines.map((l) => `${l.op === "same" ? " " : l.op === "add" ? "+" : "-"} ${l.text}`);
}

function changed(lines: readonly DiffLine[]): number {
  return lines.filter((l) => l.op !== "same").length;
}

/** Length of a longest common subsequence, by the textbook dynamic programme. */
function lcsLength(a: readonly string[], b: readonly string[]): number {
  let prev = new Array<number>(b.length + 1).fill(0);
  for (const x of a) {
    const row = new Array<number>(b.length + 1).fill(0);
    for (let j = 1; j <= b.length; j++) {
      row[j] = x === b[j - 1] ? (prev[j - 1] ?? 0) + 1 : Math.max(prev[j] ?? 0, row[j - 1] ?? 0);
    }
    prev = row;
  }
  return prev[b.length] ?? 0;
}

/** A small seeded generator (mulberry32), so that a failure can be replayed. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Every line of both sides is accounted for, in order, with consistent line numbers. */
function checkShape(a: readonly string[], b: readonly string[], d: readonly DiffLine[]) {
  let oldNo = 0;
  let newNo = 0;
  for (const l of d) {
    if (l.op !== "add") {
      oldNo++;
      expect(l.oldNo).toBe(oldNo);
      expect(l.text).toBe(a[oldNo - 1]);
    } else expect(l.oldNo).toBeNull();
    if (l.op !== "del") {
      newNo++;
      expect(l.newNo).toBe(newNo);
      expect(l.text).toBe(b[newNo - 1]);
    } else expect(l.newNo).toBeNull();
  }
  expect(oldNo).toBe(a.length);
  expect(newNo).toBe(b.length);
}

describe("diffLines", () => {
  it("marks every line of identical texts as unchanged, with both line numbers", () => {
    const a = ["one", "two", "three"];
    const d = diffLines(a, [...a]);
    expect(d).toEqual([
      { op: "same", text: "one", oldNo: 1, newNo: 1 },
      { op: "same", text: "two", oldNo: 2, newNo: 2 },
      { op: "same", text: "three", oldNo: 3, newNo: 3 },
    ]);
  });

  it("returns nothing for two empty texts", () => {
    expect(diffLines([], [])).toEqual([]);
  });

  it("marks everything as added when the old text is empty", () => {
    expect(diffLines([], ["a", "b"])).toEqual([
      { op: "add", text: "a", oldNo: null, newNo: 1 },
      { op: "add", text: "b", oldNo: null, newNo: 2 },
    ]);
  });

  it("marks everything as removed when the new text is empty", () => {
    expect(diffLines(["a", "b"], [])).toEqual([
      { op: "del", text: "a", oldNo: 1, newNo: null },
      { op: "del", text: "b", oldNo: 2, newNo: null },
    ]);
  });

  it("finds the 5-edit script of Myers' example ABCABBA → CBABAC", () => {
    const a = ["A", "B", "C", "A", "B", "B", "A"];
    const b = ["C", "B", "A", "B", "A", "C"];
    const d = diffLines(a, b);
    checkShape(a, b, d);
    expect(changed(d)).toBe(5);
    expect(d.filter((l) => l.op === "same").map((l) => l.text)).toHaveLength(4);
    // The paper's own answer (deletions first on each diagonal step).
    expect(render(d)).toEqual(["- A", "- B", "  C", "+ B", "  A", "  B", "- B", "  A", "+ C"]);
  });

  it("shows a one-line change in the middle as one deletion and one addition", () => {
    const a = ["{", '  "name": "x",', '  "version": 1', "}"];
    const b = ["{", '  "name": "y",', '  "version": 1', "}"];
    expect(render(diffLines(a, b))).toEqual(["  {", '-   "name": "x",', '+   "name": "y",', '    "version": 1', "  }"]);
  });

  it("keeps repeated lines apart (a line inserted between duplicates)", () => {
    const a = ["x", "x", "x"];
    const b = ["x", "x", "y", "x"];
    const d = diffLines(a, b);
    checkShape(a, b, d);
    expect(changed(d)).toBe(1);
    expect(d.find((l) => l.op === "add")).toEqual({ op: "add", text: "y", oldNo: null, newNo: 3 });
  });

  it("is correct and minimal on 400 seeded random pairs", () => {
    const random = rng(20240611);
    const alphabet = ["a", "b", "c", "d", ""];
    const pick = (len: number) => Array.from({ length: len }, () => alphabet[Math.floor(random() * alphabet.length)] ?? "a");
    for (let round = 0; round < 400; round++) {
      const a = pick(Math.floor(random() * 14));
      // Half of the pairs are edits of `a` (close texts), half unrelated.
      const b =
        round % 2 === 0
          ? a.flatMap((line) => {
              const r = random();
              if (r < 0.15) return [];
              if (r < 0.3) return [line, pick(1)[0] ?? "z"];
              if (r < 0.4) return pick(1);
              return [line];
            })
          : pick(Math.floor(random() * 14));
      const d = diffLines(a, b);
      const context = `round ${round}: ${JSON.stringify(a)} → ${JSON.stringify(b)}`;
      // Kept + added lines are the new text; kept + deleted lines are the old one.
      expect(d.filter((l) => l.op !== "del").map((l) => l.text), context).toEqual(b);
      expect(d.filter((l) => l.op !== "add").map((l) => l.text), context).toEqual(a);
      checkShape(a, b, d);
      // Minimal: only the lines outside a longest common subsequence change.
      expect(changed(d), context).toBe(a.length + b.length - 2 * lcsLength(a, b));
    }
  });
});

function same(n: number, from = 1): DiffLine[] {
  return Array.from({ length: n }, (_, i) => ({ op: "same", text: `l${from + i}`, oldNo: from + i, newNo: from + i }));
}

const change: DiffLine = { op: "add", text: "new", oldNo: null, newNo: 0 };

function shape(rows: readonly DiffRow[]): string[] {
  return rows.map((r) => (r.op === "skip" ? `skip ${r.count}` : r.op === "same" ? r.text : r.op));
}

describe("collapse", () => {
  it("folds a long unchanged run between changes, keeping 3 lines of context on each side", () => {
    const rows = collapse([change, ...same(10), change]);
    expect(shape(rows)).toEqual(["add", "l1", "l2", "l3", "skip 4", "l8", "l9", "l10", "add"]);
  });

  it("keeps a run that would fold to a single line (2·context + 1 lines)", () => {
    expect(shape(collapse([change, ...same(7), change]))).toEqual(["add", "l1", "l2", "l3", "l4", "l5", "l6", "l7", "add"]);
    expect(shape(collapse([change, ...same(8), change]))).toEqual(["add", "l1", "l2", "l3", "skip 2", "l6", "l7", "l8", "add"]);
  });

  it("keeps context only on the changed side of a leading or trailing run", () => {
    const rows = collapse([...same(20), change, ...same(20, 21)]);
    expect(shape(rows)).toEqual(["skip 17", "l18", "l19", "l20", "add", "l21", "l22", "l23", "skip 17"]);
  });

  it("honours another context size", () => {
    expect(shape(collapse([change, ...same(6), change], 1))).toEqual(["add", "l1", "skip 4", "l6", "add"]);
  });

  it("folds an unchanged text entirely, and leaves a text of changes alone", () => {
    expect(shape(collapse(same(30)))).toEqual(["skip 30"]);
    expect(collapse([change, change])).toEqual([change, change]);
    expect(collapse([])).toEqual([]);
  });

  it("loses no line: skipped counts plus shown lines add up", () => {
    const lines = [...same(12), change, ...same(9, 13), change, ...same(5, 22)];
    const rows = collapse(lines);
    const total = rows.reduce((n, r) => n + (r.op === "skip" ? r.count : 1), 0);
    expect(total).toBe(lines.length);
  });
});

describe("canonicalJson", () => {
  it("sorts keys at every depth and indents by two spaces", () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { z: 1, y: 2 }], c: null } })).toBe(
      ["{", '  "a": {', '    "c": null,', '    "d": [', "      3,", "      {", '        "y": 2,', '        "z": 1', "      }", "    ]", "  },", '  "b": 1', "}"].join("\n"),
    );
  });

  it("prints equal values equally whatever their key order, and keeps array order", () => {
    expect(canonicalJson({ x: 1, y: [2, 1] })).toBe(canonicalJson({ y: [2, 1], x: 1 }));
    expect(canonicalJson([2, 1])).not.toBe(canonicalJson([1, 2]));
  });

  it("prints scalars as JSON", () => {
    expect(canonicalJson("a")).toBe('"a"');
    expect(canonicalJson(null)).toBe("null");
  });
});
