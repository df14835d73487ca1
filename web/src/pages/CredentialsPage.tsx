import { Badge, Card, Stack, Table, Text } from "@mantine/core";
import { useState } from "react";
import { useCredentials } from "../api/queries";
import { formatRelative, formatTime } from "../components/format";
import { Pager } from "../components/Pager";
import { PageHeader } from "../components/PageHeader";
import { Empty, ErrorState, Loading } from "../components/QueryState";

const PAGE_SIZE = 50;

export default function CredentialsPage() {
  const [page, setPage] = useState(1);
  const credentials = useCredentials({ skip: (page - 1) * PAGE_SIZE, limit: PAGE_SIZE });
  return (
    <Stack gap="md">
      <PageHeader title="Credentials" description="Secrets are stored encrypted and never shown here." />
      <Card withBorder padding="md">
        {credentials.error && !credentials.data ? (
          <ErrorState error={credentials.error} onRetry={() => void credentials.refetch()} />
        ) : !credentials.data ? (
          <Loading />
        ) : credentials.data.credentials.length === 0 ? (
          <Empty>No credentials yet.</Empty>
        ) : (
          <>
            <Table.ScrollContainer minWidth={560}>
              <Table highlightOnHover data-testid="credentials-table">
                <Table.Thead>
                  <Table.Tr>
                    <Table.Th>Name</Table.Th>
                    <Table.Th>Type</Table.Th>
                    <Table.Th>Description</Table.Th>
                    <Table.Th>Updated</Table.Th>
                  </Table.Tr>
                </Table.Thead>
                <Table.Tbody>
                  {credentials.data.credentials.map((c) => (
                    <Table.Tr key={c.id} data-testid={`credential-row-${c.id}`}>
                      <Table.Td>
                        <Text size="sm" fw={500}>
                          {c.name}
                        </Text>
                      </Table.Td>
                      <Table.Td>
                        <Badge variant="light" size="sm" tt="none">
                          {c.credential_type}
                        </Badge>
                      </Table.Td>
                      <Table.Td>
                        <Text size="sm" c={c.description ? undefined : "dimmed"}>
                          {c.description ?? "—"}
                        </Text>
                      </Table.Td>
                      <Table.Td title={formatTime(c.updated_at ?? c.created_at)}>{formatRelative(c.updated_at ?? c.created_at)}</Table.Td>
                    </Table.Tr>
                  ))}
                </Table.Tbody>
              </Table>
            </Table.ScrollContainer>
            <Pager page={page} pageSize={PAGE_SIZE} total={credentials.data.total} onChange={setPage} />
          </>
        )}
      </Card>
    </Stack>
  );
}
