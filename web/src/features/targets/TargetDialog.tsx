import { Alert, Button, Group, Modal, Select, Stack, TagsInput, Text, TextInput, Textarea } from "@mantine/core";
import { notifications } from "@mantine/notifications";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useState, type SyntheticEvent } from "react";
import { api } from "../../api/client";
import { keys, useCredentials } from "../../api/queries";
import type { Protocol, Target, TargetInput, TargetUpdate } from "../../api/types";
import {
  checkTargetForm,
  createBody,
  emptyTargetForm,
  isProtocol,
  portOnProtocolChange,
  PROTOCOLS,
  targetFormErrors,
  targetFormOf,
  updateBody,
  type TargetField,
  type TargetFormValues,
} from "./targetForm";

const DEFAULT_PORT: Record<Protocol, string> = { winrm: "5985 (5986 with winrm_use_https)", ssh: "22", http: "443" };

type Request = { kind: "create"; body: TargetInput } | { kind: "update"; body: TargetUpdate };

/**
 * Creates a target (`target` absent) or edits one (the form prefilled; the PUT sends only what
 * changed). Mount it only while open, so every opening starts from the target as it is.
 */
export function TargetDialog({ target = null, onClose }: { target?: Target | null; onClose: () => void }) {
  const queryClient = useQueryClient();
  const credentials = useCredentials({ limit: 1000 });
  const [form, setForm] = useState<TargetFormValues>(() => (target ? targetFormOf(target) : emptyTargetForm()));
  const [errors, setErrors] = useState<Partial<Record<TargetField, string>>>({});
  const [general, setGeneral] = useState<string | null>(null);
  const set = <K extends keyof TargetFormValues>(key: K, value: TargetFormValues[K]) => setForm((f) => ({ ...f, [key]: value }));

  const save = useMutation({
    mutationFn: (req: Request) =>
      req.kind === "create" || target === null
        ? api<Target>("/targets", { method: "POST", body: req.body })
        : api<Target>(`/targets/${String(target.id)}`, { method: "PUT", body: req.body }),
    onSuccess: (t) => {
      void queryClient.invalidateQueries({ queryKey: keys.targets() });
      notifications.show({ color: "green", message: target ? `Target ${t.name} saved` : `Target ${t.name} created` });
      onClose();
    },
    onError: (err) => {
      const mapped = targetFormErrors(err);
      setErrors(mapped.fields);
      setGeneral(mapped.general);
    },
  });

  const submit = (e: SyntheticEvent) => {
    e.preventDefault();
    const checked = checkTargetForm(form);
    setGeneral(null);
    if (!checked.ok) {
      setErrors(checked.errors);
      return;
    }
    setErrors({});
    if (target === null) {
      save.mutate({ kind: "create", body: createBody(checked.value) });
      return;
    }
    const body = updateBody(target, checked.value);
    if (Object.keys(body).length === 0) {
      notifications.show({ color: "gray", message: `Nothing changed in ${target.name}` });
      onClose();
      return;
    }
    save.mutate({ kind: "update", body });
  };

  return (
    <Modal opened onClose={onClose} title={target ? `Edit ${target.name}` : "New target"} size="lg" data-testid="target-dialog">
      <form onSubmit={submit} noValidate>
        <Stack>
          {general && (
            <Alert color="red" data-testid="target-dialog-error" style={{ whiteSpace: "pre-wrap" }}>
              {general}
            </Alert>
          )}
          <TextInput label="Name" withAsterisk value={form.name} onChange={(e) => set("name", e.currentTarget.value)} error={errors.name} data-testid="target-name" />
          <Group grow align="flex-start">
            <TextInput
              label="Host name"
              withAsterisk
              placeholder="server.example.com or 10.0.0.5"
              value={form.hostname}
              onChange={(e) => set("hostname", e.currentTarget.value)}
              error={errors.hostname}
              data-testid="target-hostname"
            />
            <Select
              label="Protocol"
              withAsterisk
              allowDeselect={false}
              data={[...PROTOCOLS]}
              value={form.protocol}
              onChange={(v) => {
                if (v !== null && isProtocol(v)) setForm((f) => ({ ...f, protocol: v, port: portOnProtocolChange(f.port, v, target) }));
              }}
              error={errors.protocol}
              data-testid="target-protocol"
            />
            <TextInput
              label="Port"
              inputMode="numeric"
              placeholder={`default ${DEFAULT_PORT[form.protocol]}`}
              value={form.port}
              onChange={(e) => set("port", e.currentTarget.value)}
              error={errors.port}
              data-testid="target-port"
            />
          </Group>
          {target !== null && form.protocol !== target.protocol && form.port.trim() === "" && (
            <Text size="xs" c="dimmed">
              Changing the protocol without a port moves the target to {form.protocol}&apos;s default port.
            </Text>
          )}
          <Select
            label="Credential"
            withAsterisk
            searchable
            placeholder={credentials.isPending ? "Loading…" : "Choose a credential"}
            nothingFoundMessage="No credential matches"
            data={(credentials.data?.credentials ?? []).map((c) => ({ value: String(c.id), label: `${c.name} (${c.credential_type})` }))}
            value={form.credential}
            onChange={(v) => set("credential", v)}
            error={errors.credential_ref}
            data-testid="target-credential"
          />
          <TagsInput
            label="Tags"
            description="key:value, Enter after each"
            placeholder="env:prod"
            value={form.tags}
            onChange={(v) => set("tags", v)}
            error={errors.tags}
            data-testid="target-tags"
          />
          <Textarea
            label="Metadata"
            description='A JSON object, e.g. {"http_scheme": "http", "http_path": "/health"}'
            autosize
            minRows={3}
            maxRows={12}
            spellCheck={false}
            styles={{ input: { fontFamily: "monospace" } }}
            value={form.metadata}
            onChange={(e) => set("metadata", e.currentTarget.value)}
            error={errors.metadata}
            data-testid="target-metadata"
          />
          <Group justify="flex-end">
            <Button variant="default" onClick={onClose}>
              Cancel
            </Button>
            <Button type="submit" loading={save.isPending} data-testid="target-submit">
              {target ? "Save" : "Create"}
            </Button>
          </Group>
        </Stack>
      </form>
    </Modal>
  );
}
