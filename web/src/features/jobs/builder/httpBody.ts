// http.request's `body`: a string is sent as it is, any other JSON value as its JSON text.

import { text } from "../definition";

export type BodyMode = "text" | "json";

export function bodyMode(value: unknown): BodyMode {
  return value !== undefined && value !== null && typeof value !== "string" ? "json" : "text";
}

/** The editable text of a body in `mode`. */
export function bodyText(value: unknown, mode: BodyMode): string {
  if (value === undefined) return "";
  return mode === "json" ? JSON.stringify(value, null, 2) : text(value);
}

/** The body a text stands for in `mode` (empty: no body), or why it is not valid JSON. */
export function parseBody(input: string, mode: BodyMode): { ok: true; value: unknown } | { ok: false; error: string } {
  if (input.trim() === "") return { ok: true, value: undefined };
  if (mode === "text") return { ok: true, value: input };
  try {
    return { ok: true, value: JSON.parse(input) as unknown };
  } catch (e) {
    return { ok: false, error: `Not valid JSON: ${e instanceof Error ? e.message : String(e)}` };
  }
}
