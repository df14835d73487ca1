import { Badge, Button, Card, Group, Stack, Table, Text, Tooltip } from "@mantine/core";
import { useState } from "react";
import { useUsers } from "../api/queries";
import type { Role, User } from "../api/types";
import { useCurrentUser } from "../auth/useSession";
import { ChangeRoleDialog, DeleteUserDialog, NewUserDialog } from "../features/users/UserDialogs";
import { formatTime } from "../components/format";
import { Pager } from "../components/Pager";
import { PageHeader } from "../components/PageHeader";
import { Empty, ErrorState, Loading } from "../components/QueryState";

const PAGE_SIZE = 50;
const ROLE_COLORS: Record<Role, string> = { admin: "red", operator: "blue", viewer: "gray" };

export default function UsersPage() {
  const [page, setPage] = useState(1);
  const [creating, setCreating] = useState(false);
  const [changingRole, setChangingRole] = useState<User | null>(null);
  const [deleting, setDeleting] = useState<User | null>(null);
  const me = useCurrentUser();
  const users = useUsers({ skip: (page - 1) * PAGE_SIZE, limit: PAGE_SIZE });
  return (
    <Stack gap="md">
      <PageHeader
        title="Users"
        actions={
          <Button onClick={() => setCreating(true)} data-testid="user-new">
            New user
          </Button>
        }
      />
      {creating && <NewUserDialog onClose={() => setCreating(false)} />}
      {changingRole && <ChangeRoleDialog user={changingRole} onClose={() => setChangingRole(null)} />}
      {deleting && <DeleteUserDialog user={deleting} onClose={() => setDeleting(null)} />}
      <Card withBorder padding="md">
        {users.error && !users.data ? (
          <ErrorState error={users.error} onRetry={() => void users.refetch()} />
        ) : !users.data ? (
          <Loading />
        ) : users.data.users.length === 0 ? (
          <Empty>No users.</Empty>
        ) : (
          <>
            <Table.ScrollContainer minWidth={720}>
              <Table highlightOnHover data-testid="users-table">
                <Table.Thead>
                  <Table.Tr>
                    <Table.Th>Username</Table.Th>
                    <Table.Th>Email</Table.Th>
                    <Table.Th>Role</Table.Th>
                    <Table.Th>Created</Table.Th>
                    <Table.Th />
                  </Table.Tr>
                </Table.Thead>
                <Table.Tbody>
                  {users.data.users.map((u) => (
                    <Table.Tr key={u.id} data-testid={`user-row-${u.id}`}>
                      <Table.Td>
                        <Group gap={6} wrap="nowrap">
                          <Text size="sm" fw={500}>
                            {u.username}
                          </Text>
                          {u.id === me.id && (
                            <Badge size="xs" variant="outline" color="gray" data-testid="user-self">
                              you
                            </Badge>
                          )}
                        </Group>
                      </Table.Td>
                      <Table.Td>{u.email}</Table.Td>
                      <Table.Td>
                        <Badge color={ROLE_COLORS[u.role]} variant="light" size="sm">
                          {u.role}
                        </Badge>
                      </Table.Td>
                      <Table.Td>{formatTime(u.created_at)}</Table.Td>
                      <Table.Td>
                        {u.id === me.id ? (
                          <Tooltip label="You cannot change your own role or delete your own account">
                            <Text size="xs" c="dimmed" ta="right">
                              your account
                            </Text>
                          </Tooltip>
                        ) : (
                          <Group gap={4} justify="flex-end" wrap="nowrap">
                            <Button size="xs" variant="subtle" onClick={() => setChangingRole(u)} data-testid={`user-role-${u.id}`}>
                              Change role
                            </Button>
                            <Button size="xs" variant="subtle" color="red" onClick={() => setDeleting(u)} data-testid={`user-delete-${u.id}`}>
                              Delete
                            </Button>
                          </Group>
                        )}
                      </Table.Td>
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
