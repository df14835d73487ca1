import { Alert, Badge, Button, Card, Group, Modal, Stack, Table, Text } from "@mantine/core";
import { notifications } from "@mantine/notifications";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { api } from "../api/client";
import { ApiError, errorMessage } from "../api/errors";
import { keys, useCredentials } from "../api/queries";
import type { Credential } from "../api/types";
import { usePermissions } from "../auth/useSession";
import { NewCredentialDialog, RotateCredentialDialog } from "../features/credentials/CredentialDialogs";
import { formatRelative, formatTime } from "../components/format";
import { Pager } from "../components/Pager";
import { PageHeader } from "../components/PageHeader";
import { Empty, ErrorState, Loading } from "../components/QueryState";

const PAGE_SIZE = 50;

function DeleteCredentialDialog({ credential, onClose }: { credential: Credential; onClose: () => void }) {
  const queryClient = useQueryClient();
  const del = useMutation({
    mutationFn: () => api<{ message: string }>(`/credentials/${credential.id}`, { method: "DELETE" }),
    onSuccess: () => {
      void queryClient.invalidateQueries({ queryKey: keys.credentials() });
      notifications.show({ color: "green", message: `Credential ${credential.name} deleted` });
      onClose();
    },
  });
  return (
    <Modal opened onClose={onClose} title={`Delete ${credential.name}?`} centered data-testid="credential-delete-dialog">
      <Stack>
        <Text size="sm">The secret is destroyed. Targets that use this credential must be changed first.</Text>
        {del.error && (
          <Alert color={del.error instanceof ApiError && del.error.status === 409 ? "orange" : "red"} data-testid="credential-delete-error">
            {errorMessage(del.error)}
          </Alert>
        )}
        <Group justify="flex-end">
          <Button variant="default" onClick={onClose}>
            Keep it
          </Button>
          <Button color="red" loading={del.isPending} onClick={() => del.mutate()} data-testid="credential-delete-confirm">
            Delete
          </Button>
        </Group>
      </Stack>
    </Modal>
  );
}

export default function CredentialsPage() {
  const [page, setPage] = useState(1);
  const [creating, setCreating] = useState(false);
  const [rotating, setRotating] = useState<Credential | null>(null);
  const [deleting, setDeleting] = useState<Credential | null>(null);
  const { canOperate } = usePermissions();
  const credentials = useCredentials({ skip: (page - 1) * PAGE_SIZE, limit: PAGE_SIZE });
  return (
    <Stack gap="md">
      <PageHeader
        title="Credentials"
        description="Secrets are stored encrypted and never shown here."
        actions={
          canOperate && (
            <Button onClick={() => setCreating(true)} data-testid="credential-new">
              New credential
            </Button>
          )
        }
      />
      {creating && <NewCredentialDialog onClose={() => setCreating(false)} />}
      {rotating && <RotateCredentialDialog credential={rotating} onClose={() => setRotating(null)} />}
      {deleting && <DeleteCredentialDialog credential={deleting} onClose={() => setDeleting(null)} />}
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
                    {canOperate && <Table.Th />}
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
                      {canOperate && (
                        <Table.Td>
                          <Group gap={4} justify="flex-end" wrap="nowrap">
                            <Button size="xs" variant="subtle" onClick={() => setRotating(c)} data-testid={`credential-rotate-${c.id}`}>
                              Rotate
                            </Button>
                            <Button size="xs" variant="subtle" color="red" onClick={() => setDeleting(c)} data-testid={`credential-delete-${c.id}`}>
                              Delete
                            </Button>
                          </Group>
                        </Table.Td>
                      )}
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
