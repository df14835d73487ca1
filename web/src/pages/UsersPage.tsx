import { Badge, Card, Stack, Table, Text } from "@mantine/core";
import { useState } from "react";
import { useUsers } from "../api/queries";
import type { Role } from "../api/types";
import { formatTime } from "../components/format";
import { Pager } from "../components/Pager";
import { PageHeader } from "../components/PageHeader";
import { Empty, ErrorState, Loading } from "../components/QueryState";

const PAGE_SIZE = 50;
const ROLE_COLORS: Record<Role, string> = { admin: "red", operator: "blue", viewer: "gray" };

export default function UsersPage() {
  const [page, setPage] = useState(1);
  const users = useUsers({ skip: (page - 1) * PAGE_SIZE, limit: PAGE_SIZE });
  return (
    <Stack gap="md">
      <PageHeader title="Users" />
      <Card withBorder padding="md">
        {users.error && !users.data ? (
          <ErrorState error={users.error} onRetry={() => void users.refetch()} />
        ) : !users.data ? (
          <Loading />
        ) : users.data.users.length === 0 ? (
          <Empty>No users.</Empty>
        ) : (
          <>
            <Table.ScrollContainer minWidth={560}>
              <Table highlightOnHover data-testid="users-table">
                <Table.Thead>
                  <Table.Tr>
                    <Table.Th>Username</Table.Th>
                    <Table.Th>Email</Table.Th>
                    <Table.Th>Role</Table.Th>
                    <Table.Th>Created</Table.Th>
                  </Table.Tr>
                </Table.Thead>
                <Table.Tbody>
                  {users.data.users.map((u) => (
                    <Table.Tr key={u.id} data-testid={`user-row-${u.id}`}>
                      <Table.Td>
                        <Text size="sm" fw={500}>
                          {u.username}
                        </Text>
                      </Table.Td>
                      <Table.Td>{u.email}</Table.Td>
                      <Table.Td>
                        <Badge color={ROLE_COLORS[u.role]} variant="light" size="sm">
                          {u.role}
                        </Badge>
                      </Table.Td>
                      <Table.Td>{formatTime(u.created_at)}</Table.Td>
                    </Table.Tr>
                  ))}
                </Table.Tbody>
              </Table>
            </Table.ScrollContainer>
            <Pager page={page} pageSize={PAGE_SIZE} total={users.data.total} onChange={setPage} />
          </>
        )}
      </Card>
    </Stack>
  );
}
