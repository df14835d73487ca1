// Shapes of the OpsConductor API (see shared/spec/api-contract.md and the server's OpenAPI
// document at /api-docs/openapi.json). Only the fields the UI reads are typed strictly.

export type Role = "admin" | "operator" | "viewer";

export interface User {
  id: number;
  email: string;
  username: string;
  role: Role;
  created_at?: string;
  token_version?: number;
}

export interface TokenPair {
  access_token: string;
  refresh_token: string;
  token_type: string;
  expires_in: number;
  user: User;
}

export interface VerifyResponse {
  valid: boolean;
  user: User;
}

export interface Message {
  message: string;
}

export type RunStatus = "queued" | "running" | "succeeded" | "failed" | "canceled";
export type StepStatus = "queued" | "running" | "succeeded" | "failed" | "aborted";

export const RUN_STATUSES: readonly RunStatus[] = [
  "queued",
  "running",
  "succeeded",
  "failed",
  "canceled",
];

export const TERMINAL_RUN_STATUSES: readonly string[] = ["succeeded", "failed", "canceled"];

export function isTerminal(status: string): boolean {
  return TERMINAL_RUN_STATUSES.includes(status);
}

export interface Run {
  id: number;
  job_id: number;
  job_revision: number;
  status: RunStatus;
  requested_by: number;
  parameters: Record<string, unknown>;
  queued_at: string;
  started_at: string | null;
  finished_at: string | null;
  correlation_id: string | null;
  idempotency_key: string | null;
  rerun_of: number | null;
  error: string | null;
  cancel_requested: boolean;
  canceled_by: string | null;
  worker_id: string | null;
  attempt: number;
}

export interface RunList {
  runs: Run[];
  total: number;
}

export interface RunStep {
  id: number;
  job_run_id: number;
  idx: number;
  name: string | null;
  type: string;
  target_id: number | null;
  target_name: string | null;
  status: StepStatus;
  shell: string | null;
  timeoutsec: number;
  exit_code: number | null;
  stdout: string | null;
  stderr: string | null;
  error: string | null;
  attempts: number;
  metrics: Record<string, unknown>;
  started_at: string | null;
  finished_at: string | null;
}

export type LogStream = "stdout" | "stderr" | "system";

/** One entry of a run's event stream (SSE `data:`) and of `GET /runs/{id}/log`. */
export interface RunEvent {
  seq: number;
  kind: "status" | "step" | "log";
  step: number | null;
  target_id: number | null;
  stream: LogStream | null;
  text: string | null;
  data: Record<string, unknown> | null;
  ts: string;
}

export interface LogPage {
  run_id: number;
  chunks: RunEvent[];
  next_offset: number | null;
}

export interface ExecutorStatus {
  worker_running: boolean;
  worker_enabled: boolean;
  poll_interval: number;
  dispatch?: string;
  active_runs_here?: number;
  runs?: { queued: number; running: number };
  queue_stats: {
    queued_steps: number;
    running_steps: number;
    succeeded_steps: number;
    failed_steps: number;
  };
}

export interface Job {
  id: number;
  name: string;
  version: number;
  definition: JobDefinition;
  revision: number;
  created_by: number;
  is_active: boolean;
  created_at: string;
  updated_at: string;
}

export interface JobDefinition {
  name?: string;
  version?: number;
  parameters?: Record<string, unknown>;
  steps?: Record<string, unknown>[];
  maxParallel?: number;
  [key: string]: unknown;
}

export interface JobList {
  jobs: Job[];
  total: number;
}

export type Protocol = "winrm" | "ssh" | "http";

export interface Target {
  id: number;
  name: string;
  hostname: string;
  protocol: Protocol;
  port: number;
  credential_ref: number | null;
  tags: string[];
  metadata: Record<string, unknown>;
  depends_on: number[];
  host_key_fingerprint?: string | null;
  host_key_algorithm?: string | null;
  host_key_pinned_at?: string | null;
  created_at: string;
  updated_at?: string | null;
  /** Settings that weaken security (e.g. certificate validation turned off). */
  warnings?: string[];
}

/** Body of `POST /targets`. */
export interface TargetInput {
  name: string;
  hostname: string;
  protocol: Protocol;
  port?: number;
  credential_ref: number;
  tags: string[];
  metadata: Record<string, unknown>;
}

/** `PUT /targets/{id}`: the fields to change; absent fields keep their value. A protocol without
 * a port moves the target to that protocol's default port. */
export type TargetUpdate = Partial<TargetInput>;

export interface TargetList {
  targets: Target[];
  total: number;
}

export interface TargetTestResult {
  success: boolean;
  message: string;
  details?: Record<string, unknown>;
}

export interface Credential {
  id: number;
  name: string;
  description: string | null;
  credential_type: string;
  created_at: string;
  updated_at: string | null;
  rotated_at?: string | null;
}

export interface CredentialList {
  credentials: Credential[];
  total: number;
}

export interface UserList {
  users: User[];
  total: number;
}

export interface AuditEntry {
  id: number;
  ts: string;
  actor_id: number | null;
  actor: string | null;
  action: string;
  resource_type: string | null;
  resource_id: string | null;
  ip: string | null;
  user_agent: string | null;
  outcome: string;
  status_code: number;
  details: unknown;
  prev_hash: string;
  record_hash: string;
}

export interface AuditList {
  entries: AuditEntry[];
  total: number;
}

export interface AuditVerify {
  valid: boolean;
  entries: number;
  [key: string]: unknown;
}

/** Body of `POST /jobs` (and, all fields optional, of `PUT /jobs/{id}`). */
export interface JobInput {
  name: string;
  definition: unknown;
  is_active: boolean;
  /** PUT only: the revision the edit started from; the server answers 409 when the job moved on. */
  base_revision?: number;
}

/** A kept revision of a job's definition (`GET /jobs/{id}/versions`). */
export interface JobVersion {
  job_id: number;
  revision: number;
  version: number;
  definition: unknown;
  created_by: number | null;
  created_at: string;
}

export interface JobVersionList {
  versions: JobVersion[];
  total: number;
}

/** A target a planned step would run on. */
export interface PlannedTarget {
  id: number;
  name: string;
  hostname: string;
  protocol: string;
  port: number;
  credential_ref: number;
}

/** One step of a dry run: its templated fields rendered (secrets masked). */
export interface PlannedStep {
  index: number;
  name: string | null;
  type: string;
  targets: PlannedTarget[];
  rendered: Record<string, unknown>;
  timeout_sec: number;
  retries: number;
  continue_on_error: boolean;
}

/** `POST /jobs/{id}/plan`: what a run would do, without running anything. */
export interface JobPlan {
  job_id: number;
  revision: number;
  parameters: Record<string, unknown>;
  secrets: { name: string; credential: string; field: string | null }[];
  max_parallel: number;
  steps: PlannedStep[];
  warnings: string[];
}
