import { Stack, Table, Text, Tooltip } from "@mantine/core";
import type { RunStep } from "../../api/types";
import { spanDuration } from "../../components/format";
import { StatusBadge } from "../../components/StatusBadge";
import { cellKey, type GridModel } from "./grid";
import type { LogFilter } from "./logStore";

function CellDetails({ row }: { row: RunStep }) {
  return (
    <Stack gap={2}>
      <Text size="xs">
        {row.status}
        {row.exit_code !== null ? ` · exit ${row.exit_code}` : ""}
        {row.attempts > 1 ? ` · ${row.attempts} attempts` : ""}
      </Text>
      {row.started_at && <Text size="xs">{spanDuration(row.started_at, row.finished_at)}</Text>}
      {row.error && (
        <Text size="xs" maw={320} style={{ whiteSpace: "pre-wrap" }}>
          {row.error}
        </Text>
      )}
      <Text size="xs" c="dimmed">
        Click to show only this output
      </Text>
    </Stack>
  );
}

/** One row per target, one column per step; a cell filters the log to that step on that target. */
export function StepGrid({ grid, filter, onSelect }: { grid: GridModel; filter: LogFilter; onSelect: (f: LogFilter) => void }) {
  return (
    <Table.ScrollContainer minWidth={Math.max(360, 180 + grid.steps.length * 120)}>
      <Table withColumnBorders withTableBorder verticalSpacing={6} data-testid="step-grid">
        <Table.Thead>
          <Table.Tr>
            <Table.Th>Target</Table.Th>
            {grid.steps.map((s) => (
              <Table.Th
                key={s.idx}
                className="opsc-grid-cell"
                data-selected={filter.step === s.idx && filter.target === null}
                onClick={() => onSelect({ step: s.idx, target: null })}
                title={`${s.type}: show only this step's output`}
              >
                <Text size="xs" c="dimmed">
                  #{s.idx + 1}
                </Text>
                <Text size="sm" fw={500} truncate maw={180}>
                  {s.label}
                </Text>
              </Table.Th>
            ))}
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {grid.targets.map((t) => (
            <Table.Tr key={t.id ?? "none"} data-testid={`step-grid-row-${t.id ?? "none"}`}>
              <Table.Td
                className="opsc-grid-cell"
                data-selected={filter.target === t.id && filter.step === null && t.id !== null}
                onClick={() => onSelect({ step: null, target: t.id })}
              >
                <Text size="sm" truncate maw={220}>
                  {t.name}
                </Text>
              </Table.Td>
              {grid.steps.map((s) => {
                const row = grid.cell.get(cellKey(s.idx, t.id));
                if (!row) {
                  return (
                    <Table.Td key={s.idx}>
                      <Text size="xs" c="dimmed">
                        —
                      </Text>
                    </Table.Td>
                  );
                }
                return (
                  <Table.Td
                    key={s.idx}
                    className="opsc-grid-cell"
                    data-selected={filter.step === s.idx && filter.target === t.id}
                    onClick={() => onSelect({ step: s.idx, target: t.id })}
                    data-testid={`step-cell-${s.idx}-${t.id ?? "none"}`}
                  >
                    <Tooltip label={<CellDetails row={row} />} withinPortal multiline>
                      <span>
                        <StatusBadge status={row.status} size="sm" testId="step-status" />
                        {row.exit_code !== null && row.exit_code !== 0 && (
                          <Text span size="xs" c="dimmed" ml={4}>
                            exit {row.exit_code}
                          </Text>
                        )}
                      </span>
                    </Tooltip>
                  </Table.Td>
                );
              })}
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
    </Table.ScrollContainer>
  );
}
