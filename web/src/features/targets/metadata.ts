// The metadata field of the target form.

/** Parses the metadata textarea: empty → {}, otherwise a JSON object. */
export function parseMetadata(text: string): { value: Record<string, unknown> } | { error: string } {
  if (text.trim() === "") return { value: {} };
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    return { error: `Not valid JSON: ${e instanceof Error ? e.message : String(e)}` };
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) return { error: "Metadata must be a JSON object ({...})" };
  return { value: parsed as Record<string, unknown> };
}
