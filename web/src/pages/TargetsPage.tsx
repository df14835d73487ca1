import { Alert, Badge, Button, Card, Code, Group, Modal, Select, Stack, Table, Text, TextInput, Tooltip } from "@mantine/core";
import { useDebouncedValue } from "@mantine/hooks";
import { notifications } from "@mantine/notifications";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { ImportTargetsDialog } from "../features/targets/ImportTargetsDialog";
import { dependantIds, dependantNames } from "../features/targets/dependants";
import { TargetDialog } from "../features/targets/TargetDialog";
import { useState } from "react";
import { api } from "../api/client";
import { ApiError, errorMessage } from "../api/errors";
import { keys, useCredentials, useTargets } from "../api/queries";
import type { Message, Target, TargetTestResult } from "../api/types";
import { usePermissions } from "../auth/useSession";
import { formatRelative, formatTime } from "../components/format";
import { Pager } from "../components/Pager";
import { PageHeader } from "../components/PageHeader";
import { Empty, ErrorState, Loading } from "../components/QueryState";

const PAGE_SIZE = 50;

/** "message (123 ms, error: refused)" from a test result's details. */
function describeTest(res: TargetTestResult): string {
  const details = res.details ?? {};
  const parts: string[] = [];
  if (typeof details.duration_ms === "number") parts.push(`${Math.round(details.duration_ms)} ms`);
  if (typeof details.error === "string" && details.error) parts.push(`error: ${details.error}`);
  return parts.length > 0 ? `${res.message} (${parts.join(", ")})` : res.message;
}

function TestButton({ target }: { target: Target }) {
  const queryClient = useQueryClient();
  const test = useMutation({
    mutationFn: () => api<TargetTestResult>(`/targets/${target.id}/test`, { method: "POST" }),
    onSuccess: (res) => {
      notifications.show({
        color: res.success ? "green" : "red",
        title: `${target.name}: ${res.success ? "connected" : "connection failed"}`,
        message: describeTest(res),
      });
      // A first SSH connection pins the host key: show it.
      void queryClient.invalidateQueries({ queryKey: keys.targets() });
    },
    onError: (err) => notifications.show({ color: "red", title: `${target.name}: test failed`, message: errorMessage(err) }),
  });
  const result = test.isSuccess ? test.data : null;
  return (
    <Group gap={6} wrap="nowrap">
      <Button size="xs" variant="subtle" loading={test.isPending} onClick={() => test.mutate()} data-testid={`target-test-${target.id}`}>
        Test
      </Button>
      {result !== null && (
        <Tooltip label={describeTest(result)} multiline maw={420}>
          <Badge
            size="sm"
            variant="light"
            color={result.success ? "green" : "red"}
            data-testid={`target-test-result-${target.id}`}
            data-success={String(result.success)}
            tt="none"
          >
            {describeTest(result)}
          </Badge>
        </Tooltip>
      )}
    </Group>
  );
}

/** An SSH target's pinned host key (fingerprint and when it was pinned), or that none is pinned yet. */
function HostKeyStatus({ target }: { target: Target }) {
  if (target.protocol !== "ssh") {
    return (
      <Text size="sm" c="dimmed">
        —
      </Text>
    );
  }
  const fp = target.host_key_fingerprint;
  if (!fp) {
    return (
      <Tooltip label="The key the server presents on the next successful connection is pinned" multiline maw={320}>
        <Text size="sm" c="dimmed" data-testid={`target-host-key-${target.id}`} data-pinned="false">
          not pinned yet
        </Text>
      </Tooltip>
    );
  }
  const label = `${target.host_key_algorithm ?? ""} ${fp}`.trim();
  return (
    <Stack gap={0} data-testid={`target-host-key-${target.id}`} data-pinned="true" maw={260}>
      <Tooltip label={label} multiline maw={480}>
        <Text size="xs" ff="monospace" truncate="end">
          {fp}
        </Text>
      </Tooltip>
      <Text size="xs" c="dimmed" title={formatTime(target.host_key_pinned_at)}>
        pinned {formatRelative(target.host_key_pinned_at)}
      </Text>
    </Stack>
  );
}

/** Confirms forgetting an SSH target's pinned host key, then shows the server's answer. Mount only while open. */
function ResetHostKeyDialog({ target, onClose }: { target: Target; onClose: () => void }) {
  const queryClient = useQueryClient();
  const reset = useMutation({
    mutationFn: () => api<Message>(`/targets/${target.id}/host-key/reset`, { method: "POST" }),
    onSuccess: (res) => {
      void queryClient.invalidateQueries({ queryKey: keys.targets() });
      notifications.show({ color: "green", title: `${target.name}: host key reset`, message: res.message });
    },
  });
  return (
    <Modal opened onClose={onClose} title={`Reset the host key of ${target.name}?`} centered data-testid="host-key-reset-dialog">
      <Stack>
        {reset.isSuccess ? (
          <Alert color="green" data-testid="host-key-reset-result">
            {reset.data.message}
          </Alert>
        ) : (
          <>
            {target.host_key_fingerprint ? (
              <Text size="sm">
                The pinned key <Code>{target.host_key_fingerprint}</Code> is forgotten, and the next connection pins whatever key the
                server presents. Do this only if you know why the key changed (e.g. the host was reinstalled).
              </Text>
            ) : (
              <Text size="sm">No host key is pinned for this target as far as this page knows; resetting changes nothing then.</Text>
            )}
            {reset.error && (
              <Alert color="red" data-testid="host-key-reset-error">
                {errorMessage(reset.error)}
              </Alert>
            )}
          </>
        )}
        <Group justify="flex-end">
          {reset.isSuccess ? (
            <Button onClick={onClose} data-testid="host-key-reset-close">
              Close
            </Button>
          ) : (
            <>
              <Button variant="default" onClick={onClose}>
                Cancel
              </Button>
              <Button color="orange" loading={reset.isPending} onClick={() => reset.mutate()} data-testid="host-key-reset-confirm">
                Reset host key
              </Button>
            </>
          )}
        </Group>
      </Stack>
    </Modal>
  );
}

/** Confirms deleting a target; the server's refusal (409: jobs or other targets depend on it) stays in the dialog. */
function DeleteTargetDialog({ target, names, onClose }: { target: Target; names: ReadonlyMap<number, string>; onClose: () => void }) {
  const queryClient = useQueryClient();
  const del = useMutation({
    mutationFn: () => api<Message>(`/targets/${String(target.id)}`, { method: "DELETE" }),
    onSuccess: () => {
      void queryClient.invalidateQueries({ queryKey: keys.targets() });
      notifications.show({ color: "green", message: `Target ${target.name} deleted` });
      onClose();
    },
  });
  const dependants = del.error ? dependantIds(errorMessage(del.error)) : [];
  return (
    <Modal opened onClose={onClose} title={`Delete ${target.name}?`} centered data-testid="target-delete-dialog">
      <Stack>
        <Text size="sm">
          <Code>
            {target.hostname}:{target.port}
          </Code>{" "}
          leaves the inventory: jobs that name it no longer find it, past runs keep their results. The server refuses while other targets
          depend on it.
        </Text>
        {del.error && (
          <Alert color={del.error instanceof ApiError && del.error.status === 409 ? "orange" : "red"} data-testid="target-delete-error">
            {errorMessage(del.error)}
            {dependants.length > 0 && (
              <Text size="sm" mt={4}>
                Depending on it (their <Code>depends_on</Code> names it): {dependantNames(dependants, names)}.
              </Text>
            )}
          </Alert>
        )}
        <Group justify="flex-end">
          <Button variant="default" onClick={onClose}>
            Keep it
          </Button>
          <Button color="red" loading={del.isPending} onClick={() => del.mutate()} data-testid="target-delete-confirm">
            Delete
          </Button>
        </Group>
      </Stack>
    </Modal>
  );
}

function Warnings({ warnings }: { warnings: string[] }) {
  if (warnings.length === 0) return null;
  return (
    <Tooltip label={warnings.join("\n")} multiline maw={420} style={{ whiteSpace: "pre-line" }}>
      <Badge variant="light" size="sm" color="orange" tt="none" data-testid="target-warnings">
        {warnings.length === 1 ? "1 warning" : `${warnings.length} warnings`}
      </Badge>
    </Tooltip>
  );
}

export default function TargetsPage() {
  const [q, setQ] = useState("");
  const [tags, setTags] = useState("");
  const [protocol, setProtocol] = useState<string | null>(null);
  const [page, setPage] = useState(1);
  const [creating, setCreating] = useState(false);
  const [importing, setImporting] = useState(false);
  const [resettingKey, setResettingKey] = useState<Target | null>(null);
  const [editing, setEditing] = useState<Target | null>(null);
  const [deleting, setDeleting] = useState<Target | null>(null);
  const [debouncedQ] = useDebouncedValue(q, 300);
  const [debouncedTags] = useDebouncedValue(tags, 300);
  const { canOperate } = usePermissions();
  const tagList = debouncedTags
    .split(/[,\s]+/)
    .map((t) => t.trim())
    .filter((t) => t.includes(":"));
  const targets = useTargets({ q: debouncedQ.trim(), protocol, tag: tagList, skip: (page - 1) * PAGE_SIZE, limit: PAGE_SIZE });
  const credentials = useCredentials({ limit: 1000 });
  const targetName = new Map((targets.data?.targets ?? []).map((t) => [t.id, t.name]));
  const credentialName = new Map((credentials.data?.credentials ?? []).map((c) => [c.id, c.name]));

  return (
    <Stack gap="md">
      <PageHeader
        title="Targets"
        description="The servers and endpoints jobs run against."
        actions={
          canOperate && (
            <Group gap="xs">
              <Button variant="default" onClick={() => setImporting(true)} data-testid="targets-import">
                Import
              </Button>
              <Button onClick={() => setCreating(true)} data-testid="target-new">
                New target
              </Button>
            </Group>
          )
        }
      />
      {creating && <TargetDialog onClose={() => setCreating(false)} />}
      {editing && <TargetDialog key={editing.id} target={editing} onClose={() => setEditing(null)} />}
      {deleting && <DeleteTargetDialog key={deleting.id} target={deleting} names={targetName} onClose={() => setDeleting(null)} />}
      {importing && <ImportTargetsDialog onClose={() => setImporting(false)} />}
      {resettingKey && <ResetHostKeyDialog target={resettingKey} onClose={() => setResettingKey(null)} />}
      <Card withBorder padding="md">
        <Group mb="sm" gap="sm" align="flex-end">
          <TextInput label="Search" placeholder="Name or host name" value={q} onChange={(e) => { setQ(e.currentTarget.value); setPage(1); }} w={240} data-testid="targets-search" />
          <TextInput label="Tags" placeholder="env:prod, role:web" value={tags} onChange={(e) => { setTags(e.currentTarget.value); setPage(1); }} w={240} />
          <Select
            label="Protocol"
            placeholder="Any"
            clearable
            data={["winrm", "ssh", "http"]}
            value={protocol}
            onChange={(v) => { setProtocol(v); setPage(1); }}
            w={140}
          />
        </Group>
        {targets.error && !targets.data ? (
          <ErrorState error={targets.error} onRetry={() => void targets.refetch()} />
        ) : !targets.data ? (
          <Loading />
        ) : targets.data.targets.length === 0 ? (
          <Empty>{q || tags || protocol ? "No target matches these filters." : "No targets yet."}</Empty>
        ) : (
          <>
            <Table.ScrollContainer minWidth={900}>
              <Table highlightOnHover data-testid="targets-table">
                <Table.Thead>
                  <Table.Tr>
                    <Table.Th>Name</Table.Th>
                    <Table.Th>Address</Table.Th>
                    <Table.Th>Protocol</Table.Th>
                    <Table.Th>Credential</Table.Th>
                    <Table.Th>Host key</Table.Th>
                    <Table.Th>Tags</Table.Th>
                    {canOperate && <Table.Th />}
                  </Table.Tr>
                </Table.Thead>
                <Table.Tbody>
                  {targets.data.targets.map((t) => (
                    <Table.Tr key={t.id} data-testid={`target-row-${t.id}`}>
                      <Table.Td>
                        <Text size="sm" fw={500}>
                          {t.name}
                        </Text>
                      </Table.Td>
                      <Table.Td>
                        <Text size="sm" ff="monospace">
                          {t.hostname}:{t.port}
                        </Text>
                      </Table.Td>
                      <Table.Td>
                        <Group gap={4}>
                          <Badge variant="light" size="sm">
                            {t.protocol}
                          </Badge>
                          <Warnings warnings={t.warnings ?? []} />
                        </Group>
                      </Table.Td>
                      <Table.Td>{t.credential_ref === null ? "—" : (credentialName.get(t.credential_ref) ?? `#${t.credential_ref}`)}</Table.Td>
                      <Table.Td>
                        <HostKeyStatus target={t} />
                      </Table.Td>
                      <Table.Td>
                        <Group gap={4}>
                          {t.tags.map((tag) => (
                            <Badge key={tag} size="xs" variant="default" tt="none">
                              {tag}
                            </Badge>
                          ))}
                        </Group>
                      </Table.Td>
                      {canOperate && (
                        <Table.Td>
                          <Group gap={4} justify="flex-end" wrap="nowrap">
                            <TestButton target={t} />
                            {t.protocol === "ssh" && (
                              <Button size="xs" variant="subtle" color="orange" onClick={() => setResettingKey(t)} data-testid={`target-host-key-reset-${t.id}`}>
                                Reset host key
                              </Button>
                            )}
                            <Button size="xs" variant="subtle" onClick={() => setEditing(t)} data-testid={`target-edit-${t.id}`}>
                              Edit
                            </Button>
                            <Button size="xs" variant="subtle" color="red" onClick={() => setDeleting(t)} data-testid={`target-delete-${t.id}`}>
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
            <Pager page={page} pageSize={PAGE_SIZE} total={targets.data.total} onChange={setPage} />
          </>
        )}
      </Card>
    </Stack>
  );
}
