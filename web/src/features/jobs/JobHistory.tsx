import { Badge, Box, Card, Group, NativeSelect, Stack, Text } from "@mantine/core";
import { useMemo, useState } from "react";
import { useJobVersion, useJobVersions, useUserNames } from "../../api/queries";
import type { JobVersion } from "../../api/types";
import { formatTime } from "../../components/format";
import { Empty, ErrorState, Loading } from "../../components/QueryState";
import { canonicalJson, collapse, diffLines } from "./diff";

function label(v: JobVersion, users: Map<number, string>): string {
  const who = v.created_by === null ? "" : ` by ${users.get(v.created_by) ?? `user ${v.created_by}`}`;
  return `rev ${v.revision} · v${v.version} · ${formatTime(v.created_at)}${who}`;
}

function Diff({ before, after }: { before: unknown; after: unknown }) {
  const rows = useMemo(() => collapse(diffLines(canonicalJson(before).split("\n"), canonicalJson(after).split("\n"))), [before, after]);
  const changes = rows.filter((r) => r.op === "add" || r.op === "del").length;
  return (
    <Stack gap={4}>
      <Text size="sm" c="dimmed" data-testid="job-diff-summary">
        {changes === 0 ? "No difference." : `${changes} changed ${changes === 1 ? "line" : "lines"}`}
      </Text>
      <Box
        data-testid="job-diff"
        style={{ fontFamily: "monospace", fontSize: 12, overflowX: "auto", border: "1px solid var(--mantine-color-default-border)", borderRadius: 4 }}
      >
        {rows.map((r, i) =>
          r.op === "skip" ? (
            <Box key={i} px="xs" py={2} c="dimmed" bg="var(--mantine-color-default-hover)" data-testid="job-diff-skip">
              ⋯ {r.count} unchanged {r.count === 1 ? "line" : "lines"}
            </Box>
          ) : (
            <Box
              key={i}
              data-op={r.op}
              style={{
                whiteSpace: "pre",
                paddingInline: 8,
                background: r.op === "add" ? "var(--mantine-color-green-light)" : r.op === "del" ? "var(--mantine-color-red-light)" : undefined,
                color: r.op === "add" ? "var(--mantine-color-green-light-color)" : r.op === "del" ? "var(--mantine-color-red-light-color)" : undefined,
              }}
            >
              <span style={{ display: "inline-block", width: 32, opacity: 0.6, textAlign: "right", marginRight: 8 }}>{r.newNo ?? r.oldNo}</span>
              {r.op === "add" ? "+ " : r.op === "del" ? "- " : "  "}
              {r.text}
            </Box>
          ),
        )}
      </Box>
    </Stack>
  );
}

/** The kept revisions of a job, and a line diff between any two of them. */
export function JobHistory({ jobId }: { jobId: number }) {
  const versions = useJobVersions(jobId);
  const users = useUserNames();
  const list = versions.data?.versions ?? [];
  const [from, setFrom] = useState<number | null>(null);
  const [to, setTo] = useState<number | null>(null);
  // Defaults: the newest revision against the one before it.
  const toRev = to ?? list[0]?.revision ?? null;
  const fromRev = from ?? list.find((v) => toRev !== null && v.revision < toRev)?.revision ?? toRev;
  const before = useJobVersion(jobId, fromRev);
  const after = useJobVersion(jobId, toRev);

  if (versions.error && !versions.data) return <ErrorState error={versions.error} onRetry={() => void versions.refetch()} />;
  if (!versions.data) return <Loading />;
  if (list.length === 0) return <Empty>No kept revisions.</Empty>;
  const options = list.map((v) => ({ value: String(v.revision), label: label(v, users) }));
  const failed = before.error ?? after.error;
  return (
    <Stack gap="md">
      <Card withBorder padding="sm">
        <Stack gap={4}>
          {list.map((v) => (
            <Group key={v.revision} gap="xs" data-testid={`job-version-${v.revision}`}>
              <Badge variant="light">rev {v.revision}</Badge>
              <Text size="sm">{label(v, users).split(" · ").slice(1).join(" · ")}</Text>
            </Group>
          ))}
        </Stack>
      </Card>
      <Group grow align="flex-end" wrap="wrap">
        <NativeSelect label="From" data={options} value={fromRev === null ? "" : String(fromRev)} onChange={(e) => setFrom(Number(e.currentTarget.value))} miw={220} data-testid="job-diff-from" />
        <NativeSelect label="To" data={options} value={toRev === null ? "" : String(toRev)} onChange={(e) => setTo(Number(e.currentTarget.value))} miw={220} data-testid="job-diff-to" />
      </Group>
      {failed ? (
        <ErrorState error={failed} />
      ) : before.data && after.data ? (
        <Diff before={before.data.definition} after={after.data.definition} />
      ) : (
        <Loading />
      )}
    </Stack>
  );
}
