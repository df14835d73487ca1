import { Button, Card, Group, Select, Stack } from "@mantine/core";
import { useSearchParams } from "react-router";
import { useJobs, useRuns } from "../api/queries";
import { RUN_STATUSES } from "../api/types";
import { Pager } from "../components/Pager";
import { PageHeader } from "../components/PageHeader";
import { Empty, ErrorState, Loading } from "../components/QueryState";
import { RunsTable } from "../features/runs/RunsTable";

const PAGE_SIZE = 25;

export default function RunsPage() {
  const [params, setParams] = useSearchParams();
  const jobId = params.get("job_id");
  const status = params.get("status");
  const page = Math.max(1, Number(params.get("page") ?? "1") || 1);
  const jobs = useJobs({ active_only: false, limit: 1000 });

  const runs = useRuns(
    { job_id: jobId, status, skip: (page - 1) * PAGE_SIZE, limit: PAGE_SIZE },
    { refetchInterval: 5_000 },
  );

  const update = (changes: Record<string, string | null>) => {
    const next = new URLSearchParams(params);
    for (const [k, v] of Object.entries(changes)) {
      if (v === null || v === "") next.delete(k);
      else next.set(k, v);
    }
    if (!("page" in changes)) next.delete("page");
    setParams(next, { replace: true });
  };

  return (
    <Stack gap="md">
      <PageHeader title="Runs" description="Refreshes every 5 seconds" />
      <Card withBorder padding="md">
        <Group mb="sm" align="flex-end" gap="sm">
          <Select
            label="Job"
            placeholder="All jobs"
            searchable
            clearable
            data={(jobs.data?.jobs ?? []).map((j) => ({ value: String(j.id), label: j.name }))}
            value={jobId}
            onChange={(v) => update({ job_id: v })}
            w={260}
            data-testid="runs-filter-job"
            nothingFoundMessage="No such job"
          />
          <Select
            label="Status"
            placeholder="Any status"
            clearable
            data={RUN_STATUSES.map((s) => ({ value: s, label: s }))}
            value={status}
            onChange={(v) => update({ status: v })}
            w={180}
            data-testid="runs-filter-status"
          />
          {(jobId || status) && (
            <Button variant="subtle" onClick={() => update({ job_id: null, status: null })}>
              Clear filters
            </Button>
          )}
        </Group>
        {runs.error && !runs.data ? (
          <ErrorState error={runs.error} onRetry={() => void runs.refetch()} />
        ) : !runs.data ? (
          <Loading />
        ) : runs.data.runs.length === 0 ? (
          <Empty>{jobId || status ? "No runs match these filters." : "No runs yet. Start one from the Jobs page."}</Empty>
        ) : (
          <>
            <RunsTable runs={runs.data.runs} />
            <Pager page={page} pageSize={PAGE_SIZE} total={runs.data.total} onChange={(p) => update({ page: String(p) })} />
          </>
        )}
      </Card>
    </Stack>
  );
}
