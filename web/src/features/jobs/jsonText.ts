// The JSON view's text: where a parse error is (line and column), and where the value at a
// path starts and ends, so that a server error can select the text it is about.
// A small strict scanner; `JSON.parse` still produces the value.

export interface JsonProblem {
  message: string;
  line: number;
  column: number;
  offset: number;
}

export type Span = readonly [start: number, end: number];

interface Scan {
  spans: Map<string, Span>;
  problem: JsonProblem | null;
}

/** 1-based line and column of `offset` in `text`. */
export function lineColumn(text: string, offset: number): { line: number; column: number } {
  const before = text.slice(0, offset);
  const line = before.split("\n").length;
  return { line, column: offset - before.lastIndexOf("\n") };
}

class Fail extends Error {
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(message);
  }
}

function scan(text: string): Scan {
  const spans = new Map<string, Span>();
  let i = 0;
  const ws = () => {
    while (i < text.length && " \t\r\n".includes(text.charAt(i))) i++;
  };
  const describe = () => (i >= text.length ? "end of text" : `'${text.charAt(i)}'`);
  const expect = (c: string) => {
    if (text.charAt(i) !== c) throw new Fail(`expected '${c}' but found ${describe()}`, i);
    i++;
  };
  const string = (): string => {
    const start = i;
    expect('"');
    while (i < text.length && text.charAt(i) !== '"') {
      const c = text.charAt(i);
      if (c === "\n" || c === "\r") throw new Fail("line break inside a string", i);
      // JSON allows no raw control character (a tab, say) in a string: only its escape.
      if (c < " ") throw new Fail("control character inside a string", i);
      i += c === "\\" ? 2 : 1;
    }
    if (i >= text.length) throw new Fail("unterminated string", start);
    i++;
    try {
      return JSON.parse(text.slice(start, i)) as string;
    } catch {
      throw new Fail("invalid escape in string", start);
    }
  };
  const value = (path: string) => {
    ws();
    const start = i;
    const c = text.charAt(i);
    if (c === "{") {
      i++;
      ws();
      if (text.charAt(i) === "}") i++;
      else
        for (;;) {
          ws();
          const key = string();
          ws();
          expect(":");
          value(path === "" ? key : `${path}.${key}`);
          ws();
          if (text.charAt(i) === ",") {
            i++;
            ws();
            if (text.charAt(i) === "}") throw new Fail("trailing comma", i);
            continue;
          }
          expect("}");
          break;
        }
    } else if (c === "[") {
      i++;
      ws();
      if (text.charAt(i) === "]") i++;
      else
        for (let n = 0; ; n++) {
          value(path === "" ? String(n) : `${path}.${n}`);
          ws();
          if (text.charAt(i) === ",") {
            i++;
            continue;
          }
          expect("]");
          break;
        }
    } else if (c === '"') {
      string();
    } else {
      const m = /^(?:true|false|null|-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?)/.exec(text.slice(i));
      if (!m) throw new Fail(`unexpected ${describe()}`, i);
      i += m[0].length;
    }
    spans.set(path, [start, i]);
  };
  try {
    value("");
    ws();
    if (i < text.length) throw new Fail(`unexpected ${describe()} after the end of the JSON value`, i);
    return { spans, problem: null };
  } catch (err) {
    const offset = err instanceof Fail ? err.offset : i;
    const message = err instanceof Error ? err.message : String(err);
    return { spans, problem: { message, offset, ...lineColumn(text, offset) } };
  }
}

export type ParsedJson = { ok: true; value: unknown } | { ok: false; problem: JsonProblem };

/** Parses `text`, locating the first problem precisely when it is not valid JSON. */
export function parseJson(text: string): ParsedJson {
  const { problem } = scan(text);
  if (problem) return { ok: false, problem };
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (err) {
    return { ok: false, problem: { message: err instanceof Error ? err.message : String(err), offset: 0, line: 1, column: 1 } };
  }
}

/** Where the value at `path` (dotted, e.g. `steps.1.command`) is written in `text`, if valid. */
export function spanOf(text: string, path: string): Span | null {
  const { spans } = scan(text);
  // The deepest existing ancestor: a missing field points at its object.
  let p = path;
  for (;;) {
    const s = spans.get(p);
    if (s) return s;
    if (p === "") return null;
    const dot = p.lastIndexOf(".");
    p = dot < 0 ? "" : p.slice(0, dot);
  }
}
