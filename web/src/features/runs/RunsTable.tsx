import { Anchor, Table, Text } from "@mantine/core";
import { Link, useNavigate } from "react-router";
import { useJobNames, useUserNames } from "../../api/queries";
import type { Run } from "../../api/types";
import { formatRelative, formatTime, spanDuration } from "../../components/format";
import { StatusBadge } from "../../components/StatusBadge";

/** Runs as a table; a row opens the run. */
export function RunsTable({ runs, compact = false, testId = "runs-table" }: { runs: Run[]; compact?: boolean; testId?: string }) {
  const jobNames = useJobNames();
  const userNames = useUserNames();
  const navigate = useNavigate();
  return (
    <Table.ScrollContainer minWidth={compact ? 420 : 640}>
      <Table highlightOnHover verticalSpacing={compact ? 4 : "xs"} data-testid={testId}>
        <Table.Thead>
          <Table.Tr>
            <Table.Th w={70}>Run</Table.Th>
            <Table.Th>Job</Table.Th>
            <Table.Th>Status</Table.Th>
            {!compact && <Table.Th>Requested by</Table.Th>}
            <Table.Th>Queued</Table.Th>
            <Table.Th>Duration</Table.Th>
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {runs.map((run) => (
            <Table.Tr
              key={run.id}
              className="opsc-clickable-row"
              data-testid={`run-row-${run.id}`}
              onClick={() => void navigate(`/runs/${run.id}`)}
            >
              <Table.Td>
                <Anchor component={Link} to={`/runs/${run.id}`} onClick={(e) => e.stopPropagation()}>
                  #{run.id}
                </Anchor>
              </Table.Td>
              <Table.Td>
                <Text size="sm" truncate maw={260}>
                  {jobNames.get(run.job_id) ?? `job #${run.job_id}`}
                </Text>
              </Table.Td>
              <Table.Td>
                <StatusBadge status={run.status} testId="run-row-status" />
              </Table.Td>
              {!compact && <Table.Td>{userNames.get(run.requested_by) ?? `user #${run.requested_by}`}</Table.Td>}
              <Table.Td title={formatTime(run.queued_at)}>{formatRelative(run.queued_at)}</Table.Td>
              <Table.Td>{run.started_at ? spanDuration(run.started_at, run.finished_at) : "—"}</Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
    </Table.ScrollContainer>
  );
}
