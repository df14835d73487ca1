// "Duplicate" in the job editor: the copy travels to `/jobs/new` in the router's history state
// (never in the URL: a definition can be large), as the editor holds it, unsaved edits included.

import { isRecord, text } from "./definition";

/** What `/jobs/new` starts from instead of an empty job. */
export interface JobSeed {
  /** The definition to start from (its name already the copy's). */
  definition: unknown;
  isActive: boolean;
  /** The job it was copied from. */
  from: number;
}

export function copyName(name: string): string {
  return `${name} (copy)`;
}

/**
 * The definition of a copy: the same content named `<name> (copy)`, where `<name>` is the
 * definition's own name or, when it has none, the job's. (The job's name is the definition's
 * name on save, so both become the copy's.) A definition that is not an object is kept as is:
 * the server refuses it on save anyway.
 */
export function duplicateDefinition(definition: unknown, jobName: string): unknown {
  if (!isRecord(definition)) return definition;
  const name = text(definition.name).trim() || jobName;
  return { ...structuredClone(definition), name: copyName(name) };
}

/** The history state that carries a seed. */
export function seedState(seed: JobSeed): { duplicate: JobSeed } {
  return { duplicate: seed };
}

/** The seed in a location's history state, if it carries a well-formed one. */
export function seedFromState(state: unknown): JobSeed | null {
  if (!isRecord(state) || !isRecord(state.duplicate)) return null;
  const { definition, isActive, from } = state.duplicate;
  if (definition === undefined || typeof isActive !== "boolean" || typeof from !== "number") return null;
  return { definition, isActive, from };
}
