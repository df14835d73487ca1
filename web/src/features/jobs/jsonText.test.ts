import { describe, expect, it } from "vitest";
import { lineColumn, parseJson, spanOf } from "./jsonText";

/** The problem of a text that must not parse. */
function problemOf(text: string) {
  const parsed = parseJson(text);
  if (parsed.ok) throw new Error(`parsed: ${JSON.stringify(parsed.value)}`);
  return parsed.problem;
}

function slice(text: string, path: string): string | null {
  const span = spanOf(text, path);
  return span ? text.slice(span[0], span[1]) : null;
}

describe("lineColumn", () => {
  it("counts lines and columns from 1", () => {
    const text = "ab\ncd\n\nef";
    expect(lineColumn(text, 0)).toEqual({ line: 1, column: 1 });
    expect(lineColumn(text, 1)).toEqual({ line: 1, column: 2 });
    expect(lineColumn(text, 3)).toEqual({ line: 2, column: 1 });
    expect(lineColumn(text, 7)).toEqual({ line: 4, column: 1 });
    expect(lineColumn(text, text.length)).toEqual({ line: 4, column: 3 });
  });
});

describe("parseJson", () => {
  it("returns the value of valid JSON, whatever the layout", () => {
    expect(parseJson('{"a": [1, 2.5e3, -0, true, false, null, "x\\"y\\u00e9"], "b": {}}')).toEqual({
      ok: true,
      value: { a: [1, 2500, -0, true, false, null, 'x"yé'], b: {} },
    });
    expect(parseJson("\r\n  [ ]\n")).toEqual({ ok: true, value: [] });
    expect(parseJson("42")).toEqual({ ok: true, value: 42 });
  });

  it("points at a trailing comma in an object", () => {
    const text = '{\n  "name": "x",\n}';
    expect(problemOf(text)).toEqual({ message: "trailing comma", offset: text.indexOf("}"), line: 3, column: 1 });
  });

  it("points at a missing comma between members", () => {
    const p = problemOf('{\n  "a": 1\n  "b": 2\n}');
    expect(p).toMatchObject({ line: 3, column: 3 });
    expect(p.message).toBe("expected '}' but found '\"'");
  });

  it("points at a missing colon", () => {
    expect(problemOf('{"a" 1}')).toMatchObject({ message: "expected ':' but found '1'", line: 1, column: 6 });
  });

  it("points at an unquoted key and at a bad literal", () => {
    expect(problemOf("{\n  name: 1\n}")).toMatchObject({ message: "expected '\"' but found 'n'", line: 2, column: 3 });
    expect(problemOf('{"a": tru}')).toMatchObject({ message: "unexpected 't'", line: 1, column: 7 });
    expect(problemOf('{"a": 01}')).toMatchObject({ line: 1, column: 8 });
  });

  it("reports an unterminated string where it starts, and a line break inside one where it is", () => {
    expect(problemOf('{"a": "abc')).toMatchObject({ message: "unterminated string", line: 1, column: 7 });
    expect(problemOf('{"a": "ab\ncd"}')).toMatchObject({ message: "line break inside a string", line: 1, column: 10 });
  });

  it("reports a control character inside a string as such, not as an escape problem", () => {
    expect(problemOf('{"a": "a\tb"}')).toMatchObject({ message: "control character inside a string", line: 1, column: 9 });
  });

  it("reports a bad escape", () => {
    expect(problemOf('["a\\qb"]')).toMatchObject({ message: "invalid escape in string", line: 1, column: 2 });
  });

  it("reports text after the value and an empty text", () => {
    expect(problemOf("{}\n{}")).toMatchObject({ message: "unexpected '{' after the end of the JSON value", line: 2, column: 1 });
    expect(problemOf("")).toMatchObject({ message: "unexpected end of text", line: 1, column: 1 });
    expect(problemOf("[1,")).toMatchObject({ message: "unexpected end of text", line: 1, column: 4 });
  });

  it("accepts everything JSON.parse accepts among these samples, and refuses the rest", () => {
    const samples = ["[]", "[1,]", '{"a":1,}', '"\\u12"', "1.", ".5", "-", "1e5", "1E+2", '"\\/"', "[1 2]", "{,}", "[,1]", "nul", "true false"];
    for (const s of samples) {
      let native: boolean;
      try {
        JSON.parse(s);
        native = true;
      } catch {
        native = false;
      }
      expect(parseJson(s).ok, s).toBe(native);
    }
  });
});

describe("spanOf", () => {
  const text = `{
  "name": "deploy",
  "steps": [
    { "type": "ssh.exec", "command": "whoami" },
    { "type": "ssh.exec", "command": "hostname", "target": ["a", "b"] }
  ],
  "parameters": { "svc": { "default": 3 } }
}`;

  it("finds the exact text of a value at a path", () => {
    expect(slice(text, "name")).toBe('"deploy"');
    expect(slice(text, "steps.1.command")).toBe('"hostname"');
    expect(slice(text, "steps.1.target.1")).toBe('"b"');
    expect(slice(text, "parameters.svc.default")).toBe("3");
    expect(slice(text, "steps.0")).toBe('{ "type": "ssh.exec", "command": "whoami" }');
  });

  it("falls back to the nearest existing ancestor for a missing field", () => {
    expect(slice(text, "steps.0.target")).toBe('{ "type": "ssh.exec", "command": "whoami" }');
    expect(slice(text, "steps.9.command")?.startsWith("[")).toBe(true);
    expect(slice(text, "nothing")).toBe(text);
    expect(slice(text, "")).toBe(text);
  });

  it("does not count leading whitespace in the root span", () => {
    expect(spanOf("  [1]  ", "")).toEqual([2, 5]);
  });
});
