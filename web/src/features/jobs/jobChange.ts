// The job editor against changes made elsewhere (another tab, another user).

import { ApiError } from "../../api/errors";
import type { Job } from "../../api/types";

/**
 * Whether `latest` (the server's job, refetched) is a later state than `base` (the one the edits
 * started from): a newer revision, or another `is_active` written later (that does not make a
 * revision). An older copy (the cache before a save's answer lands in it) is not.
 */
export function changedSince(base: Job, latest: Job): boolean {
  if (latest.revision !== base.revision) return latest.revision > base.revision;
  return latest.is_active !== base.is_active && Date.parse(latest.updated_at) > Date.parse(base.updated_at);
}

/** The revision a 409 "changed since" answer to a save names, or null for any other error (e.g. a duplicate name). */
export function conflictRevision(err: unknown): number | null {
  if (!(err instanceof ApiError) || err.status !== 409) return null;
  const m = /now revision (\d+)/.exec(err.message);
  return m ? Number(m[1]) : null;
}
