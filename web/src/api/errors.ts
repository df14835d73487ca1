// The one place where API error bodies become something a page can show.
//
// The server answers errors as `{"detail": "text"}`, or for validation failures (422) as
// `{"detail": [{"loc": ["body", "field", ...], "msg": "...", "type": "..."}]}` listing every
// bad field. `ApiError` carries both; `formErrors` maps the 422 locations onto a form's fields.

export interface FieldIssue {
  loc: (string | number)[];
  msg: string;
  type?: string;
}

export class ApiError extends Error {
  readonly status: number;
  /** Every validation problem, for 422 responses; empty otherwise. */
  readonly issues: FieldIssue[];
  /** `Retry-After` in seconds, for 429 and 503 responses. */
  readonly retryAfter: number | null;

  constructor(status: number, message: string, issues: FieldIssue[] = [], retryAfter: number | null = null) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.issues = issues;
    this.retryAfter = retryAfter;
  }

  get isUnauthorized(): boolean {
    return this.status === 401;
  }
}

/** A request that never got an HTTP answer (offline, DNS, TLS, aborted connection). */
export class NetworkError extends Error {
  constructor(message = "The server cannot be reached") {
    super(message);
    this.name = "NetworkError";
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function toIssue(v: unknown): FieldIssue | null {
  if (!isRecord(v)) return null;
  const loc = Array.isArray(v.loc) ? v.loc.filter((p): p is string | number => typeof p === "string" || typeof p === "number") : [];
  const msg = typeof v.msg === "string" ? v.msg : "Invalid value";
  const type = typeof v.type === "string" ? v.type : undefined;
  return { loc, msg, type };
}

/** Location of an issue without its leading "body" / "query" / "path", joined with dots. */
export function issuePath(issue: FieldIssue): string {
  const parts = [...issue.loc];
  if (parts.length > 1 && (parts[0] === "body" || parts[0] === "query" || parts[0] === "path")) {
    parts.shift();
  }
  return parts.join(".");
}

/** A one-paragraph description of an issue list, for places with no field to attach to. */
export function describeIssues(issues: FieldIssue[]): string {
  return issues.map((i) => (issuePath(i) ? `${issuePath(i)}: ${i.msg}` : i.msg)).join("; ");
}

/** Builds an `ApiError` from a failed response (its body is consumed). */
export async function errorFromResponse(res: Response): Promise<ApiError> {
  let detail: unknown = undefined;
  const text = await res.text().catch(() => "");
  if (text) {
    try {
      const body: unknown = JSON.parse(text);
      detail = isRecord(body) ? body.detail : undefined;
    } catch {
      detail = undefined;
    }
  }
  const retryHeader = res.headers.get("retry-after");
  const retryAfter = retryHeader !== null && /^\d+$/.test(retryHeader) ? Number(retryHeader) : null;
  if (Array.isArray(detail)) {
    const issues = detail.map(toIssue).filter((i): i is FieldIssue => i !== null);
    return new ApiError(res.status, describeIssues(issues) || "Invalid request", issues, retryAfter);
  }
  if (typeof detail === "string" && detail) {
    return new ApiError(res.status, detail, [], retryAfter);
  }
  return new ApiError(res.status, fallbackMessage(res.status), [], retryAfter);
}

function fallbackMessage(status: number): string {
  switch (status) {
    case 401:
      return "Your session has ended; please sign in again";
    case 403:
      return "You are not allowed to do this";
    case 404:
      return "Not found";
    case 413:
      return "The request is too large";
    case 429:
      return "Too many attempts; try again later";
    case 503:
      return "The service is unavailable; try again shortly";
    default:
      return status >= 500 ? "The server failed to answer this request" : `Request failed (${status})`;
  }
}

/** A human sentence for any error thrown by the API layer (or anything else). */
export function errorMessage(err: unknown): string {
  if (err instanceof ApiError) {
    if (err.status === 429 && err.retryAfter !== null) {
      return `${err.message} (retry in ${formatSeconds(err.retryAfter)})`;
    }
    return err.message;
  }
  if (err instanceof Error) return err.message;
  return String(err);
}

function formatSeconds(s: number): string {
  if (s < 90) return `${s} s`;
  return `${Math.ceil(s / 60)} min`;
}

export interface FormErrors<F extends string> {
  /** Messages for the form's own fields. */
  fields: Partial<Record<F, string>>;
  /** Everything that belongs to no field of the form (shown above or below it). */
  general: string | null;
}

/**
 * Maps an error onto a form: each 422 issue whose location (after "body"/"query") starts with
 * one of `fields` goes to that field (deeper locations are kept in the message, e.g.
 * `definition` gets "steps.1.command: field required"); the rest becomes `general`.
 * Field names may be dotted (`"parameters.svc"`): the longest matching prefix wins.
 */
export function formErrors<F extends string>(err: unknown, fields: readonly F[]): FormErrors<F> {
  const result: FormErrors<F> = { fields: {}, general: null };
  if (!(err instanceof ApiError) || err.issues.length === 0) {
    result.general = err === null || err === undefined ? null : errorMessage(err);
    return result;
  }
  const rest: FieldIssue[] = [];
  const byLength = [...fields].sort((a, b) => b.length - a.length);
  for (const issue of err.issues) {
    const path = issuePath(issue);
    const field = byLength.find((f) => path === f || path.startsWith(`${f}.`));
    if (field === undefined) {
      rest.push(issue);
      continue;
    }
    const deeper = path.slice(field.length + 1);
    const msg = deeper ? `${deeper}: ${issue.msg}` : issue.msg;
    const previous = result.fields[field];
    result.fields[field] = previous ? `${previous}; ${msg}` : msg;
  }
  if (rest.length > 0) result.general = describeIssues(rest);
  return result;
}
