import { describe, expect, it } from "vitest";
import type { FieldIssue } from "../../api/errors";
import {
  definitionPath,
  displayPath,
  emptyDefinition,
  fromDraft,
  intFromInput,
  newStep,
  paramKind,
  routeIssues,
  setKey,
  STEP_TYPES,
  text,
  toDraft,
  type Draft,
} from "./definition";

function draftOf(definition: unknown): Draft {
  const converted = toDraft(definition);
  if (!("draft" in converted)) throw new Error(`no draft: ${converted.error}`);
  return converted.draft;
}

function issue(loc: (string | number)[], msg = "bad"): FieldIssue {
  return { loc, msg };
}

const definition = {
  name: "deploy",
  version: 1,
  maxParallel: 4,
  onFailure: { notify: ["ops"] }, // a key the builder has no form for
  parameters: {
    svc: "Spooler",
    count: 3,
    env: { type: "enum", enum: ["dev", "prod"], default: "dev", required: true, xUi: "radio" },
    key: { type: "secret", credential: "vault-1", field: "password" },
  },
  steps: [
    { type: "ssh.exec", name: "who", target: ["web-01"], command: "whoami", futureKey: { a: 1 } },
    { type: "ssh.exec", name: "where", target: ["tag:web"], command: "hostname", env: { A: "1" } },
    { type: "http.request", name: "ping", method: "GET", url: "https://example.com/health" },
  ],
};

describe("toDraft / fromDraft", () => {
  it("round-trips a definition, keeping keys the builder does not show", () => {
    const draft = draftOf(definition);
    expect(draft.root).toEqual({ name: "deploy", version: 1, maxParallel: 4, onFailure: { notify: ["ops"] } });
    expect(draft.steps.map((s) => s.data)).toEqual(definition.steps);
    expect(draft.params.map((p) => p.name)).toEqual(["svc", "count", "env", "key"]);
    expect(fromDraft(draft)).toEqual(definition);
  });

  it("gives every step and parameter row its own key", () => {
    const draft = draftOf(definition);
    const uids = [...draft.steps.map((s) => s.uid), ...draft.params.map((p) => p.uid)];
    expect(new Set(uids).size).toBe(uids.length);
  });

  it("keeps the parameters' order and an empty parameters object, and adds none that was absent", () => {
    const withEmpty = { name: "a", parameters: {}, steps: [] };
    expect(fromDraft(draftOf(withEmpty))).toEqual(withEmpty);
    const without = { name: "a", steps: [] };
    expect(fromDraft(draftOf(without))).toEqual(without);
    expect("parameters" in fromDraft(draftOf(without))).toBe(false);
    expect(Object.keys(fromDraft(draftOf(definition)).parameters as object)).toEqual(["svc", "count", "env", "key"]);
  });

  it("writes parameters added in the builder even when the definition had none", () => {
    const draft = draftOf({ name: "a", steps: [] });
    draft.params.push({ uid: 99, name: "svc", value: "x" });
    expect(fromDraft(draft)).toEqual({ name: "a", parameters: { svc: "x" }, steps: [] });
  });

  it("always writes steps (an empty list when the definition had none)", () => {
    expect(fromDraft(draftOf({ name: "a" }))).toEqual({ name: "a", steps: [] });
  });

  it("refuses shapes the builder cannot show, saying why", () => {
    expect(toDraft([1, 2])).toEqual({ error: "The definition is not a JSON object." });
    expect(toDraft(null)).toEqual({ error: "The definition is not a JSON object." });
    expect(toDraft({ steps: {} })).toHaveProperty("error", expect.stringContaining("`steps`"));
    expect(toDraft({ steps: [{}, "echo"] })).toHaveProperty("error", expect.stringContaining("`steps`"));
    expect(toDraft({ steps: [], parameters: ["a"] })).toHaveProperty("error", expect.stringContaining("`parameters`"));
  });
});

describe("new definitions and steps", () => {
  it("starts a new job with one empty ssh.exec step", () => {
    expect(emptyDefinition()).toEqual({ name: "", version: 1, steps: [{ type: "ssh.exec", name: "", target: [], command: "" }] });
  });

  it("gives every step type its type and name", () => {
    for (const type of STEP_TYPES) {
      expect(newStep(type)).toMatchObject({ type, name: "" });
    }
    expect(newStep("http.request")).not.toHaveProperty("target");
    expect(newStep("winrm.copy")).toHaveProperty("contentB64", "");
  });
});

describe("small helpers", () => {
  it("setKey replaces a key in place, appends a new one and removes one set to undefined", () => {
    const obj = { a: 1, b: 2, c: 3 };
    expect(Object.entries(setKey(obj, "b", 20))).toEqual([
      ["a", 1],
      ["b", 20],
      ["c", 3],
    ]);
    expect(Object.keys(setKey(obj, "d", 4))).toEqual(["a", "b", "c", "d"]);
    expect(setKey(obj, "b", undefined)).toEqual({ a: 1, c: 3 });
    expect(obj).toEqual({ a: 1, b: 2, c: 3 });
  });

  it("text shows strings as they are and other values as JSON", () => {
    expect(text("a b")).toBe("a b");
    expect(text(undefined)).toBe("");
    expect(text(null)).toBe("");
    expect(text(30)).toBe("30");
    expect(text(["x"])).toBe('["x"]');
  });

  it("intFromInput: integers become numbers, anything else stays text for the server to name", () => {
    expect(intFromInput(" 42 ")).toBe(42);
    expect(intFromInput("-3")).toBe(-3);
    expect(intFromInput("")).toBeUndefined();
    expect(intFromInput("   ")).toBeUndefined();
    expect(intFromInput("4.5")).toBe("4.5");
    expect(intFromInput("ten")).toBe("ten");
  });

  it("paramKind follows the value or the declaration", () => {
    expect(paramKind("x")).toBe("string");
    expect(paramKind(3)).toBe("number");
    expect(paramKind(false)).toBe("boolean");
    expect(paramKind({ enum: ["a"] })).toBe("enum");
    expect(paramKind({ type: "secret" })).toBe("secret");
    expect(paramKind({ type: "weird" })).toBe("string");
  });

  it("displayPath writes list indices in brackets", () => {
    expect(displayPath("steps.1.command")).toBe("steps[1].command");
    expect(displayPath("steps.12")).toBe("steps[12]");
    expect(displayPath("steps.1.env.A1")).toBe("steps[1].env.A1");
    expect(displayPath("name")).toBe("name");
    // The deeper part of a field's location may start with an index (`target.0` → on `target`).
    expect(displayPath("0")).toBe("[0]");
    expect(displayPath("1.name")).toBe("[1].name");
  });

  it("definitionPath strips body and definition", () => {
    expect(definitionPath(issue(["body", "definition", "steps", 1, "command"]))).toBe("steps.1.command");
    expect(definitionPath(issue(["body", "definition"]))).toBe("");
    expect(definitionPath(issue(["body", "name"]))).toBe("name");
  });
});

describe("routeIssues", () => {
  const draft = draftOf(definition);
  const uid = (name: string) => draft.params.find((p) => p.name === name)?.uid ?? -1;

  it("puts an error on step 1's command onto that field (string or numeric index)", () => {
    expect(routeIssues([issue(["body", "definition", "steps", "1", "command"], "must not be empty")], draft)).toEqual({
      fields: { "steps.1.command": "must not be empty" },
      general: [],
    });
    expect(routeIssues([issue(["body", "definition", "steps", 1, "command"], "must not be empty")], draft).fields).toEqual({
      "steps.1.command": "must not be empty",
    });
  });

  it("keeps the deeper part of a location in the message", () => {
    const routed = routeIssues([issue(["body", "definition", "steps", "1", "env", "A"], "invalid name"), issue(["body", "definition", "steps", "0", "target", 0], "unknown target")], draft);
    expect(routed.fields).toEqual({ "steps.1.env": "A: invalid name", "steps.0.target": "[0]: unknown target" });
  });

  it("routes top-level fields and whole lists", () => {
    const routed = routeIssues(
      [issue(["body", "name"], "taken"), issue(["body", "definition", "maxParallel"], "too big"), issue(["body", "definition", "steps"], "empty"), issue(["body", "definition", "parameters"], "bad")],
      draft,
    );
    expect(routed).toEqual({ fields: { name: "taken", maxParallel: "too big", steps: "empty", parameters: "bad" }, general: [] });
  });

  it("sends errors on fields the builder does not show to the general list", () => {
    const routed = routeIssues(
      [
        issue(["body", "definition", "steps", "0", "futureKey"], "unknown field"),
        issue(["body", "definition", "steps", "0", "url"], "not for ssh.exec"), // shown only for http.request
        issue(["body", "definition", "steps", "7", "command"], "no such step"),
        issue(["body", "definition", "onFailure", "notify"], "unknown channel"),
        issue(["body", "definition"], "invalid definition"),
        issue(["body", "definition", "parameters", "svc", "default"], "plain defaults have no declaration keys"),
        issue(["body", "definition", "parameters", "ghost"], "no such parameter"),
        issue(["body", "definition", "parameters", "env", "xUi"], "unknown key"),
      ],
      draft,
    );
    expect(routed.fields).toEqual({});
    expect(routed.general).toEqual([
      "steps[0].futureKey: unknown field",
      "steps[0].url: not for ssh.exec",
      "steps[7].command: no such step",
      "onFailure.notify: unknown channel",
      "invalid definition",
      "parameters.svc.default: plain defaults have no declaration keys",
      "parameters.ghost: no such parameter",
      "parameters.env.xUi: unknown key",
    ]);
  });

  it("routes a step type's own fields by that step's type", () => {
    expect(routeIssues([issue(["body", "definition", "steps", "2", "url"], "bad url")], draft).fields).toEqual({ "steps.2.url": "bad url" });
    expect(routeIssues([issue(["body", "definition", "steps", "2", "timeoutSec"], "too long")], draft).fields).toEqual({ "steps.2.timeoutSec": "too long" });
  });

  it("puts parameter errors on the row (by its uid) and on the declaration's shown keys", () => {
    const routed = routeIssues(
      [issue(["body", "definition", "parameters", "svc"], "bad name"), issue(["body", "definition", "parameters", "env", "default"], "not one of enum"), issue(["body", "definition", "parameters", "key", "field"], "unknown field")],
      draft,
    );
    expect(routed.fields).toEqual({
      [`param.${uid("svc")}.name`]: "bad name",
      [`param.${uid("env")}.default`]: "not one of enum",
      [`param.${uid("key")}.field`]: "unknown field",
    });
    expect(routed.general).toEqual([]);
  });

  it("joins several messages on one field once each", () => {
    const routed = routeIssues([issue(["body", "definition", "steps", "1", "command"], "a"), issue(["body", "definition", "steps", "1", "command"], "b"), issue(["body", "definition", "steps", "1", "command"], "a")], draft);
    expect(routed.fields).toEqual({ "steps.1.command": "a; b" });
  });
});
