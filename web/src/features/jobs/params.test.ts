import { describe, expect, it } from "vitest";
import { buildParameters, displayValue, initialValue, parseInvalidParameters, parseParams, type ParamSpec, type ParamValue } from "./params";

function spec(parameters: Record<string, unknown>, name: string): ParamSpec {
  const found = parseParams(parameters).find((s) => s.name === name);
  if (!found) throw new Error(`no parameter ${name}`);
  return found;
}

/** What the run dialog sends for one declaration and one form value. */
function build(declaration: unknown, value: ParamValue) {
  const specs = parseParams({ p: declaration });
  const { parameters, errors } = buildParameters(specs, { p: value });
  return { sent: parameters.p, hasKey: "p" in parameters, error: errors.p };
}

describe("parseParams", () => {
  it("types plain defaults by their value", () => {
    const specs = parseParams({ svc: "Spooler", count: 3, force: true });
    expect(specs.map((s) => [s.name, s.kind, s.default, s.required])).toEqual([
      ["svc", "string", "Spooler", false],
      ["count", "number", 3, false],
      ["force", "boolean", true, false],
    ]);
  });

  it("reads declarations, inferring enum from a list when no type is given", () => {
    expect(spec({ env: { enum: ["dev", "prod"], default: "dev" } }, "env")).toMatchObject({ kind: "enum", options: ["dev", "prod"], default: "dev" });
    expect(spec({ env: { type: "string", enum: ["dev"] } }, "env").kind).toBe("string");
    expect(spec({ n: { type: "number", required: true, description: "How many" } }, "n")).toMatchObject({ kind: "number", required: true, description: "How many", default: undefined });
    expect(spec({ k: { type: "secret", credential: "vault", field: "token" } }, "k")).toMatchObject({ kind: "secret", credential: "vault", field: "token" });
    expect(spec({ s: { type: "string", pattern: "[a-z]+" } }, "s").pattern).toBe("[a-z]+");
  });

  it("falls back to string for an unknown type, and ignores ill-typed declaration keys", () => {
    expect(spec({ x: { type: "date", required: "yes", pattern: 5, description: 1 } }, "x")).toMatchObject({
      kind: "string",
      required: false,
      pattern: null,
      description: null,
    });
  });

  it("returns nothing for anything but an object", () => {
    expect(parseParams(undefined)).toEqual([]);
    expect(parseParams(["a"])).toEqual([]);
    expect(parseParams("a")).toEqual([]);
  });
});

describe("initialValue", () => {
  it("starts each input at its default", () => {
    expect(initialValue(spec({ s: "x" }, "s"))).toBe("x");
    expect(initialValue(spec({ n: 3 }, "n"))).toBe("3");
    expect(initialValue(spec({ b: true }, "b"))).toBe(true);
    expect(initialValue(spec({ b: { type: "boolean" } }, "b"))).toBe(false);
    expect(initialValue(spec({ s: { type: "string" } }, "s"))).toBe("");
    expect(initialValue(spec({ s: { type: "string", default: null } }, "s"))).toBe("");
  });

  it("selects an enum default by its index, numbers included", () => {
    expect(initialValue(spec({ e: { enum: ["a", "b"], default: "b" } }, "e"))).toBe("1");
    expect(initialValue(spec({ e: { enum: [1, 2, 3], default: 3 } }, "e"))).toBe("2");
    expect(initialValue(spec({ e: { enum: ["a", "b"], default: "c" } }, "e"))).toBeNull();
    expect(initialValue(spec({ e: { enum: ["a", "b"] } }, "e"))).toBeNull();
  });

  it("never prefills a secret", () => {
    expect(initialValue(spec({ k: { type: "secret", default: "leak" } }, "k"))).toBeNull();
  });
});

describe("buildParameters", () => {
  it("sends strings as typed, and leaves out an empty optional one", () => {
    expect(build("x", "hello")).toEqual({ sent: "hello", hasKey: true, error: undefined });
    expect(build("x", "")).toEqual({ sent: undefined, hasKey: false, error: undefined });
    expect(build({ type: "string" }, null)).toEqual({ sent: undefined, hasKey: false, error: undefined });
  });

  it("requires a value only when there is no default", () => {
    expect(build({ type: "string", required: true }, "").error).toBe("Required");
    expect(build({ type: "string", required: true, default: "d" }, "")).toEqual({ sent: undefined, hasKey: false, error: undefined });
    expect(build({ type: "number", required: true }, " ").error).toBe("Required");
    expect(build({ enum: ["a"], required: true }, null).error).toBe("Choose a value");
    expect(build({ enum: ["a"], required: true, default: "a" }, null).error).toBeUndefined();
  });

  it("checks a pattern against the whole value", () => {
    expect(build({ type: "string", pattern: "[a-z]+" }, "abc")).toEqual({ sent: "abc", hasKey: true, error: undefined });
    expect(build({ type: "string", pattern: "[a-z]+" }, "abc1").error).toBe("Must match [a-z]+");
    expect(build({ type: "string", pattern: "a|b" }, "ab").error).toBe("Must match a|b");
    expect(build({ type: "string", pattern: "a|b" }, "b").error).toBeUndefined();
  });

  it("leaves a pattern JavaScript cannot read to the server", () => {
    expect(build({ type: "string", pattern: "(?i)abc" }, "ABC")).toEqual({ sent: "ABC", hasKey: true, error: undefined });
  });

  it("parses numbers, and refuses what is not one", () => {
    expect(build(1, " 42 ").sent).toBe(42);
    expect(build(1, "-1.5").sent).toBe(-1.5);
    expect(build(1, "1e3").sent).toBe(1000);
    expect(build(1, "abc")).toEqual({ sent: undefined, hasKey: false, error: "Enter a number" });
    expect(build(1, "Infinity").error).toBe("Enter a number");
    expect(build(1, "").hasKey).toBe(false);
  });

  it("always sends booleans", () => {
    expect(build(true, false)).toEqual({ sent: false, hasKey: true, error: undefined });
    expect(build(false, true).sent).toBe(true);
    expect(build({ type: "boolean" }, null).sent).toBe(false);
  });

  it("sends the chosen enum option itself, with its JSON type", () => {
    expect(build({ enum: ["dev", "prod"] }, "1").sent).toBe("prod");
    expect(build({ enum: [10, 20] }, "0").sent).toBe(10);
    expect(build({ enum: ["dev"] }, null).hasKey).toBe(false);
  });

  it("never sends a secret (it comes from the vault)", () => {
    expect(build({ type: "secret", credential: "c", field: "password" }, "typed")).toEqual({ sent: undefined, hasKey: false, error: undefined });
  });

  it("collects every error and every value in one pass", () => {
    const specs = parseParams({ a: { type: "string", required: true }, b: 1, c: "x" });
    expect(buildParameters(specs, { a: "", b: "two", c: "ok" })).toEqual({
      parameters: { c: "ok" },
      errors: { a: "Required", b: "Enter a number" },
    });
  });
});

describe("parseInvalidParameters", () => {
  it("splits the server's message by parameter", () => {
    expect(parseInvalidParameters("Invalid parameters: svc: does not match ^[a-z]+$; count: expected a number", ["svc", "count"])).toEqual({
      svc: "does not match ^[a-z]+$",
      count: "expected a number",
    });
  });

  it("joins two messages on one parameter and ignores unknown names and other shapes", () => {
    expect(parseInvalidParameters("Invalid parameters: svc: a; ghost: b; svc: c; no colon here", ["svc"])).toEqual({ svc: "a; c" });
    expect(parseInvalidParameters("Job is inactive", ["svc"])).toEqual({});
  });
});

describe("displayValue", () => {
  it("shows values as text", () => {
    expect(displayValue("a")).toBe("a");
    expect(displayValue(2)).toBe("2");
    expect(displayValue(false)).toBe("false");
    expect(displayValue(undefined)).toBe("");
    expect(displayValue({ a: 1 })).toBe('{"a":1}');
  });
});
