import { ActionIcon, Button, Card, Group, Select, SimpleGrid, Stack, Switch, TagsInput, Text, TextInput } from "@mantine/core";
import { useCredentials } from "../../../api/queries";
import { useState } from "react";
import { isRecord, nextUid, numberFromInput, PARAM_TYPES, paramKind, SECRET_FIELDS, setKey, text, type Json, type ParamRow, type ParamType } from "../definition";
import { fieldError } from "./fieldError";

/** The declaration object of a parameter (a plain default becomes `{type, default}`). */
function declaration(value: unknown): Json {
  if (isRecord(value)) return value;
  return { type: paramKind(value), default: value };
}

/** A declaration changed to `kind`: keys that only fit the old kind are dropped. */
function retype(decl: Json, kind: ParamType): Json {
  let out = setKey(decl, "type", kind);
  if (kind !== "string") out = setKey(out, "pattern", undefined);
  if (kind !== "enum") out = setKey(out, "enum", undefined);
  if (kind !== "secret") out = setKey(setKey(out, "credential", undefined), "field", undefined);
  if (kind === "secret") out = setKey(out, "default", undefined);
  if (kind === "boolean" && typeof out.default !== "boolean") out = setKey(out, "default", undefined);
  if (kind === "number" && typeof out.default !== "number") out = setKey(out, "default", undefined);
  if (kind === "enum" && out.enum === undefined) out = setKey(out, "enum", []);
  return out;
}

/** A number default: the text as typed is kept ("1.0" on the way to "1.05"); on blur it becomes a number. */
function NumberDefault({ decl, onChange, error, readOnly, testId }: { decl: Json; onChange: (d: Json) => void; error?: string; readOnly: boolean; testId: string }) {
  const value = decl.default;
  const [input, setInput] = useState(() => text(value));
  // The value this field last set; another value came from elsewhere and replaces the text.
  const [own, setOwn] = useState<unknown>(value);
  if (value !== own) {
    setOwn(value);
    setInput(text(value));
  }
  const emit = (raw: string, final: boolean) => {
    const v = numberFromInput(raw, final);
    setOwn(v);
    onChange(setKey(decl, "default", v));
  };
  return (
    <TextInput
      label="Default"
      inputMode="decimal"
      value={input}
      onChange={(e) => {
        setInput(e.currentTarget.value);
        emit(e.currentTarget.value, false);
      }}
      onBlur={() => {
        const v = numberFromInput(input, true);
        if (typeof v === "number") setInput(String(v));
        if (v !== value) emit(input, true);
      }}
      error={fieldError(error)}
      readOnly={readOnly}
      data-testid={testId}
    />
  );
}

function DefaultInput({ kind, decl, onChange, error, readOnly, testId }: { kind: ParamType; decl: Json; onChange: (d: Json) => void; error?: string; readOnly: boolean; testId: string }) {
  const value = decl.default;
  switch (kind) {
    case "secret":
      return null;
    case "boolean":
      return (
        <Select
          label="Default"
          data={["true", "false"]}
          clearable
          value={typeof value === "boolean" ? String(value) : null}
          onChange={(v) => onChange(setKey(decl, "default", v === null ? undefined : v === "true"))}
          error={fieldError(error)}
          readOnly={readOnly}
          data-testid={testId}
        />
      );
    case "enum": {
      const options: unknown[] = Array.isArray(decl.enum) ? (decl.enum as unknown[]) : [];
      return (
        <Select
          label="Default"
          data={options.map((o, i) => ({ value: String(i), label: text(o) }))}
          clearable
          value={(() => {
            const i = options.findIndex((o) => o === value);
            return i >= 0 ? String(i) : null;
          })()}
          onChange={(v) => onChange(setKey(decl, "default", v === null ? undefined : options[Number(v)]))}
          error={fieldError(error)}
          readOnly={readOnly}
          data-testid={testId}
        />
      );
    }
    case "number":
      return <NumberDefault decl={decl} onChange={onChange} error={error} readOnly={readOnly} testId={testId} />;
    case "string":
      return (
        <TextInput
          label="Default"
          value={text(value)}
          onChange={(e) => onChange(setKey(decl, "default", e.currentTarget.value === "" ? undefined : e.currentTarget.value))}
          error={fieldError(error)}
          readOnly={readOnly}
          data-testid={testId}
        />
      );
  }
}

function ParamCard({ index, row, errors, readOnly, credentialNames, onChange, onRemove }: { index: number; row: ParamRow; errors: Record<string, string>; readOnly: boolean; credentialNames: string[]; onChange: (r: ParamRow) => void; onRemove: () => void }) {
  const err = (key: string) => errors[`param.${row.uid}.${key}`];
  const kind = paramKind(row.value);
  const decl = declaration(row.value);
  const set = (d: Json) => onChange({ ...row, value: d });
  const tid = (k: string) => `job-param-${index}-${k}`;
  const enumValues: unknown[] = Array.isArray(decl.enum) ? (decl.enum as unknown[]) : [];
  return (
    <Card withBorder padding="sm" data-testid={`job-param-${index}`}>
      <Stack gap="xs">
        <Group align="flex-start" gap="xs" wrap="nowrap">
          <SimpleGrid cols={{ base: 1, xs: 3 }} spacing="xs" style={{ flex: 1 }}>
            <TextInput
              label="Name"
              withAsterisk
              styles={{ input: { fontFamily: "monospace" } }}
              placeholder="svc"
              value={row.name}
              onChange={(e) => onChange({ ...row, name: e.currentTarget.value })}
              error={fieldError(err("name"))}
              readOnly={readOnly}
              data-testid={tid("name")}
            />
            <Select
              label="Type"
              data={[...PARAM_TYPES]}
              allowDeselect={false}
              value={kind}
              onChange={(v) => {
                if (v !== null) set(retype(decl, v as ParamType));
              }}
              error={fieldError(err("type"))}
              readOnly={readOnly}
              data-testid={tid("type")}
            />
            <DefaultInput kind={kind} decl={decl} onChange={set} error={err("default")} readOnly={readOnly} testId={tid("default")} />
          </SimpleGrid>
          {!readOnly && (
            <ActionIcon variant="subtle" color="red" mt={26} onClick={onRemove} aria-label="Remove parameter" data-testid={tid("remove")}>
              ×
            </ActionIcon>
          )}
        </Group>
        {kind === "string" && (
          <TextInput
            label="Pattern"
            description="A regular expression the whole value must match"
            styles={{ input: { fontFamily: "monospace" } }}
            value={text(decl.pattern)}
            onChange={(e) => set(setKey(decl, "pattern", e.currentTarget.value === "" ? undefined : e.currentTarget.value))}
            error={fieldError(err("pattern"))}
            readOnly={readOnly}
            data-testid={tid("pattern")}
          />
        )}
        {kind === "enum" && (
          <TagsInput
            label="Allowed values"
            description="Enter after each"
            value={enumValues.map(text)}
            onChange={(v) => set(setKey(decl, "enum", v.map((s) => enumValues.find((o) => text(o) === s) ?? s)))}
            error={fieldError(err("enum"))}
            readOnly={readOnly}
            acceptValueOnBlur
            data-testid={tid("enum")}
          />
        )}
        {kind === "secret" && (
          <SimpleGrid cols={{ base: 1, xs: 2 }} spacing="xs">
            <Select
              label="Credential"
              withAsterisk
              searchable
              data={credentialNames.includes(text(decl.credential)) || decl.credential === undefined ? credentialNames : [...credentialNames, text(decl.credential)]}
              value={decl.credential === undefined ? null : text(decl.credential)}
              onChange={(v) => set(setKey(decl, "credential", v ?? undefined))}
              error={fieldError(err("credential"))}
              readOnly={readOnly}
              data-testid={tid("credential")}
            />
            <Select
              label="Field"
              placeholder="chosen by the engine"
              clearable
              data={[...SECRET_FIELDS]}
              value={decl.field === undefined ? null : text(decl.field)}
              onChange={(v) => set(setKey(decl, "field", v ?? undefined))}
              error={fieldError(err("field"))}
              readOnly={readOnly}
              data-testid={tid("field")}
            />
          </SimpleGrid>
        )}
        <Group gap="md" align="flex-end" wrap="wrap">
          <TextInput
            label="Description"
            value={text(decl.description)}
            onChange={(e) => set(setKey(decl, "description", e.currentTarget.value === "" ? undefined : e.currentTarget.value))}
            error={fieldError(err("description"))}
            readOnly={readOnly}
            style={{ flex: 1, minWidth: 200 }}
            data-testid={tid("description")}
          />
          <Switch
            label="Required"
            checked={decl.required === true}
            onChange={(e) => set(setKey(decl, "required", e.currentTarget.checked ? true : undefined))}
            error={fieldError(err("required"))}
            disabled={readOnly}
            mb={6}
            data-testid={tid("required")}
          />
        </Group>
      </Stack>
    </Card>
  );
}

/** The parameter declarations: one card per parameter, in definition order. */
export function ParamRows({ rows, errors, readOnly, onChange }: { rows: ParamRow[]; errors: Record<string, string>; readOnly: boolean; onChange: (rows: ParamRow[]) => void }) {
  const credentials = useCredentials({ limit: 1000 });
  const credentialNames = (credentials.data?.credentials ?? []).map((c) => c.name);
  return (
    <Stack gap="xs">
      {rows.length === 0 && (
        <Text size="sm" c="dimmed">
          No parameters. Steps can still use <code>{"{{ name }}"}</code> placeholders given at run time.
        </Text>
      )}
      {rows.map((row, i) => (
        <ParamCard
          key={row.uid}
          index={i}
          row={row}
          errors={errors}
          readOnly={readOnly}
          credentialNames={credentialNames}
          onChange={(r) => onChange(rows.map((x) => (x.uid === row.uid ? r : x)))}
          onRemove={() => onChange(rows.filter((x) => x.uid !== row.uid))}
        />
      ))}
      {!readOnly && (
        <Button variant="light" size="xs" w="fit-content" onClick={() => onChange([...rows, { uid: nextUid(), name: "", value: { type: "string" } }])} data-testid="job-add-param">
          Add parameter
        </Button>
      )}
    </Stack>
  );
}
