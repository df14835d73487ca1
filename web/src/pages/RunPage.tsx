import { Alert, Anchor, Button, Card, Code, Group, Menu, Modal, SimpleGrid, Stack, Text, Title } from "@mantine/core";
import { notifications } from "@mantine/notifications";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useCallback, useEffect, useMemo, useRef, useState, type ReactNode } from "react";
import { Link, useNavigate, useParams } from "react-router";
import { api } from "../api/client";
import { errorMessage } from "../api/errors";
import { keys, useJobNames, useRun, useRunSteps, useUserNames } from "../api/queries";
import type { Run } from "../api/types";
import { isTerminal } from "../api/types";
import { usePermissions } from "../auth/useSession";
import { formatTime, spanDuration } from "../components/format";
import { IconChevronDown, IconRefresh, IconStop } from "../components/icons";
import { ErrorState, Loading } from "../components/QueryState";
import { StatusBadge } from "../components/StatusBadge";
import { LogStore, type LogFilter } from "../features/runs/logStore";
import { LogViewer } from "../features/runs/LogViewer";
import { followRunEvents, type StreamState } from "../features/runs/sse";
import { buildGrid } from "../features/runs/grid";
import { StepGrid } from "../features/runs/StepGrid";
import { NotFoundPage } from "./NotFoundPage";

function Field({ label, children }: { label: string; children: ReactNode }) {
  return (
    <div>
      <Text size="xs" c="dimmed" tt="uppercase" fw={600}>
        {label}
      </Text>
      <Text size="sm" component="div">
        {children}
      </Text>
    </div>
  );
}

/** Calls `fn` at most once per `ms` (trailing), for invalidations driven by bursts of events. */
function useThrottled(fn: () => void, ms: number): () => void {
  const timer = useRef<ReturnType<typeof setTimeout> | null>(null);
  const fnRef = useRef(fn);
  fnRef.current = fn;
  useEffect(
    () => () => {
      if (timer.current !== null) clearTimeout(timer.current);
    },
    [],
  );
  return useCallback(() => {
    if (timer.current !== null) return;
    timer.current = setTimeout(() => {
      timer.current = null;
      fnRef.current();
    }, ms);
  }, [ms]);
}

function RunActions({ run, hasFailedRows }: { run: Run; hasFailedRows: boolean }) {
  const queryClient = useQueryClient();
  const navigate = useNavigate();
  const [confirmCancel, setConfirmCancel] = useState(false);

  const cancel = useMutation({
    mutationFn: () => api<Run>(`/runs/${run.id}/cancel`, { method: "POST" }),
    onSuccess: (updated) => {
      queryClient.setQueryData(keys.run(run.id), updated);
      void queryClient.invalidateQueries({ queryKey: keys.runs() });
      notifications.show({ color: "orange", message: `Run #${run.id}: cancel requested` });
      setConfirmCancel(false);
    },
    onError: (err) => {
      notifications.show({ color: "red", title: "Cancel failed", message: errorMessage(err) });
      setConfirmCancel(false);
    },
  });

  const rerun = useMutation({
    mutationFn: (onlyFailed: boolean) => api<Run>(`/runs/${run.id}/rerun`, { method: "POST", body: { only_failed_targets: onlyFailed } }),
    onSuccess: (created) => {
      void queryClient.invalidateQueries({ queryKey: keys.runs() });
      notifications.show({ color: "green", message: `Run #${created.id} queued` });
      void navigate(`/runs/${created.id}`);
    },
    onError: (err) => notifications.show({ color: "red", title: "Rerun failed", message: errorMessage(err) }),
  });

  const finished = isTerminal(run.status);
  const someFailed = hasFailedRows || run.status === "failed" || run.status === "canceled";
  return (
    <Group gap="xs">
      {!finished && (
        <Button
          color="red"
          variant="light"
          leftSection={<IconStop size={14} />}
          onClick={() => setConfirmCancel(true)}
          disabled={run.cancel_requested}
          data-testid="run-cancel"
        >
          {run.cancel_requested ? "Canceling…" : "Cancel"}
        </Button>
      )}
      {finished && (
        <Menu position="bottom-end" withinPortal>
          <Menu.Target>
            <Button
              variant="light"
              leftSection={<IconRefresh size={14} />}
              rightSection={<IconChevronDown size={14} />}
              loading={rerun.isPending}
              data-testid="run-rerun"
            >
              Rerun
            </Button>
          </Menu.Target>
          <Menu.Dropdown>
            <Menu.Item onClick={() => rerun.mutate(false)} data-testid="run-rerun-all">
              Rerun on all targets
            </Menu.Item>
            <Menu.Item onClick={() => rerun.mutate(true)} disabled={!someFailed} data-testid="run-rerun-failed">
              Rerun only failed targets
            </Menu.Item>
          </Menu.Dropdown>
        </Menu>
      )}
      <Modal opened={confirmCancel} onClose={() => setConfirmCancel(false)} title={`Cancel run #${run.id}?`} centered>
        <Text size="sm" mb="md">
          Running commands are stopped on every target and unfinished steps are marked aborted.
        </Text>
        <Group justify="flex-end">
          <Button variant="default" onClick={() => setConfirmCancel(false)}>
            Keep running
          </Button>
          <Button color="red" loading={cancel.isPending} onClick={() => cancel.mutate()} data-testid="run-cancel-confirm">
            Cancel run
          </Button>
        </Group>
      </Modal>
    </Group>
  );
}

function RunView({ id }: { id: number }) {
  const queryClient = useQueryClient();
  const run = useRun(id);
  const steps = useRunSteps(id);
  const jobNames = useJobNames();
  const userNames = useUserNames();
  const { canOperate } = usePermissions();
  const [store] = useState(() => new LogStore());
  const [filter, setFilter] = useState<LogFilter>({ step: null, target: null });
  const [stream, setStream] = useState<StreamState>({ kind: "connecting" });

  const refreshSteps = useThrottled(() => void queryClient.invalidateQueries({ queryKey: keys.runSteps(id) }), 750);
  const refreshRun = useThrottled(() => {
    void queryClient.invalidateQueries({ queryKey: keys.run(id) });
    void queryClient.invalidateQueries({ queryKey: keys.runSteps(id) });
  }, 250);

  useEffect(() => {
    const ctrl = new AbortController();
    void followRunEvents(id, {
      // Resume after what the store already holds (React may run this effect twice).
      after: store.lastSeq,
      signal: ctrl.signal,
      onState: setStream,
      onEvent: (ev) => {
        store.append(ev);
        if (ev.kind === "step") refreshSteps();
        else if (ev.kind === "status") refreshRun();
      },
    });
    return () => ctrl.abort();
  }, [id, store, refreshSteps, refreshRun]);

  const grid = useMemo(() => buildGrid(steps.data ?? []), [steps.data]);
  const targetNames = useMemo(() => new Map(grid.targets.map((t) => [t.id, t.name])), [grid]);
  const stepNames = useMemo(() => new Map(grid.steps.map((s) => [s.idx, s.label])), [grid]);
  const stepLabel = useCallback((s: number) => `#${s + 1} ${stepNames.get(s) ?? ""}`.trim(), [stepNames]);
  const targetLabel = useCallback((t: number) => targetNames.get(t) ?? `target #${t}`, [targetNames]);

  const changeFilter = (next: LogFilter) => {
    const same = next.step === filter.step && next.target === filter.target;
    const value = same ? { step: null, target: null } : next;
    setFilter(value);
    store.setFilter(value);
  };

  if (run.error && !run.data) return <ErrorState error={run.error} onRetry={() => void run.refetch()} />;
  if (!run.data) return <Loading />;
  const r = run.data;

  return (
    <Stack gap="md">
      <Group justify="space-between" align="flex-start">
        <Group gap="sm">
          <Title order={2}>Run #{r.id}</Title>
          <StatusBadge status={r.status} size="lg" testId="run-status" />
        </Group>
        {canOperate && <RunActions run={r} hasFailedRows={(steps.data ?? []).some((s) => s.status === "failed" || s.status === "aborted")} />}
      </Group>

      {r.error && (
        <Alert color={r.status === "canceled" ? "orange" : "red"} data-testid="run-error">
          {r.error}
        </Alert>
      )}

      <Card withBorder padding="md">
        <SimpleGrid cols={{ base: 2, sm: 3, lg: 6 }} spacing="md">
          <Field label="Job">
            <Anchor component={Link} to={`/runs?job_id=${r.job_id}`} data-testid="run-job">
              {jobNames.get(r.job_id) ?? `job #${r.job_id}`}
            </Anchor>{" "}
            <Text span size="xs" c="dimmed">
              rev {r.job_revision}
            </Text>
          </Field>
          <Field label="Requested by">
            <span data-testid="run-requested-by">{userNames.get(r.requested_by) ?? `user #${r.requested_by}`}</span>
          </Field>
          <Field label="Queued">{formatTime(r.queued_at)}</Field>
          <Field label="Started">{formatTime(r.started_at)}</Field>
          <Field label="Finished">{formatTime(r.finished_at)}</Field>
          <Field label="Duration">{r.started_at ? spanDuration(r.started_at, r.finished_at) : "—"}</Field>
          {r.rerun_of !== null && (
            <Field label="Rerun of">
              <Anchor component={Link} to={`/runs/${r.rerun_of}`}>
                #{r.rerun_of}
              </Anchor>
            </Field>
          )}
          {r.canceled_by && <Field label="Canceled by">{r.canceled_by}</Field>}
          {r.worker_id && <Field label="Worker">{r.worker_id}{r.attempt > 1 ? ` (attempt ${r.attempt})` : ""}</Field>}
        </SimpleGrid>
        {Object.keys(r.parameters).length > 0 && (
          <Stack gap={4} mt="md">
            <Text size="xs" c="dimmed" tt="uppercase" fw={600}>
              Parameters
            </Text>
            <Code block data-testid="run-parameters">
              {JSON.stringify(r.parameters, null, 2)}
            </Code>
          </Stack>
        )}
      </Card>

      <Card withBorder padding="md">
        <Title order={4} mb="sm">
          Steps
        </Title>
        {steps.error && !steps.data ? (
          <ErrorState error={steps.error} onRetry={() => void steps.refetch()} />
        ) : !steps.data ? (
          <Loading />
        ) : steps.data.length === 0 ? (
          <Text c="dimmed" size="sm">
            This run has no steps.
          </Text>
        ) : (
          <StepGrid grid={grid} filter={filter} onSelect={changeFilter} />
        )}
      </Card>

      <Card withBorder padding="md">
        <Title order={4} mb="sm">
          Output
        </Title>
        <LogViewer
          runId={id}
          store={store}
          filter={filter}
          onFilterChange={changeFilter}
          stepLabel={stepLabel}
          targetLabel={targetLabel}
          stepOptions={grid.steps.map((s) => s.idx)}
          targetOptions={grid.targets.flatMap((t) => (t.id === null ? [] : [t.id]))}
          stream={stream}
          height="min(70vh, 640px)"
        />
      </Card>
    </Stack>
  );
}

export default function RunPage() {
  const { id } = useParams();
  const runId = Number(id);
  if (!Number.isInteger(runId) || runId <= 0) return <NotFoundPage />;
  return <RunView key={runId} id={runId} />;
}
