// The builder's model of a job definition, and its conversion to and from JSON.
//
// The builder edits the definition's JSON objects themselves (each step and parameter keeps
// its object), so keys the forms do not show survive a round trip untouched and the server
// still reports them. Only `steps` and `parameters` are split into rows, to give each a
// stable React key while they are added, removed and moved.

import { issuePath, type FieldIssue } from "../../api/errors";

export type Json = Record<string, unknown>;

export const STEP_TYPES = ["ssh.exec", "ssh.copy", "winrm.exec", "winrm.copy", "http.request"] as const;
export type StepType = (typeof STEP_TYPES)[number];

export const PARAM_TYPES = ["string", "number", "boolean", "enum", "secret"] as const;
export type ParamType = (typeof PARAM_TYPES)[number];

/** The credential fields a secret parameter may read (the server's list). */
export const SECRET_FIELDS = ["password", "private_key", "passphrase", "api_key", "token", "secret"] as const;

export interface StepRow {
  uid: number;
  data: Json;
}

export interface ParamRow {
  uid: number;
  name: string;
  /** A plain default (`"Spooler"`) or a declaration object, as in the definition. */
  value: unknown;
}

export interface Draft {
  /** Every top-level key except `steps` and `parameters`. */
  root: Json;
  steps: StepRow[];
  params: ParamRow[];
  /** Whether the definition had a `parameters` key (an empty object is kept). */
  hasParams: boolean;
}

let lastUid = 0;
export function nextUid(): number {
  lastUid += 1;
  return lastUid;
}

export function isRecord(v: unknown): v is Json {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

export function isStepType(v: unknown): v is StepType {
  return typeof v === "string" && (STEP_TYPES as readonly string[]).includes(v);
}

/** A definition the builder can show, or why it cannot (then only the JSON view edits it). */
export function toDraft(definition: unknown): { draft: Draft } | { error: string } {
  if (!isRecord(definition)) return { error: "The definition is not a JSON object." };
  const { steps, parameters, ...root } = definition;
  if (steps !== undefined && !(Array.isArray(steps) && steps.every(isRecord)))
    return { error: "`steps` must be a list of objects for the builder to show it." };
  if (parameters !== undefined && !isRecord(parameters)) return { error: "`parameters` must be an object for the builder to show it." };
  return {
    draft: {
      root,
      steps: (steps ?? []).map((data) => ({ uid: nextUid(), data })),
      params: Object.entries(parameters ?? {}).map(([name, value]) => ({ uid: nextUid(), name, value })),
      hasParams: parameters !== undefined,
    },
  };
}

export function fromDraft(draft: Draft): Json {
  const out: Json = { ...draft.root };
  if (draft.hasParams || draft.params.length > 0) out.parameters = Object.fromEntries(draft.params.map((p) => [p.name, p.value]));
  out.steps = draft.steps.map((s) => s.data);
  return out;
}

export function emptyDefinition(): Json {
  return { name: "", version: 1, steps: [newStep("ssh.exec")] };
}

/** A new step of `type` with its required fields present (empty), so the form shows them. */
export function newStep(type: StepType): Json {
  switch (type) {
    case "ssh.exec":
      return { type, name: "", target: [], command: "" };
    case "ssh.copy":
      return { type, name: "", target: [], content: "", destPath: "" };
    case "winrm.exec":
      return { type, name: "", target: [], shell: "powershell", command: "" };
    case "winrm.copy":
      return { type, name: "", target: [], destPath: "", contentB64: "" };
    case "http.request":
      return { type, name: "", method: "GET", url: "" };
  }
}

/** Sets (or, for `undefined`, removes) `key` of `obj`, keeping the other keys in place. */
export function setKey(obj: Json, key: string, value: unknown): Json {
  if (value === undefined) return Object.fromEntries(Object.entries(obj).filter(([k]) => k !== key));
  return { ...obj, [key]: value };
}

/** Form text of a value: strings as they are, anything else as JSON, missing as "". */
export function text(v: unknown): string {
  if (v === undefined || v === null) return "";
  if (typeof v === "string") return v;
  return JSON.stringify(v);
}

/**
 * An integer field's value from its input: a number when it is one, the text itself otherwise
 * (so the server names the field), or `undefined` (key removed) when empty.
 */
export function intFromInput(raw: string): unknown {
  const t = raw.trim();
  if (t === "") return undefined;
  return /^-?\d+$/.test(t) ? Number(t) : raw;
}

/**
 * A number field's value from its input: `undefined` (key removed) when empty; a number when the
 * text is one written as JavaScript would print it ("1.5", not "1.0" or "1.", which are kept as
 * text while typing, so that "1.05" can be typed); with `final` (on blur) any finite number
 * becomes a number ("1.0" → 1); anything else stays text (the server names the field).
 */
export function numberFromInput(raw: string, final = false): unknown {
  const t = raw.trim();
  if (t === "") return undefined;
  const n = Number(t);
  if (Number.isFinite(n) && (String(n) === t || final)) return n;
  return raw;
}

/** The non-empty keys that occur more than once (rows that would collapse into one key). */
export function duplicateKeys(keys: readonly string[]): Set<string> {
  const seen = new Set<string>();
  const twice = new Set<string>();
  for (const k of keys) {
    if (k === "") continue;
    if (seen.has(k)) twice.add(k);
    seen.add(k);
  }
  return twice;
}

/** The keys each step type's form shows, besides the common ones. */
const COMMON_STEP_KEYS = ["type", "name", "target", "timeoutSec", "retries", "retryBackoffSec", "continueOnError"];
const STEP_KEYS: Record<StepType, string[]> = {
  "ssh.exec": ["command", "sudo", "env"],
  "ssh.copy": ["content", "contentB64", "destPath", "mode", "overwrite"],
  "winrm.exec": ["shell", "command"],
  "winrm.copy": ["destPath", "contentB64", "overwrite"],
  "http.request": ["method", "url", "headers", "body", "expectedStatus"],
};

export function paramKind(value: unknown): ParamType {
  if (typeof value === "number") return "number";
  if (typeof value === "boolean") return "boolean";
  if (isRecord(value)) {
    if (typeof value.type === "string" && (PARAM_TYPES as readonly string[]).includes(value.type)) return value.type as ParamType;
    if (value.type === undefined && value.enum !== undefined) return "enum";
  }
  return "string";
}

/** The declaration keys the parameter form shows for a kind. */
function paramKeys(kind: ParamType): string[] {
  const base = ["type", "required", "description"];
  switch (kind) {
    case "string":
      return [...base, "default", "pattern"];
    case "enum":
      return [...base, "default", "enum"];
    case "secret":
      return [...base, "credential", "field"];
    default:
      return [...base, "default"];
  }
}

/** Where the server's issues go: inline on a field the builder shows, or in a general list. */
export interface RoutedIssues {
  /** By builder field: `name`, `maxParallel`, `steps`, `parameters`, `steps.<i>.<key>`, `param.<uid>.<key>` (`name` for the row itself). */
  fields: Record<string, string>;
  /** Issues on nothing the builder shows, as `path: message`. */
  general: string[];
}

function add(map: Record<string, string>, key: string, msg: string) {
  const previous = map[key];
  if (previous === undefined) map[key] = msg;
  else if (!previous.split("; ").includes(msg)) map[key] = `${previous}; ${msg}`;
}

/** `steps[1].command`-style display of an issue's location (`target.1` → `target[1]`, `1` → `[1]`). */
export function displayPath(path: string): string {
  return path.replace(/(?:^|\.)(\d+)(?=\.|$)/g, "[$1]");
}

/** An issue's location relative to the definition (`steps.1.command`), or the body field (`name`). */
export function definitionPath(issue: FieldIssue): string {
  const path = issuePath(issue);
  return path.startsWith("definition.") ? path.slice("definition.".length) : path === "definition" ? "" : path;
}

export function routeIssues(issues: readonly FieldIssue[], draft: Draft): RoutedIssues {
  const out: RoutedIssues = { fields: {}, general: [] };
  for (const issue of issues) {
    const path = definitionPath(issue);
    const [head = "", second, third, ...deeper] = path.split(".");
    const rest = (parts: (string | undefined)[]) => parts.filter((p): p is string => p !== undefined).join(".");
    const withDeeper = (d: string) => (d ? `${displayPath(d)}: ${issue.msg}` : issue.msg);
    if ((head === "name" || head === "maxParallel") && second === undefined) {
      add(out.fields, head, issue.msg);
      continue;
    }
    if (head === "steps" && second === undefined) {
      add(out.fields, "steps", issue.msg);
      continue;
    }
    if (head === "steps" && second !== undefined && third !== undefined) {
      const step = draft.steps[Number(second)];
      const type = step?.data.type;
      if (step && (COMMON_STEP_KEYS.includes(third) || (isStepType(type) && STEP_KEYS[type].includes(third)))) {
        add(out.fields, `steps.${second}.${third}`, withDeeper(rest(deeper)));
        continue;
      }
    }
    if (head === "parameters" && second === undefined) {
      add(out.fields, "parameters", issue.msg);
      continue;
    }
    if (head === "parameters" && second !== undefined) {
      const row = draft.params.find((p) => p.name === second);
      if (row && third === undefined) {
        add(out.fields, `param.${row.uid}.name`, issue.msg);
        continue;
      }
      if (row && third !== undefined && isRecord(row.value) && paramKeys(paramKind(row.value)).includes(third)) {
        add(out.fields, `param.${row.uid}.${third}`, withDeeper(rest(deeper)));
        continue;
      }
    }
    out.general.push(path ? `${displayPath(path)}: ${issue.msg}` : issue.msg);
  }
  return out;
}
