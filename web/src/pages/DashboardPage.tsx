import { Anchor, Badge, Card, Group, SimpleGrid, Skeleton, Stack, Text, Title } from "@mantine/core";
import { useQuery } from "@tanstack/react-query";
import type { ReactNode } from "react";
import { Link } from "react-router";
import { api } from "../api/client";
import { keys, useExecutorStatus, useRuns } from "../api/queries";
import type { CredentialList, JobList, TargetList } from "../api/types";
import { Empty, ErrorState, Loading } from "../components/QueryState";
import { PageHeader } from "../components/PageHeader";
import { RunsTable } from "../features/runs/RunsTable";

function useTotal(key: readonly unknown[], path: string, query: Record<string, string | number | boolean> = {}) {
  return useQuery({
    queryKey: [...key, "total"],
    queryFn: async ({ signal }) => {
      const res = await api<JobList | TargetList | CredentialList>(path, { query: { ...query, limit: 1 }, signal });
      return res.total;
    },
    staleTime: 30_000,
  });
}

function StatCard({ label, value, to, testId, loading, error }: { label: string; value: ReactNode; to: string; testId: string; loading: boolean; error: unknown }) {
  return (
    <Card withBorder padding="md" data-testid={testId}>
      <Text size="xs" c="dimmed" tt="uppercase" fw={600}>
        {label}
      </Text>
      {loading ? (
        <Skeleton h={32} mt={6} w={60} />
      ) : error ? (
        <Text c="red" size="sm" mt={6}>
          unavailable
        </Text>
      ) : (
        <Anchor component={Link} to={to} fz={28} fw={700} c="inherit" underline="hover" data-testid={`${testId}-value`}>
          {value}
        </Anchor>
      )}
    </Card>
  );
}

function ExecutorCard() {
  const status = useExecutorStatus();
  return (
    <Card withBorder padding="md" data-testid="executor-status">
      <Title order={4} mb="sm">
        Queue and workers
      </Title>
      {status.error && !status.data ? (
        <ErrorState error={status.error} onRetry={() => void status.refetch()} />
      ) : !status.data ? (
        <Loading />
      ) : (
        <Stack gap="xs">
          <Group gap="xs">
            <Badge color={status.data.worker_running ? "green" : "red"} variant="light" data-testid="worker-running">
              worker {status.data.worker_running ? "running" : "stopped"}
            </Badge>
            <Badge color={status.data.worker_enabled ? "blue" : "gray"} variant="light">
              {status.data.worker_enabled ? "worker role on this node" : "no worker role on this node"}
            </Badge>
          </Group>
          {status.data.runs && (
            <Group gap="lg">
              <Text size="sm">
                Runs queued: <b data-testid="runs-queued">{status.data.runs.queued}</b>
              </Text>
              <Text size="sm">
                Runs running: <b data-testid="runs-running">{status.data.runs.running}</b>
              </Text>
            </Group>
          )}
          <Text size="xs" c="dimmed">
            Steps (now and in the last 24 h)
          </Text>
          <SimpleGrid cols={{ base: 2, xs: 4 }} spacing="xs">
            <Text size="sm">queued {status.data.queue_stats.queued_steps}</Text>
            <Text size="sm">running {status.data.queue_stats.running_steps}</Text>
            <Text size="sm" c="green">
              succeeded {status.data.queue_stats.succeeded_steps}
            </Text>
            <Text size="sm" c="red">
              failed {status.data.queue_stats.failed_steps}
            </Text>
          </SimpleGrid>
        </Stack>
      )}
    </Card>
  );
}

export function DashboardPage() {
  const jobs = useTotal(keys.jobs(), "/jobs");
  const targets = useTotal(keys.targets(), "/targets");
  const credentials = useTotal(keys.credentials(), "/credentials");
  const recent = useRuns({ limit: 10 }, { refetchInterval: 10_000 });
  const failures = useRuns({ status: "failed", limit: 5 }, { refetchInterval: 30_000 });

  return (
    <Stack gap="md">
      <PageHeader title="Dashboard" />
      <SimpleGrid cols={{ base: 1, xs: 3 }}>
        <StatCard label="Active jobs" value={jobs.data} to="/jobs" testId="stat-jobs" loading={jobs.isPending} error={jobs.error} />
        <StatCard label="Targets" value={targets.data} to="/targets" testId="stat-targets" loading={targets.isPending} error={targets.error} />
        <StatCard
          label="Credentials"
          value={credentials.data}
          to="/credentials"
          testId="stat-credentials"
          loading={credentials.isPending}
          error={credentials.error}
        />
      </SimpleGrid>
      <SimpleGrid cols={{ base: 1, lg: 2 }}>
        <Card withBorder padding="md" data-testid="recent-runs">
          <Group justify="space-between" mb="sm">
            <Title order={4}>Recent runs</Title>
            <Anchor component={Link} to="/runs" size="sm">
              All runs
            </Anchor>
          </Group>
          {recent.error && !recent.data ? (
            <ErrorState error={recent.error} onRetry={() => void recent.refetch()} />
          ) : !recent.data ? (
            <Loading />
          ) : recent.data.runs.length === 0 ? (
            <Empty>No runs yet. Start one from the Jobs page.</Empty>
          ) : (
            <RunsTable runs={recent.data.runs} compact testId="recent-runs-table" />
          )}
        </Card>
        <Stack gap="md">
          <ExecutorCard />
          <Card withBorder padding="md" data-testid="recent-failures">
            <Group justify="space-between" mb="sm">
              <Title order={4}>Recent failures</Title>
              <Anchor component={Link} to="/runs?status=failed" size="sm">
                All failed runs
              </Anchor>
            </Group>
            {failures.error && !failures.data ? (
              <ErrorState error={failures.error} onRetry={() => void failures.refetch()} />
            ) : !failures.data ? (
              <Loading />
            ) : failures.data.runs.length === 0 ? (
              <Empty>No failed runs.</Empty>
            ) : (
              <RunsTable runs={failures.data.runs} compact testId="recent-failures-table" />
            )}
          </Card>
        </Stack>
      </SimpleGrid>
    </Stack>
  );
}
