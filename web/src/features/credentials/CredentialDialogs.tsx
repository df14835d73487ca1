import { Alert, Button, Group, Modal, PasswordInput, Select, Stack, Text, TextInput, Textarea } from "@mantine/core";
import { notifications } from "@mantine/notifications";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useState, type SyntheticEvent } from "react";
import { api } from "../../api/client";
import { formErrors } from "../../api/errors";
import { keys } from "../../api/queries";
import type { Credential } from "../../api/types";
import {
  ALL_SECRET_FIELDS,
  CREDENTIAL_TYPES,
  buildData,
  fieldsFor,
  isCredentialType,
  missingFields,
  type CredentialType,
  type SecretField,
} from "./secretFields";

type Values = Partial<Record<SecretField, string>>;
type Errors = Partial<Record<SecretField, string>>;

const DATA_FIELDS = ALL_SECRET_FIELDS.map((f) => `credential_data.${f}` as const);

/** 422 issues under `credential_data.<field>` → that field; `credential_data` itself → general. */
function dataErrors(mapped: Partial<Record<string, string>>): Errors {
  const out: Errors = {};
  for (const f of ALL_SECRET_FIELDS) {
    const msg = mapped[`credential_data.${f}`];
    if (msg !== undefined) out[f] = msg;
  }
  return out;
}

/** The secret inputs of one credential type. Secrets are write-only and start empty. */
function SecretInputs({ type, values, errors, onChange }: { type: CredentialType; values: Values; errors: Errors; onChange: (f: SecretField, v: string) => void }) {
  return (
    <>
      {fieldsFor(type).map((f) => {
        const common = {
          label: f.label,
          description: f.description,
          withAsterisk: f.required,
          value: values[f.name] ?? "",
          error: errors[f.name],
          "data-testid": `credential-field-${f.name}`,
        };
        if (f.multiline) {
          return (
            <Textarea
              key={f.name}
              {...common}
              autosize
              minRows={4}
              maxRows={12}
              autoComplete="off"
              spellCheck={false}
              styles={{ input: { fontFamily: "monospace" } }}
              onChange={(e) => onChange(f.name, e.currentTarget.value)}
            />
          );
        }
        if (f.secret) {
          return <PasswordInput key={f.name} {...common} autoComplete="new-password" onChange={(e) => onChange(f.name, e.currentTarget.value)} />;
        }
        return <TextInput key={f.name} {...common} autoComplete="off" onChange={(e) => onChange(f.name, e.currentTarget.value)} />;
      })}
    </>
  );
}

/** Creates a credential. Mount it only while open, so every opening starts empty. */
export function NewCredentialDialog({ onClose }: { onClose: () => void }) {
  const queryClient = useQueryClient();
  const [name, setName] = useState("");
  const [description, setDescription] = useState("");
  const [type, setType] = useState<CredentialType>("ssh");
  const [values, setValues] = useState<Values>({});
  const [errors, setErrors] = useState<Errors & { name?: string; credential_type?: string; description?: string }>({});
  const [general, setGeneral] = useState<string | null>(null);

  const create = useMutation({
    mutationFn: (body: { name: string; credential_type: string; description: string | null; credential_data: Record<string, string> }) =>
      api<Credential>("/credentials", { method: "POST", body }),
    onSuccess: (c) => {
      void queryClient.invalidateQueries({ queryKey: keys.credentials() });
      notifications.show({ color: "green", message: `Credential ${c.name} created` });
      onClose();
    },
    onError: (err) => {
      const mapped = formErrors(err, ["name", "credential_type", "description", ...DATA_FIELDS]);
      const { name: nameErr, credential_type, description: descErr } = mapped.fields;
      setErrors({ ...dataErrors(mapped.fields), name: nameErr, credential_type, description: descErr });
      setGeneral(mapped.general);
    },
  });

  const submit = (e: SyntheticEvent) => {
    e.preventDefault();
    const local: typeof errors = missingFields(type, values);
    if (name.trim() === "") local.name = "Required";
    setErrors(local);
    setGeneral(null);
    if (Object.keys(local).length > 0) return;
    create.mutate({ name: name.trim(), credential_type: type, description: description.trim() || null, credential_data: buildData(type, values) });
  };

  return (
    <Modal opened onClose={onClose} title="New credential" size="lg" data-testid="credential-dialog">
      <form onSubmit={submit} noValidate>
        <Stack>
          {general && (
            <Alert color="red" data-testid="credential-dialog-error" style={{ whiteSpace: "pre-wrap" }}>
              {general}
            </Alert>
          )}
          <TextInput label="Name" withAsterisk value={name} onChange={(e) => setName(e.currentTarget.value)} error={errors.name} data-testid="credential-name" />
          <Select
            label="Type"
            withAsterisk
            allowDeselect={false}
            data={[...CREDENTIAL_TYPES]}
            value={type}
            onChange={(v) => {
              if (v !== null && isCredentialType(v)) setType(v);
            }}
            error={errors.credential_type}
            data-testid="credential-type"
          />
          <TextInput label="Description" value={description} onChange={(e) => setDescription(e.currentTarget.value)} error={errors.description} data-testid="credential-description" />
          <SecretInputs type={type} values={values} errors={errors} onChange={(f, v) => setValues((prev) => ({ ...prev, [f]: v }))} />
          <Group justify="flex-end">
            <Button variant="default" onClick={onClose}>
              Cancel
            </Button>
            <Button type="submit" loading={create.isPending} data-testid="credential-submit">
              Create
            </Button>
          </Group>
        </Stack>
      </form>
    </Modal>
  );
}

/** Replaces a credential's secret (same type). Mount it only while open. */
export function RotateCredentialDialog({ credential, onClose }: { credential: Credential; onClose: () => void }) {
  const queryClient = useQueryClient();
  const type = isCredentialType(credential.credential_type) ? credential.credential_type : null;
  const [values, setValues] = useState<Values>({});
  const [errors, setErrors] = useState<Errors>({});
  const [general, setGeneral] = useState<string | null>(null);

  const rotate = useMutation({
    mutationFn: (credential_data: Record<string, string>) => api<{ message: string }>(`/credentials/${credential.id}/rotate`, { method: "POST", body: { credential_data } }),
    onSuccess: () => {
      void queryClient.invalidateQueries({ queryKey: keys.credentials() });
      notifications.show({ color: "green", message: `Credential ${credential.name} rotated` });
      onClose();
    },
    onError: (err) => {
      const mapped = formErrors(err, DATA_FIELDS);
      setErrors(dataErrors(mapped.fields));
      setGeneral(mapped.general);
    },
  });

  const submit = (e: SyntheticEvent) => {
    e.preventDefault();
    if (type === null) return;
    const local = missingFields(type, values);
    setErrors(local);
    setGeneral(null);
    if (Object.keys(local).length === 0) rotate.mutate(buildData(type, values));
  };

  return (
    <Modal opened onClose={onClose} title={`Rotate ${credential.name}`} size="lg" data-testid="rotate-dialog">
      <form onSubmit={submit} noValidate>
        <Stack>
          <Text size="sm" c="dimmed">
            The new secret replaces the stored one completely; fields left empty are not kept.
          </Text>
          {general && (
            <Alert color="red" data-testid="rotate-dialog-error" style={{ whiteSpace: "pre-wrap" }}>
              {general}
            </Alert>
          )}
          {type === null ? (
            <Alert color="red">This credential has a type the UI does not know ({credential.credential_type}).</Alert>
          ) : (
            <SecretInputs type={type} values={values} errors={errors} onChange={(f, v) => setValues((prev) => ({ ...prev, [f]: v }))} />
          )}
          <Group justify="flex-end">
            <Button variant="default" onClick={onClose}>
              Cancel
            </Button>
            <Button type="submit" loading={rotate.isPending} disabled={type === null} data-testid="rotate-submit">
              Rotate
            </Button>
          </Group>
        </Stack>
      </form>
    </Modal>
  );
}
