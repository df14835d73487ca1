// A job definition's `parameters` object, as typed inputs for the run dialog. Each entry is a
// plain default (`"svc": "Spooler"`: the type follows the value) or a declaration
// `{type, default, required, pattern, enum, description, credential, field}`.

export type ParamKind = "string" | "number" | "boolean" | "enum" | "secret";

export interface ParamSpec {
  name: string;
  kind: ParamKind;
  default: unknown;
  required: boolean;
  pattern: string | null;
  options: unknown[];
  description: string | null;
  credential: string | null;
  field: string | null;
}

/** A form value: text for string/number inputs, boolean for switches, enum index as text. */
export type ParamValue = string | boolean | null;

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

const KINDS: readonly ParamKind[] = ["string", "number", "boolean", "enum", "secret"];

export function parseParams(parameters: unknown): ParamSpec[] {
  if (!isRecord(parameters)) return [];
  const specs: ParamSpec[] = [];
  for (const [name, raw] of Object.entries(parameters)) {
    const base: ParamSpec = {
      name,
      kind: "string",
      default: undefined,
      required: false,
      pattern: null,
      options: [],
      description: null,
      credential: null,
      field: null,
    };
    if (typeof raw === "string") specs.push({ ...base, default: raw });
    else if (typeof raw === "number") specs.push({ ...base, kind: "number", default: raw });
    else if (typeof raw === "boolean") specs.push({ ...base, kind: "boolean", default: raw });
    else if (isRecord(raw)) {
      const type = typeof raw.type === "string" && (KINDS as readonly string[]).includes(raw.type) ? (raw.type as ParamKind) : null;
      const options = Array.isArray(raw.enum) ? raw.enum : [];
      specs.push({
        ...base,
        kind: type ?? (options.length > 0 ? "enum" : "string"),
        default: raw.default,
        required: raw.required === true,
        pattern: typeof raw.pattern === "string" ? raw.pattern : null,
        options,
        description: typeof raw.description === "string" ? raw.description : null,
        credential: typeof raw.credential === "string" ? raw.credential : null,
        field: typeof raw.field === "string" ? raw.field : null,
      });
    }
  }
  return specs;
}

/** A value as text (strings as they are, anything else as JSON). */
export function displayValue(v: unknown): string {
  if (typeof v === "string") return v;
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  return v === undefined ? "" : JSON.stringify(v);
}

/** The form's starting value for a parameter (its default). */
export function initialValue(spec: ParamSpec): ParamValue {
  const d = spec.default;
  switch (spec.kind) {
    case "boolean":
      return typeof d === "boolean" ? d : false;
    case "enum": {
      const i = spec.options.findIndex((o) => o === d);
      return i >= 0 ? String(i) : null;
    }
    case "secret":
      return null;
    default:
      return d === undefined || d === null ? "" : displayValue(d);
  }
}

export interface BuiltParams {
  parameters: Record<string, unknown>;
  errors: Record<string, string>;
}

/** Checks the form and builds the `parameters` object to send (empty optional values left out). */
export function buildParameters(specs: ParamSpec[], values: Record<string, ParamValue>): BuiltParams {
  const parameters: Record<string, unknown> = {};
  const errors: Record<string, string> = {};
  for (const spec of specs) {
    const v = values[spec.name] ?? null;
    const hasDefault = spec.default !== undefined && spec.default !== null;
    switch (spec.kind) {
      case "secret":
        break; // comes from the vault; must not be sent
      case "boolean":
        parameters[spec.name] = v === true;
        break;
      case "enum": {
        if (v === null || v === "" || typeof v === "boolean") {
          if (spec.required && !hasDefault) errors[spec.name] = "Choose a value";
          break;
        }
        parameters[spec.name] = spec.options[Number(v)];
        break;
      }
      case "number": {
        const text = typeof v === "string" ? v.trim() : "";
        if (text === "") {
          if (spec.required && !hasDefault) errors[spec.name] = "Required";
          break;
        }
        const n = Number(text);
        if (!Number.isFinite(n)) errors[spec.name] = "Enter a number";
        else parameters[spec.name] = n;
        break;
      }
      case "string": {
        const text = typeof v === "string" ? v : "";
        if (text === "") {
          if (spec.required && !hasDefault) errors[spec.name] = "Required";
          break;
        }
        if (spec.pattern !== null) {
          let re: RegExp | null = null;
          try {
            re = new RegExp(`^(?:${spec.pattern})$`, "u");
          } catch {
            re = null; // a pattern JavaScript cannot read: the server checks it
          }
          if (re && !re.test(text)) errors[spec.name] = `Must match ${spec.pattern}`;
        }
        parameters[spec.name] = text;
        break;
      }
    }
  }
  return { parameters, errors };
}

/**
 * The server reports bad parameters as 400 "Invalid parameters: name: why; other: why".
 * Returns the messages by parameter name (empty when the text has another shape).
 */
export function parseInvalidParameters(message: string, names: readonly string[]): Record<string, string> {
  const prefix = "Invalid parameters: ";
  const out: Record<string, string> = {};
  if (!message.startsWith(prefix)) return out;
  for (const part of message.slice(prefix.length).split("; ")) {
    const colon = part.indexOf(": ");
    if (colon < 0) continue;
    const name = part.slice(0, colon);
    if (names.includes(name)) out[name] = out[name] ? `${out[name]}; ${part.slice(colon + 2)}` : part.slice(colon + 2);
  }
  return out;
}
