import { Alert, Badge, Button, Group, List, Modal, Stack, Switch, Tabs, Text } from "@mantine/core";
import { notifications } from "@mantine/notifications";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useEffect, useMemo, useState } from "react";
import { Link, useHref, useLocation, useNavigate, useParams, useSearchParams } from "react-router";
import { api } from "../api/client";
import { ApiError, errorMessage, issuePath, type FieldIssue } from "../api/errors";
import { keys, useJob } from "../api/queries";
import type { Job, JobInput } from "../api/types";
import { usePermissions } from "../auth/useSession";
import { IconRuns } from "../components/icons";
import { PageHeader } from "../components/PageHeader";
import { ErrorState, Loading } from "../components/QueryState";
import { JobBuilder } from "../features/jobs/builder/JobBuilder";
import { definitionPath, emptyDefinition, fromDraft, isRecord, routeIssues, text, toDraft, type Draft } from "../features/jobs/definition";
import { DeleteJobDialog } from "../features/jobs/DeleteJobDialog";
import { canonicalJson } from "../features/jobs/diff";
import { duplicateDefinition, seedFromState, seedState, type JobSeed } from "../features/jobs/duplicate";
import { changedSince, conflictRevision } from "../features/jobs/jobChange";
import { JobHistory } from "../features/jobs/JobHistory";
import { JobPlan } from "../features/jobs/JobPlan";
import { JsonView, type PathIssue } from "../features/jobs/JsonView";
import { parseJson, type JsonProblem } from "../features/jobs/jsonText";
import { RunJobDialog } from "../features/jobs/RunJobDialog";

type View = "builder" | "json" | "history" | "plan";

function pretty(v: unknown): string {
  return JSON.stringify(v, null, 2);
}

/** Local checks the JSON shape cannot express: two parameter rows with one name. */
function duplicateParams(draft: Draft): FieldIssue[] {
  const seen = new Set<string>();
  const out: FieldIssue[] = [];
  for (const p of draft.params) {
    if (seen.has(p.name)) out.push({ loc: ["body", "definition", "parameters", p.name], msg: `Two parameters are named '${p.name}'` });
    seen.add(p.name);
  }
  return out;
}

function stepOrder(d: Draft | null): string {
  return d ? d.steps.map((s) => s.uid).join(",") : "";
}

/**
 * While `active`, leaving the page asks first: a click on an in-app link to another page (not a
 * change of `?view=`) through a dialog, a reload, closing the tab or a link out of the app
 * through the browser's own prompt. (The app's router is a `BrowserRouter`, which has no
 * `useBlocker`; a data router would add ~18 KB gzip to the first screen for it.)
 * Navigation by code (after creating a job, or to a run just started) is not held up.
 */
function useUnsavedGuard(active: boolean) {
  const navigate = useNavigate();
  // The router's basename as the browser sees it ("/ui").
  const base = useHref("/").replace(/\/$/, "");
  const [pending, setPending] = useState<string | null>(null);
  useEffect(() => {
    if (!active) return;
    const onClick = (e: MouseEvent) => {
      // Only a plain click that would replace this page (not a new tab or window, not a download).
      if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
      const a = e.target instanceof Element ? e.target.closest("a[href]") : null;
      if (!(a instanceof HTMLAnchorElement) || (a.target !== "" && a.target !== "_self") || a.hasAttribute("download")) return;
      const url = new URL(a.href);
      const inApp = url.origin === window.location.origin && (url.pathname === base || url.pathname.startsWith(`${base}/`));
      // Elsewhere is a full page load: the beforeunload prompt asks.
      if (!inApp || url.pathname === window.location.pathname) return;
      e.preventDefault();
      e.stopPropagation();
      setPending(`${url.pathname.slice(base.length) || "/"}${url.search}${url.hash}`);
    };
    const onBeforeUnload = (e: BeforeUnloadEvent) => {
      e.preventDefault();
      // Older browsers show the prompt only when returnValue is set.
      // eslint-disable-next-line @typescript-eslint/no-deprecated
      e.returnValue = "";
    };
    // Capture phase on the document: before the router's link handler sees the click.
    document.addEventListener("click", onClick, true);
    window.addEventListener("beforeunload", onBeforeUnload);
    return () => {
      document.removeEventListener("click", onClick, true);
      window.removeEventListener("beforeunload", onBeforeUnload);
    };
  }, [active, base]);
  const stay = () => setPending(null);
  const leave = () => {
    const to = pending;
    setPending(null);
    if (to !== null) void navigate(to);
  };
  return (
    <Modal opened={pending !== null} onClose={stay} title="Leave without saving?">
      {/* The test id on the content: it exists only while the dialog is open (the modal's root stays, empty). */}
      <Stack gap="md" data-testid="unsaved-dialog">
        <Text size="sm">This job has changes that are not saved. If you leave now, they are lost.</Text>
        <Group justify="flex-end">
          <Button variant="default" onClick={stay} data-testid="unsaved-stay">
            Stay
          </Button>
          <Button color="red" onClick={leave} data-testid="unsaved-leave">
            Leave without saving
          </Button>
        </Group>
      </Stack>
    </Modal>
  );
}

function plural(n: number, one: string, many: string): string {
  return `${String(n)} ${n === 1 ? one : many}`;
}

/**
 * The editor of one job (keyed by its id only). `latest` is the job as the server has it now
 * (refetched on focus); `job` below is the revision the edits started from. A newer revision
 * (or a change of `is_active`) is adopted silently while nothing is edited, and otherwise
 * offered in a banner: load theirs, or keep mine (the next save then overwrites theirs).
 * A new job (`latest` null) starts empty, or from `seed` (a duplicate, read once at mount).
 */
function JobEditor({ job: latest, seed: seedProp = null }: { job: Job | null; seed?: JobSeed | null }) {
  const { canOperate } = usePermissions();
  const readOnly = !canOperate;
  const queryClient = useQueryClient();
  const navigate = useNavigate();
  const location = useLocation();
  // A duplicate to start from: taken at mount only (a change of ?view= replaces the history entry).
  const [seed] = useState(latest ? null : seedProp);
  // The saved job the edits started from; its revision goes with every save (`base_revision`).
  const [job, setBase] = useState<Job | null>(latest);
  // Bumped on every load of a saved job: remounts the builder and the JSON view (their own state).
  const [loads, setLoads] = useState(0);
  const initial = useMemo(() => {
    const definition = job ? job.definition : seed ? seed.definition : emptyDefinition();
    const converted = toDraft(definition);
    return { definition, draft: "draft" in converted ? converted.draft : null, builderError: "error" in converted ? converted.error : null };
  }, [job, seed]);
  // The tab is kept in the address (?view=json), so that it survives a save and a reload.
  const [search, setSearch] = useSearchParams();
  const asked = search.get("view");
  // Which of the two editors holds the definition being edited.
  const [editor, setEditor] = useState<"builder" | "json">(initial.draft && asked !== "json" ? "builder" : "json");
  const [draft, setDraft] = useState<Draft | null>(initial.draft);
  const [view, setViewState] = useState<View>(() => ((asked === "history" || (asked === "plan" && canOperate)) && job ? asked : initial.draft && asked !== "json" ? "builder" : "json"));
  const setView = (v: View) => {
    setViewState(v);
    // The history state is kept: a duplicate's copy survives a reload.
    setSearch(v === "builder" ? {} : { view: v }, { replace: true, state: location.state as unknown });
  };
  const [jsonText, setJsonText] = useState(() => pretty(initial.definition));
  const [problem, setProblem] = useState<JsonProblem | null>(null);
  const [builderError, setBuilderError] = useState<string | null>(initial.builderError);
  const [isActive, setIsActive] = useState(job?.is_active ?? seed?.isActive ?? true);
  const [issues, setIssues] = useState<FieldIssue[]>([]);
  const [failure, setFailure] = useState<string | null>(null);
  // A save refused with 409 because the job changed on the server: the server's message.
  const [conflict, setConflict] = useState<{ message: string; revision: number } | null>(null);
  const [running, setRunning] = useState(false);
  const [deleting, setDeleting] = useState(false);

  /** Replaces the content being edited by the saved job `j` (the editor kind is kept where it can be). */
  const load = (j: Job) => {
    const converted = toDraft(j.definition);
    const d = "draft" in converted ? converted.draft : null;
    setBase(j);
    setDraft(d);
    setEditor(d && editor === "builder" ? "builder" : "json");
    setJsonText(pretty(j.definition));
    setProblem(null);
    setBuilderError("error" in converted ? converted.error : null);
    setIsActive(j.is_active);
    setIssues([]);
    setFailure(null);
    setConflict(null);
    setLoads((n) => n + 1);
  };

  const current = (): { ok: true; value: unknown } | { ok: false; problem: JsonProblem } => {
    if (editor === "builder" && draft) return { ok: true, value: fromDraft(draft) };
    return parseJson(jsonText);
  };
  const now = current();
  const dirty = !now.ok || canonicalJson(now.value) !== canonicalJson(job?.definition ?? null) || isActive !== (job?.is_active ?? true);
  // Leaving asks first once something was edited (a new job left as it opened has nothing to lose;
  // a duplicate exists nowhere else, and may carry the unsaved edits of the job it copies).
  const edited = seed !== null || !now.ok || canonicalJson(now.value) !== canonicalJson(initial.definition) || isActive !== (job?.is_active ?? true);
  const unsavedDialog = useUnsavedGuard(edited && !readOnly);

  const changedElsewhere = latest !== null && job !== null && changedSince(job, latest);
  if (changedElsewhere && !(dirty && !readOnly)) {
    // Nothing of ours to lose: follow the server (a state update while rendering, no effect needed).
    load(latest);
  }
  const [syncing, setSyncing] = useState(false);
  /** The job as the server has it now (the cached one when it is already newer than ours). */
  const newest = async (): Promise<Job | null> => {
    if (changedElsewhere) return latest;
    if (!job) return null;
    setSyncing(true);
    try {
      const fresh = await api<Job>(`/jobs/${String(job.id)}`);
      queryClient.setQueryData(keys.job(fresh.id), fresh);
      return fresh;
    } catch (err) {
      setFailure(errorMessage(err));
      return null;
    } finally {
      setSyncing(false);
    }
  };
  const loadTheirs = async () => {
    const j = await newest();
    if (j) load(j);
  };
  const keepMine = async () => {
    const j = await newest();
    if (!j) return;
    // Our content stays; it now counts as an edit of their revision (saved over it).
    setBase(j);
    setConflict(null);
  };

  const toBuilder = (): boolean => {
    if (editor === "builder") return true;
    const parsed = parseJson(jsonText);
    if (!parsed.ok) {
      setProblem(parsed.problem);
      return false;
    }
    const converted = toDraft(parsed.value);
    if ("error" in converted) {
      setBuilderError(converted.error);
      return false;
    }
    setProblem(null);
    setBuilderError(null);
    setDraft(converted.draft);
    setEditor("builder");
    return true;
  };
  const toJson = () => {
    if (editor === "json") return;
    if (draft) setJsonText(pretty(fromDraft(draft)));
    setProblem(null);
    setEditor("json");
  };
  const changeView = (v: string | null) => {
    if (v === "builder" && !toBuilder()) {
      setView("json");
      return;
    }
    if (v === "json") toJson();
    if (v === "builder" || v === "json" || v === "history" || v === "plan") setView(v);
  };

  const save = useMutation({
    // An edit names the revision it started from: the server refuses it (409) when the job moved on.
    mutationFn: (body: JobInput) =>
      job ? api<Job>(`/jobs/${String(job.id)}`, { method: "PUT", body: { ...body, base_revision: job.revision } }) : api<Job>("/jobs", { method: "POST", body }),
    onSuccess: (saved) => {
      // The editor shows what was saved (the server may normalise it), as of the new revision.
      if (job) load(saved);
      queryClient.setQueryData(keys.job(saved.id), saved);
      void queryClient.invalidateQueries({ queryKey: keys.jobs() });
      void queryClient.invalidateQueries({ queryKey: keys.jobVersions(saved.id) });
      setIssues([]);
      setFailure(null);
      notifications.show({ color: "green", message: job ? `Saved ${saved.name} (revision ${saved.revision})` : `Job ${saved.name} created` });
      if (!job) void navigate(`/jobs/${saved.id}${view === "json" ? "?view=json" : ""}`, { replace: true });
    },
    onError: (err) => {
      const revision = conflictRevision(err);
      if (job && revision !== null) {
        setConflict({ message: errorMessage(err), revision });
        setIssues([]);
        setFailure(null);
        // Fetch theirs, for "Load theirs" and for the History tab.
        void queryClient.invalidateQueries({ queryKey: keys.job(job.id), exact: true });
        void queryClient.invalidateQueries({ queryKey: keys.jobVersions(job.id) });
      } else if (err instanceof ApiError && err.issues.length > 0) {
        setIssues(err.issues);
        setFailure(null);
      } else if (err instanceof ApiError && err.status === 409) {
        setIssues([{ loc: ["body", "name"], msg: err.message }]);
        setFailure(null);
      } else {
        setIssues([]);
        setFailure(errorMessage(err));
      }
    },
  });

  const submit = () => {
    const def = current();
    if (!def.ok) {
      setView("json");
      setProblem(def.problem);
      return;
    }
    setProblem(null);
    const local = editor === "builder" && draft ? duplicateParams(draft) : [];
    if (local.length > 0) {
      setIssues(local);
      return;
    }
    const name = isRecord(def.value) ? text(def.value.name) : "";
    save.mutate({ name, definition: def.value, is_active: isActive });
  };

  /** Opens `/jobs/new` with a copy of what is edited here (unsaved edits included), named "<name> (copy)". */
  const duplicate = () => {
    if (!job) return;
    const def = current();
    if (!def.ok) {
      setView("json");
      setProblem(def.problem);
      return;
    }
    const copy: JobSeed = { definition: duplicateDefinition(def.value, job.name), isActive, from: job.id };
    // By code: the unsaved guard does not ask, the edits go into the copy.
    void navigate(editor === "json" ? "/jobs/new?view=json" : "/jobs/new", { state: seedState(copy) });
  };

  const routed = useMemo(() => (draft ? routeIssues(issues, draft) : { fields: {}, general: [] }), [issues, draft]);
  // Where the save's problems are shown: the builder (inline, or its general list) or the JSON view.
  const problemsTab: View = editor === "builder" && draft ? "builder" : "json";
  const showProblems = {
    where:
      problemsTab === "builder"
        ? routed.general.length > 0
          ? `${plural(Object.keys(routed.fields).length, "is", "are")} marked on the builder's fields; ${plural(routed.general.length, "is", "are")} listed above them.`
          : "They are marked on the builder's fields."
        : "They are listed in the JSON view.",
    label: view === problemsTab ? "Go to the first problem" : problemsTab === "builder" ? "Show in the builder" : "Show in JSON",
    go: () => {
      if (view !== problemsTab) changeView(problemsTab);
      // After the tab has rendered: the first inline error (or the JSON view's list of them).
      requestAnimationFrame(() => {
        const first = document.querySelector(`[data-testid="${problemsTab === "builder" ? "job-field-error" : "job-json-issues"}"], [data-testid="job-general-errors"]`);
        first?.scrollIntoView({ behavior: "smooth", block: "center" });
      });
    },
  };
  const jsonIssues: PathIssue[] = issues.map((i) => ({ path: definitionPath(i), msg: i.msg, inDefinition: issuePath(i).startsWith("definition") }));
  const title = (now.ok && isRecord(now.value) ? text(now.value.name) : "") || job?.name || "New job";

  return (
    <Stack gap="md">
      <PageHeader
        title={
          <Group gap="xs">
            <span>{title}</span>
            {job && (
              <Badge variant="light" color="gray" data-testid="job-revision">
                rev {job.revision}
              </Badge>
            )}
            {dirty && !readOnly && (
              <Badge variant="light" color="yellow" data-testid="job-unsaved">
                unsaved
              </Badge>
            )}
          </Group>
        }
        description={
          <Link to="/jobs" style={{ color: "inherit" }}>
            ← All jobs
          </Link>
        }
        actions={
          <>
            <Switch label="Active" checked={isActive} onChange={(e) => setIsActive(e.currentTarget.checked)} disabled={readOnly} data-testid="job-active" />
            {latest && canOperate && latest.is_active && (
              <Button
                variant="default"
                leftSection={<IconRuns size={14} />}
                onClick={() => setRunning(true)}
                title={dirty ? `Runs revision ${String(latest.revision)} as saved, without your unsaved edits` : undefined}
                data-testid="job-run"
              >
                Run
              </Button>
            )}
            {job && !readOnly && (
              <>
                <Button variant="default" onClick={duplicate} title={dirty ? "The copy includes your unsaved edits" : undefined} data-testid="job-duplicate">
                  Duplicate
                </Button>
                <Button variant="subtle" color="red" onClick={() => setDeleting(true)} data-testid="job-delete">
                  Delete
                </Button>
              </>
            )}
            {!readOnly && (
              <Button onClick={submit} loading={save.isPending} data-testid="job-save">
                {job ? "Save" : "Create"}
              </Button>
            )}
          </>
        }
      />
      {readOnly && (
        <Alert color="gray" p="xs" data-testid="job-read-only">
          You can view this job; operators and admins edit it.
        </Alert>
      )}
      {failure && (
        <Alert color="red" title="Not saved" data-testid="job-save-error" style={{ whiteSpace: "pre-wrap" }}>
          {failure}
        </Alert>
      )}
      {!readOnly && ((changedElsewhere && dirty) || conflict) && (
        <Alert color="orange" title={`Changed by someone else (revision ${String(changedElsewhere ? latest.revision : (conflict?.revision ?? "?"))})`} data-testid="job-changed-elsewhere">
          <Stack gap="xs">
            {conflict && (
              <Text size="sm" fw={500} data-testid="job-save-conflict">
                Not saved: {conflict.message}
              </Text>
            )}
            <Text size="sm">
              Your unsaved edits started from revision {job?.revision}. Load their version (your edits are discarded), or keep yours: saving then
              replaces theirs (compare them in History).
            </Text>
            <Group gap="xs">
              <Button size="xs" color="orange" loading={syncing} onClick={() => void loadTheirs()} data-testid="job-load-theirs">
                Load theirs
              </Button>
              <Button size="xs" variant="default" disabled={syncing} onClick={() => void keepMine()} data-testid="job-keep-mine">
                Keep mine
              </Button>
            </Group>
          </Stack>
        </Alert>
      )}
      {issues.length > 0 && (
        <Alert color="red" title={`Not saved: ${plural(issues.length, "problem", "problems")}`} data-testid="job-save-problems">
          <Group gap="xs" justify="space-between">
            <Text size="sm">{showProblems.where}</Text>
            <Button size="xs" variant="light" color="red" onClick={showProblems.go} data-testid="job-save-problems-show">
              {showProblems.label}
            </Button>
          </Group>
        </Alert>
      )}
      {view === "builder" && routed.general.length > 0 && (
        <Alert color="red" title="Problems outside the builder's fields" data-testid="job-general-errors">
          <List size="sm" spacing={2}>
            {routed.general.map((g, i) => (
              <List.Item key={i} ff="monospace">
                {g}
              </List.Item>
            ))}
          </List>
        </Alert>
      )}
      {builderError && (
        <Alert color="yellow" p="xs" data-testid="job-builder-unavailable">
          {builderError} Edit it here as JSON.
        </Alert>
      )}
      <Tabs value={view} onChange={changeView} keepMounted={false}>
        <Tabs.List mb="md">
          <Tabs.Tab value="builder" data-testid="job-tab-builder">
            Builder
          </Tabs.Tab>
          <Tabs.Tab value="json" data-testid="job-tab-json">
            JSON
          </Tabs.Tab>
          {job && (
            <Tabs.Tab value="history" data-testid="job-tab-history">
              History
            </Tabs.Tab>
          )}
          {job && canOperate && (
            <Tabs.Tab value="plan" data-testid="job-tab-plan">
              Plan
            </Tabs.Tab>
          )}
        </Tabs.List>
        <Tabs.Panel value="builder">
          {draft && editor === "builder" ? (
            <JobBuilder
              key={loads}
              draft={draft}
              onChange={(d) => {
                // Errors name steps by position: moving or removing steps makes them stale.
                if (stepOrder(d) !== stepOrder(draft) && issues.length > 0) setIssues([]);
                setDraft(d);
              }}
              errors={routed.fields}
              readOnly={readOnly}
            />
          ) : (
            <Text c="dimmed">The builder cannot show this definition.</Text>
          )}
        </Tabs.Panel>
        <Tabs.Panel value="json">
          <JsonView
            key={loads}
            text={jsonText}
            onChange={(t) => {
              setJsonText(t);
              if (problem) setProblem(null);
            }}
            problem={problem}
            issues={jsonIssues}
            readOnly={readOnly}
          />
        </Tabs.Panel>
        {job && (
          <Tabs.Panel value="history">
            <JobHistory key={latest?.revision ?? job.revision} jobId={job.id} />
          </Tabs.Panel>
        )}
        {latest && canOperate && (
          <Tabs.Panel value="plan">
            {/* The server plans the job as saved now. */}
            <JobPlan key={latest.revision} job={latest} unsaved={dirty} />
          </Tabs.Panel>
        )}
      </Tabs>
      {/* A run takes the job as saved now (latest), never the unsaved edits: the dialog says so. */}
      {running && latest && <RunJobDialog job={latest} opened onClose={() => setRunning(false)} unsaved={dirty && !readOnly} />}
      {deleting && job && (
        <DeleteJobDialog
          job={job}
          unsaved={dirty}
          active={isActive}
          onClose={() => setDeleting(false)}
          // By code: the unsaved guard does not ask again.
          onDeleted={() => void navigate("/jobs", { replace: true })}
          onDeactivate={() => {
            setIsActive(false);
            setDeleting(false);
          }}
        />
      )}
      {unsavedDialog}
    </Stack>
  );
}

/** `/jobs/new` and `/jobs/:id`: the job editor (read-only for viewers). */
export default function JobEditorPage() {
  const { id } = useParams();
  const { canOperate } = usePermissions();
  const state: unknown = useLocation().state;
  const jobId = id === undefined || id === "new" ? null : Number(id);
  const job = useJob(jobId !== null && Number.isInteger(jobId) ? jobId : null);
  if (jobId === null) {
    if (!canOperate)
      return (
        <Alert color="gray" title="Read-only access">
          Only operators and admins create jobs. <Link to="/jobs">Back to the jobs</Link>
        </Alert>
      );
    return <JobEditor job={null} seed={seedFromState(state)} />;
  }
  if (!Number.isInteger(jobId)) return <ErrorState error={new Error(`"${id ?? ""}" is not a job id`)} />;
  if (job.error && !job.data) return <ErrorState error={job.error} onRetry={() => void job.refetch()} />;
  if (!job.data) return <Loading />;
  // Keyed by the id only: a newer revision arriving (refetch on focus) must not wipe unsaved edits.
  return <JobEditor key={job.data.id} job={job.data} />;
}
