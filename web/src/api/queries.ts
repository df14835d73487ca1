// Query keys and read hooks, one per API resource. Mutations live next to the pages that use
// them and invalidate these keys.

import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { api, type QueryParams } from "./client";
import type {
  AuditList,
  CredentialList,
  ExecutorStatus,
  Job,
  JobList,
  JobVersion,
  JobVersionList,
  Run,
  RunList,
  RunStep,
  TargetList,
  UserList,
  VerifyResponse,
} from "./types";
import { isTerminal } from "./types";

export const keys = {
  me: ["me"] as const,
  runs: (q?: QueryParams) => (q ? (["runs", "list", q] as const) : (["runs"] as const)),
  run: (id: number) => ["runs", "one", id] as const,
  runSteps: (id: number) => ["runs", "steps", id] as const,
  executor: ["executor", "status"] as const,
  jobs: (q?: QueryParams) => (q ? (["jobs", "list", q] as const) : (["jobs"] as const)),
  job: (id: number) => ["jobs", "one", id] as const,
  jobVersions: (id: number) => ["jobs", "versions", id] as const,
  jobVersion: (id: number, revision: number) => ["jobs", "versions", id, revision] as const,
  targets: (q?: QueryParams) => (q ? (["targets", "list", q] as const) : (["targets"] as const)),
  credentials: (q?: QueryParams) => (q ? (["credentials", "list", q] as const) : (["credentials"] as const)),
  users: (q?: QueryParams) => (q ? (["users", "list", q] as const) : (["users"] as const)),
  audit: (q?: QueryParams) => (q ? (["audit", "list", q] as const) : (["audit"] as const)),
};

export function useMe() {
  return useQuery({
    queryKey: keys.me,
    queryFn: ({ signal }) => api<VerifyResponse>("/api/verify", { signal }),
    staleTime: 60_000,
    refetchInterval: 5 * 60_000,
  });
}

export function useRuns(query: QueryParams, options: { refetchInterval?: number } = {}) {
  return useQuery({
    queryKey: keys.runs(query),
    queryFn: ({ signal }) => api<RunList>("/runs", { query, signal }),
    placeholderData: keepPreviousData,
    refetchInterval: options.refetchInterval ?? false,
  });
}

export function useRun(id: number) {
  return useQuery({
    queryKey: keys.run(id),
    queryFn: ({ signal }) => api<Run>(`/runs/${id}`, { signal }),
    // The event stream invalidates this; a slow poll covers a stream that cannot connect.
    refetchInterval: (q) => (q.state.data && isTerminal(q.state.data.status) ? false : 15_000),
  });
}

export function useRunSteps(id: number) {
  return useQuery({
    queryKey: keys.runSteps(id),
    queryFn: ({ signal }) => api<RunStep[]>(`/runs/${id}/steps`, { signal }),
  });
}

export function useExecutorStatus() {
  return useQuery({
    queryKey: keys.executor,
    queryFn: ({ signal }) => api<ExecutorStatus>("/executor/status", { signal }),
    refetchInterval: 10_000,
  });
}

export function useJobs(query: QueryParams) {
  return useQuery({
    queryKey: keys.jobs(query),
    queryFn: ({ signal }) => api<JobList>("/jobs", { query, signal }),
    placeholderData: keepPreviousData,
  });
}

export function useJob(id: number | null) {
  return useQuery({
    queryKey: keys.job(id ?? 0),
    queryFn: ({ signal }) => api<Job>(`/jobs/${id ?? 0}`, { signal }),
    enabled: id !== null,
  });
}

/** Every kept revision of a job's definition, newest first. */
export function useJobVersions(id: number) {
  return useQuery({
    queryKey: keys.jobVersions(id),
    queryFn: ({ signal }) => api<JobVersionList>(`/jobs/${id}/versions`, { signal }),
  });
}

/** One revision of a job's definition (revisions never change once written). */
export function useJobVersion(id: number, revision: number | null) {
  return useQuery({
    queryKey: keys.jobVersion(id, revision ?? 0),
    queryFn: ({ signal }) => api<JobVersion>(`/jobs/${id}/versions/${revision ?? 0}`, { signal }),
    enabled: revision !== null,
    staleTime: Infinity,
  });
}

/** Every job's name by id (inactive ones too), for labels. */
export function useJobNames(): Map<number, string> {
  const { data } = useQuery({
    queryKey: keys.jobs({ active_only: false, limit: 1000 }),
    queryFn: ({ signal }) => api<JobList>("/jobs", { query: { active_only: false, limit: 1000 }, signal }),
    staleTime: 60_000,
  });
  const map = new Map<number, string>();
  for (const j of data?.jobs ?? []) map.set(j.id, j.name);
  return map;
}

/** Names of the users the caller may see (admins: everyone; others: themselves). */
export function useUserNames(): Map<number, string> {
  const { data } = useQuery({
    queryKey: keys.users({ limit: 1000 }),
    queryFn: ({ signal }) => api<UserList>("/users", { query: { limit: 1000 }, signal }),
    staleTime: 60_000,
  });
  const map = new Map<number, string>();
  for (const u of data?.users ?? []) map.set(u.id, u.username);
  return map;
}

export function useTargets(query: QueryParams) {
  return useQuery({
    queryKey: keys.targets(query),
    queryFn: ({ signal }) => api<TargetList>("/targets", { query, signal }),
    placeholderData: keepPreviousData,
  });
}

export function useCredentials(query: QueryParams) {
  return useQuery({
    queryKey: keys.credentials(query),
    queryFn: ({ signal }) => api<CredentialList>("/credentials", { query, signal }),
    placeholderData: keepPreviousData,
  });
}

export function useUsers(query: QueryParams) {
  return useQuery({
    queryKey: keys.users(query),
    queryFn: ({ signal }) => api<UserList>("/users", { query, signal }),
    placeholderData: keepPreviousData,
  });
}

export function useAudit(query: QueryParams) {
  return useQuery({
    queryKey: keys.audit(query),
    queryFn: ({ signal }) => api<AuditList>("/audit", { query, signal }),
    placeholderData: keepPreviousData,
  });
}
