import { Anchor, Badge, Button, Card, Code, Group, Modal, Stack, Switch, Table, TextInput } from "@mantine/core";
import { useState } from "react";
import { Link } from "react-router";
import { useJobs } from "../api/queries";
import type { Job } from "../api/types";
import { usePermissions } from "../auth/useSession";
import { formatRelative, formatTime } from "../components/format";
import { IconRuns } from "../components/icons";
import { PageHeader } from "../components/PageHeader";
import { Empty, ErrorState, Loading } from "../components/QueryState";
import { RunJobDialog } from "../features/jobs/RunJobDialog";

function stepCount(job: Job): number {
  return Array.isArray(job.definition.steps) ? job.definition.steps.length : 0;
}

export default function JobsPage() {
  const [showInactive, setShowInactive] = useState(false);
  const [search, setSearch] = useState("");
  const [running, setRunning] = useState<Job | null>(null);
  const [viewing, setViewing] = useState<Job | null>(null);
  const { canOperate } = usePermissions();
  const jobs = useJobs({ active_only: !showInactive, limit: 1000 });

  const needle = search.trim().toLowerCase();
  const rows = (jobs.data?.jobs ?? []).filter((j) => !needle || j.name.toLowerCase().includes(needle));

  return (
    <Stack gap="md">
      <PageHeader
        title="Jobs"
        description="Multi-step jobs run on demand against your targets."
        actions={
          canOperate && (
            <Button component={Link} to="/jobs/new" data-testid="jobs-new">
              New job
            </Button>
          )
        }
      />
      <Card withBorder padding="md">
        <Group mb="sm" gap="md" align="flex-end">
          <TextInput label="Search" placeholder="Job name" value={search} onChange={(e) => setSearch(e.currentTarget.value)} w={260} data-testid="jobs-search" />
          <Switch label="Show inactive jobs" checked={showInactive} onChange={(e) => setShowInactive(e.currentTarget.checked)} mb={6} />
        </Group>
        {jobs.error && !jobs.data ? (
          <ErrorState error={jobs.error} onRetry={() => void jobs.refetch()} />
        ) : !jobs.data ? (
          <Loading />
        ) : rows.length === 0 ? (
          <Empty>{needle ? "No job matches this search." : canOperate ? "No jobs yet: create one with New job." : "No jobs yet."}</Empty>
        ) : (
          <Table.ScrollContainer minWidth={640}>
            <Table highlightOnHover data-testid="jobs-table">
              <Table.Thead>
                <Table.Tr>
                  <Table.Th>Name</Table.Th>
                  <Table.Th>Steps</Table.Th>
                  <Table.Th>Version</Table.Th>
                  <Table.Th>Updated</Table.Th>
                  <Table.Th />
                </Table.Tr>
              </Table.Thead>
              <Table.Tbody>
                {rows.map((job) => (
                  <Table.Tr key={job.id} data-testid={`job-row-${job.id}`}>
                    <Table.Td>
                      <Group gap="xs">
                        <Anchor component={Link} to={`/jobs/${job.id}`} size="sm" fw={500} data-testid={`job-link-${job.id}`}>
                          {job.name}
                        </Anchor>
                        {!job.is_active && (
                          <Badge size="xs" color="gray" variant="light">
                            inactive
                          </Badge>
                        )}
                      </Group>
                    </Table.Td>
                    <Table.Td>{stepCount(job)}</Table.Td>
                    <Table.Td>
                      v{job.version} · rev {job.revision}
                    </Table.Td>
                    <Table.Td title={formatTime(job.updated_at)}>{formatRelative(job.updated_at)}</Table.Td>
                    <Table.Td>
                      <Group gap="xs" justify="flex-end" wrap="nowrap">
                        <Button size="xs" variant="subtle" onClick={() => setViewing(job)}>
                          Definition
                        </Button>
                        <Button size="xs" variant="subtle" component={Link} to={`/runs?job_id=${job.id}`}>
                          Runs
                        </Button>
                        {canOperate && job.is_active && (
                          <Button size="xs" leftSection={<IconRuns size={12} />} onClick={() => setRunning(job)} data-testid={`job-run-${job.id}`}>
                            Run
                          </Button>
                        )}
                      </Group>
                    </Table.Td>
                  </Table.Tr>
                ))}
              </Table.Tbody>
            </Table>
          </Table.ScrollContainer>
        )}
      </Card>
      {running && <RunJobDialog key={running.id} job={running} opened onClose={() => setRunning(null)} />}
      <Modal opened={viewing !== null} onClose={() => setViewing(null)} title={viewing?.name} size="xl">
        {viewing && (
          <Code block data-testid="job-definition">
            {JSON.stringify(viewing.definition, null, 2)}
          </Code>
        )}
      </Modal>
    </Stack>
  );
}
