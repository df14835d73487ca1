import { Alert, Button, Group, Modal, Select, Stack, TagsInput, TextInput, Textarea } from "@mantine/core";
import { notifications } from "@mantine/notifications";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useState, type SyntheticEvent } from "react";
import { api } from "../../api/client";
import { ApiError, formErrors } from "../../api/errors";
import { keys, useCredentials } from "../../api/queries";
import type { Protocol, Target, TargetInput } from "../../api/types";
import { parseMetadata } from "./metadata";

const FIELDS = ["name", "hostname", "protocol", "port", "credential_ref", "tags", "metadata"] as const;
type Field = (typeof FIELDS)[number];
const PROTOCOLS: readonly Protocol[] = ["winrm", "ssh", "http"];
const DEFAULT_PORT: Record<Protocol, string> = { winrm: "5985 (5986 with winrm_use_https)", ssh: "22", http: "443 (80 with http_scheme http)" };

function isProtocol(v: string): v is Protocol {
  return (PROTOCOLS as readonly string[]).includes(v);
}

/** Creates a target. Mount it only while open, so every opening starts empty. */
export function NewTargetDialog({ onClose }: { onClose: () => void }) {
  const queryClient = useQueryClient();
  const credentials = useCredentials({ limit: 1000 });
  const [name, setName] = useState("");
  const [hostname, setHostname] = useState("");
  const [protocol, setProtocol] = useState<Protocol>("winrm");
  const [port, setPort] = useState("");
  const [credential, setCredential] = useState<string | null>(null);
  const [tags, setTags] = useState<string[]>([]);
  const [metadata, setMetadata] = useState("");
  const [errors, setErrors] = useState<Partial<Record<Field, string>>>({});
  const [general, setGeneral] = useState<string | null>(null);

  const create = useMutation({
    mutationFn: (body: TargetInput) => api<Target>("/targets", { method: "POST", body }),
    onSuccess: (t) => {
      void queryClient.invalidateQueries({ queryKey: keys.targets() });
      notifications.show({ color: "green", message: `Target ${t.name} created` });
      onClose();
    },
    onError: (err) => {
      const mapped = formErrors(err, FIELDS);
      // The contract answers an unknown credential with 400 "Invalid credential reference".
      if (err instanceof ApiError && err.status === 400 && /credential/i.test(err.message)) {
        setErrors({ ...mapped.fields, credential_ref: err.message });
        setGeneral(null);
        return;
      }
      setErrors(mapped.fields);
      setGeneral(mapped.general);
    },
  });

  const submit = (e: SyntheticEvent) => {
    e.preventDefault();
    const local: Partial<Record<Field, string>> = {};
    if (name.trim() === "") local.name = "Required";
    if (hostname.trim() === "") local.hostname = "Required";
    let portNumber: number | undefined;
    if (port.trim() !== "") {
      portNumber = Number(port.trim());
      if (!/^\d+$/.test(port.trim()) || portNumber < 1 || portNumber > 65535) local.port = "Port must be between 1 and 65535";
    }
    if (credential === null) local.credential_ref = "Required";
    const badTag = tags.find((t) => {
      const [k = "", ...rest] = t.split(":");
      return rest.length === 0 || k.trim() === "" || rest.join(":").trim() === "";
    });
    if (badTag !== undefined) local.tags = `"${badTag}" is not key:value`;
    const meta = parseMetadata(metadata);
    if ("error" in meta) local.metadata = meta.error;
    setErrors(local);
    setGeneral(null);
    if (Object.keys(local).length > 0 || "error" in meta || credential === null) return;
    create.mutate({
      name: name.trim(),
      hostname: hostname.trim(),
      protocol,
      ...(portNumber !== undefined ? { port: portNumber } : {}),
      credential_ref: Number(credential),
      tags,
      metadata: meta.value,
    });
  };

  return (
    <Modal opened onClose={onClose} title="New target" size="lg" data-testid="target-dialog">
      <form onSubmit={submit} noValidate>
        <Stack>
          {general && (
            <Alert color="red" data-testid="target-dialog-error" style={{ whiteSpace: "pre-wrap" }}>
              {general}
            </Alert>
          )}
          <TextInput label="Name" withAsterisk value={name} onChange={(e) => setName(e.currentTarget.value)} error={errors.name} data-testid="target-name" />
          <Group grow align="flex-start">
            <TextInput
              label="Host name"
              withAsterisk
              placeholder="server.example.com or 10.0.0.5"
              value={hostname}
              onChange={(e) => setHostname(e.currentTarget.value)}
              error={errors.hostname}
              data-testid="target-hostname"
            />
            <Select
              label="Protocol"
              withAsterisk
              allowDeselect={false}
              data={[...PROTOCOLS]}
              value={protocol}
              onChange={(v) => {
                if (v !== null && isProtocol(v)) setProtocol(v);
              }}
              error={errors.protocol}
              data-testid="target-protocol"
            />
            <TextInput
              label="Port"
              inputMode="numeric"
              placeholder={`default ${DEFAULT_PORT[protocol]}`}
              value={port}
              onChange={(e) => setPort(e.currentTarget.value)}
              error={errors.port}
              data-testid="target-port"
            />
          </Group>
          <Select
            label="Credential"
            withAsterisk
            searchable
            placeholder={credentials.isPending ? "Loading…" : "Choose a credential"}
            nothingFoundMessage="No credential matches"
            data={(credentials.data?.credentials ?? []).map((c) => ({ value: String(c.id), label: `${c.name} (${c.credential_type})` }))}
            value={credential}
            onChange={setCredential}
            error={errors.credential_ref}
            data-testid="target-credential"
          />
          <TagsInput
            label="Tags"
            description="key:value, Enter after each"
            placeholder="env:prod"
            value={tags}
            onChange={setTags}
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
            value={metadata}
            onChange={(e) => setMetadata(e.currentTarget.value)}
            error={errors.metadata}
            data-testid="target-metadata"
          />
          <Group justify="flex-end">
            <Button variant="default" onClick={onClose}>
              Cancel
            </Button>
            <Button type="submit" loading={create.isPending} data-testid="target-submit">
              Create
            </Button>
          </Group>
        </Stack>
      </form>
    </Modal>
  );
}
