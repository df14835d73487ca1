import { Alert, Badge, Button, Card, Group, Stack, Table, Text, TextInput } from "@mantine/core";
import { useDebouncedValue } from "@mantine/hooks";
import { useMutation } from "@tanstack/react-query";
import { useMemo, useState } from "react";
import { api } from "../api/client";
import { errorMessage } from "../api/errors";
import { useAudit } from "../api/queries";
import type { AuditVerify } from "../api/types";
import { formatTime } from "../components/format";
import { Pager } from "../components/Pager";
import { PageHeader } from "../components/PageHeader";
import { Empty, ErrorState, Loading } from "../components/QueryState";

const PAGE_SIZE = 50;

export default function AuditPage() {
  const [actor, setActor] = useState("");
  const [action, setAction] = useState("");
  const [resourceType, setResourceType] = useState("");
  const [page, setPage] = useState(1);
  // A stable object: a new one on every render would restart the debounce timer for ever.
  const typed = useMemo(() => ({ actor: actor.trim(), action: action.trim(), resource_type: resourceType.trim() }), [actor, action, resourceType]);
  const [filters] = useDebouncedValue(typed, 300);
  const audit = useAudit({ ...filters, skip: (page - 1) * PAGE_SIZE, limit: PAGE_SIZE });
  const verify = useMutation({ mutationFn: () => api<AuditVerify>("/audit/verify") });

  const filterInput = (label: string, value: string, set: (v: string) => void) => (
    <TextInput
      label={label}
      value={value}
      onChange={(e) => {
        set(e.currentTarget.value);
        setPage(1);
      }}
      w={180}
    />
  );

  return (
    <Stack gap="md">
      <PageHeader
        title="Audit log"
        description="Every change and sign-in, hash-chained so that an edited or deleted entry shows."
        actions={
          <Button variant="light" loading={verify.isPending} onClick={() => verify.mutate()} data-testid="audit-verify">
            Verify chain
          </Button>
        }
      />
      {verify.data && (
        <Alert color={verify.data.valid ? "green" : "red"} data-testid="audit-verify-result">
          {verify.data.valid ? `The chain is intact (${verify.data.entries} entries).` : `The chain is broken: ${JSON.stringify(verify.data)}`}
        </Alert>
      )}
      {verify.error && <Alert color="red">{errorMessage(verify.error)}</Alert>}
      <Card withBorder padding="md">
        <Group mb="sm" gap="sm" align="flex-end">
          {filterInput("Actor", actor, setActor)}
          {filterInput("Action", action, setAction)}
          {filterInput("Resource type", resourceType, setResourceType)}
        </Group>
        {audit.error && !audit.data ? (
          <ErrorState error={audit.error} onRetry={() => void audit.refetch()} />
        ) : !audit.data ? (
          <Loading />
        ) : audit.data.entries.length === 0 ? (
          <Empty>No entries match.</Empty>
        ) : (
          <>
            <Table.ScrollContainer minWidth={760}>
              <Table highlightOnHover verticalSpacing={4} data-testid="audit-table">
                <Table.Thead>
                  <Table.Tr>
                    <Table.Th>Time</Table.Th>
                    <Table.Th>Actor</Table.Th>
                    <Table.Th>Action</Table.Th>
                    <Table.Th>Resource</Table.Th>
                    <Table.Th>Outcome</Table.Th>
                    <Table.Th>IP</Table.Th>
                  </Table.Tr>
                </Table.Thead>
                <Table.Tbody>
                  {audit.data.entries.map((e) => (
                    <Table.Tr key={e.id}>
                      <Table.Td>
                        <Text size="xs">{formatTime(e.ts)}</Text>
                      </Table.Td>
                      <Table.Td>{e.actor ?? "—"}</Table.Td>
                      <Table.Td>
                        <Text size="sm" ff="monospace">
                          {e.action}
                        </Text>
                      </Table.Td>
                      <Table.Td>
                        {e.resource_type ?? ""}
                        {e.resource_id ? ` #${e.resource_id}` : ""}
                      </Table.Td>
                      <Table.Td>
                        <Badge size="sm" variant="light" color={e.outcome === "success" ? "green" : "red"}>
                          {e.outcome} {e.status_code}
                        </Badge>
                      </Table.Td>
                      <Table.Td>
                        <Text size="xs">{e.ip ?? "—"}</Text>
                      </Table.Td>
                    </Table.Tr>
                  ))}
                </Table.Tbody>
              </Table>
            </Table.ScrollContainer>
            <Pager page={page} pageSize={PAGE_SIZE} total={audit.data.total} onChange={setPage} />
          </>
        )}
      </Card>
    </Stack>
  );
}
