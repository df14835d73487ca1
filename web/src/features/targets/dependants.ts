// The server refuses to delete a target others depend on, naming them by id
// ("Cannot delete target: targets [4, 9] depend on it"): the dialog adds their names.

/** The ids in such a refusal, or [] for any other message. */
export function dependantIds(message: string): number[] {
  const m = /targets \[([\d,\s]+)\] depend on it/.exec(message);
  if (!m?.[1]) return [];
  return m[1]
    .split(",")
    .map((s) => s.trim())
    .filter((s) => /^\d+$/.test(s))
    .map(Number);
}

/** "app-01, #9" for the ids, by the names known (the rest by number). */
export function dependantNames(ids: readonly number[], names: ReadonlyMap<number, string>): string {
  return ids.map((id) => names.get(id) ?? `#${String(id)}`).join(", ");
}
