import { describe, expect, it } from "vitest";
import { ApiError } from "../../api/errors";
import type { Job } from "../../api/types";
import { changedSince, conflictRevision } from "./jobChange";

const job = (revision: number, is_active: boolean, updated_at: string): Job =>
  ({ id: 1, name: "j", version: 1, definition: {}, revision, created_by: 1, is_active, created_at: "2026-01-01T00:00:00Z", updated_at });

describe("changedSince", () => {
  it("sees a newer revision, not an older one", () => {
    expect(changedSince(job(2, true, "2026-01-01T00:00:02Z"), job(3, true, "2026-01-01T00:00:03Z"))).toBe(true);
    // The cache still holds revision 2 for a moment after a save answered revision 3.
    expect(changedSince(job(3, true, "2026-01-01T00:00:03Z"), job(2, true, "2026-01-01T00:00:02Z"))).toBe(false);
  });
  it("sees is_active changed later (no new revision), not an older is_active", () => {
    expect(changedSince(job(2, true, "2026-01-01T00:00:02Z"), job(2, false, "2026-01-01T00:00:05Z"))).toBe(true);
    expect(changedSince(job(2, false, "2026-01-01T00:00:05Z"), job(2, true, "2026-01-01T00:00:02Z"))).toBe(false);
    expect(changedSince(job(2, true, "2026-01-01T00:00:02Z"), job(2, true, "2026-01-01T00:00:09Z"))).toBe(false);
  });
});

describe("conflictRevision", () => {
  it("reads the server's revision from a 409 about a changed job, nothing else", () => {
    expect(conflictRevision(new ApiError(409, "The job was changed (now revision 7) since revision 5 was opened; reload it"))).toBe(7);
    expect(conflictRevision(new ApiError(409, "Job with this name already exists"))).toBeNull();
    expect(conflictRevision(new ApiError(422, "now revision 7"))).toBeNull();
    expect(conflictRevision(new Error("now revision 7"))).toBeNull();
  });
});
