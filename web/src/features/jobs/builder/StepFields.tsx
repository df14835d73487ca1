import { Group, SegmentedControl, Select, Stack, Switch, TagsInput, Text, TextInput, Textarea } from "@mantine/core";
import { useState } from "react";
import { setKey, text, type Json, type StepType } from "../definition";
import { Base64Field, SshContentField } from "./ContentFields";
import { fieldError } from "./fieldError";
import { bodyMode, bodyText, parseBody, type BodyMode } from "./httpBody";
import { KeyValueRows } from "./KeyValueRows";

const mono = { input: { fontFamily: "monospace" } };
const METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];

export interface StepFormProps {
  index: number;
  data: Json;
  onChange: (d: Json) => void;
  errorFor: (key: string) => string | undefined;
  readOnly: boolean;
}

/** A boolean key: a switch; `undefined` (the server's default) when it equals `fallback` and was absent. */
function BoolField({ label, k, fallback, p }: { label: string; k: string; fallback: boolean; p: StepFormProps }) {
  const v = p.data[k];
  return (
    <Switch
      label={label}
      checked={typeof v === "boolean" ? v : fallback}
      onChange={(e) => p.onChange(setKey(p.data, k, v === undefined && e.currentTarget.checked === fallback ? undefined : e.currentTarget.checked))}
      error={fieldError(p.errorFor(k))}
      disabled={p.readOnly}
      data-testid={`step-${p.index}-${k}`}
    />
  );
}

function CommandField({ p, placeholder }: { p: StepFormProps; placeholder: string }) {
  return (
    <Textarea
      label="Command"
      withAsterisk
      autosize
      minRows={3}
      maxRows={20}
      styles={mono}
      spellCheck={false}
      placeholder={placeholder}
      value={text(p.data.command)}
      onChange={(e) => p.onChange(setKey(p.data, "command", e.currentTarget.value))}
      error={fieldError(p.errorFor("command"))}
      readOnly={p.readOnly}
      data-testid={`step-${p.index}-command`}
    />
  );
}

function DestPath({ p, placeholder }: { p: StepFormProps; placeholder: string }) {
  return (
    <TextInput
      label="Destination path"
      withAsterisk
      styles={mono}
      placeholder={placeholder}
      value={text(p.data.destPath)}
      onChange={(e) => p.onChange(setKey(p.data, "destPath", e.currentTarget.value))}
      error={fieldError(p.errorFor("destPath"))}
      readOnly={p.readOnly}
      data-testid={`step-${p.index}-destPath`}
      style={{ flex: 3, minWidth: 200 }}
    />
  );
}

function SshExec(p: StepFormProps) {
  return (
    <>
      <CommandField p={p} placeholder="systemctl restart {{ svc }}" />
      <BoolField label="Run with sudo" k="sudo" fallback={false} p={p} />
      <KeyValueRows
        label="Environment"
        keyPlaceholder="NAME"
        value={p.data.env}
        onChange={(v) => p.onChange(setKey(p.data, "env", v))}
        error={p.errorFor("env")}
        readOnly={p.readOnly}
        testId={`step-${p.index}-env`}
      />
    </>
  );
}

function SshCopy(p: StepFormProps) {
  return (
    <>
      <SshContentField index={p.index} data={p.data} onChange={p.onChange} errorFor={p.errorFor} readOnly={p.readOnly} />
      <Group align="flex-start" grow>
        <DestPath p={p} placeholder="/etc/app/config.yml" />
        <TextInput
          label="Mode"
          description="Octal, e.g. 0644"
          styles={mono}
          placeholder="keep default"
          value={text(p.data.mode)}
          // Octal digits stay a string ("0644"), as the server reads them.
          onChange={(e) => p.onChange(setKey(p.data, "mode", e.currentTarget.value === "" ? undefined : e.currentTarget.value))}
          error={fieldError(p.errorFor("mode"))}
          readOnly={p.readOnly}
          data-testid={`step-${p.index}-mode`}
          style={{ flex: 1, minWidth: 110 }}
        />
      </Group>
      <BoolField label="Overwrite an existing file" k="overwrite" fallback={true} p={p} />
    </>
  );
}

function WinrmExec(p: StepFormProps) {
  return (
    <>
      <Select
        label="Shell"
        withAsterisk
        data={["powershell", "cmd"]}
        allowDeselect={false}
        value={typeof p.data.shell === "string" ? p.data.shell : null}
        onChange={(v) => p.onChange(setKey(p.data, "shell", v ?? undefined))}
        error={fieldError(p.errorFor("shell"))}
        readOnly={p.readOnly}
        w={180}
        data-testid={`step-${p.index}-shell`}
      />
      <CommandField p={p} placeholder="Restart-Service {{ svc }}" />
    </>
  );
}

function WinrmCopy(p: StepFormProps) {
  return (
    <>
      <Base64Field index={p.index} value={p.data.contentB64} onChange={(b) => p.onChange(setKey(p.data, "contentB64", b))} error={p.errorFor("contentB64")} readOnly={p.readOnly} />
      <DestPath p={p} placeholder="C:\\app\\config.ini" />
      <BoolField label="Overwrite an existing file" k="overwrite" fallback={true} p={p} />
    </>
  );
}

/**
 * http.request's body: the text is kept as typed. As text it is the body at once; as JSON it is
 * parsed when the field loses focus (invalid JSON: an inline error, the body left as it was).
 */
function BodyField({ p }: { p: StepFormProps }) {
  const value = p.data.body;
  const [mode, setMode] = useState<BodyMode>(() => bodyMode(value));
  const [input, setInput] = useState(() => bodyText(value, mode));
  const [jsonError, setJsonError] = useState<string | null>(null);
  // The body this field last set; any other came from elsewhere and replaces the text.
  const [own, setOwn] = useState<unknown>(value);
  if (value !== own) {
    const m = bodyMode(value);
    setOwn(value);
    setMode(m);
    setInput(bodyText(value, m));
    setJsonError(null);
  }
  const emit = (v: unknown) => {
    setOwn(v);
    p.onChange(setKey(p.data, "body", v));
  };
  const commit = (t: string, m: BodyMode) => {
    const parsed = parseBody(t, m);
    if (!parsed.ok) {
      setJsonError(parsed.error);
      return;
    }
    setJsonError(null);
    if (JSON.stringify(parsed.value) !== JSON.stringify(value)) emit(parsed.value);
  };
  return (
    <Stack gap={4}>
      <Group gap="xs" justify="space-between">
        <Text size="sm" fw={500}>
          Body
        </Text>
        <SegmentedControl
          size="xs"
          data={[
            { value: "text", label: "Text" },
            { value: "json", label: "JSON" },
          ]}
          value={mode}
          onChange={(v) => {
            const m = v === "json" ? "json" : "text";
            setMode(m);
            commit(input, m);
          }}
          disabled={p.readOnly}
          data-testid={`step-${p.index}-body-mode`}
        />
      </Group>
      <Textarea
        aria-label="Body"
        description={mode === "json" ? "A JSON value, sent as its JSON text (checked when you leave the field)" : undefined}
        autosize
        minRows={2}
        maxRows={16}
        styles={mono}
        spellCheck={false}
        value={input}
        onChange={(e) => {
          const t = e.currentTarget.value;
          setInput(t);
          if (jsonError) setJsonError(null);
          if (mode === "text") commit(t, "text");
        }}
        onBlur={() => {
          if (mode === "json" && !p.readOnly) commit(input, "json");
        }}
        error={jsonError ? <span data-testid={`step-${p.index}-body-error`}>{jsonError}</span> : fieldError(p.errorFor("body"))}
        readOnly={p.readOnly}
        data-testid={`step-${p.index}-body`}
      />
    </Stack>
  );
}

function HttpRequest(p: StepFormProps) {
  const status = p.data.expectedStatus;
  const statusList = Array.isArray(status) ? status.map(text) : status === undefined ? [] : [text(status)];
  return (
    <>
      <Group align="flex-start" wrap="wrap">
        <Select
          label="Method"
          data={METHODS}
          allowDeselect={false}
          value={typeof p.data.method === "string" ? p.data.method.toUpperCase() : "GET"}
          onChange={(v) => p.onChange(setKey(p.data, "method", v ?? undefined))}
          error={fieldError(p.errorFor("method"))}
          readOnly={p.readOnly}
          w={120}
          data-testid={`step-${p.index}-method`}
        />
        <TextInput
          label="URL"
          withAsterisk
          styles={mono}
          placeholder="https://example.com/health or /path on each target"
          value={text(p.data.url)}
          onChange={(e) => p.onChange(setKey(p.data, "url", e.currentTarget.value))}
          error={fieldError(p.errorFor("url"))}
          readOnly={p.readOnly}
          style={{ flex: 1, minWidth: 220 }}
          data-testid={`step-${p.index}-url`}
        />
      </Group>
      <KeyValueRows
        label="Headers"
        keyPlaceholder="Header-Name"
        value={p.data.headers}
        onChange={(v) => p.onChange(setKey(p.data, "headers", v))}
        error={p.errorFor("headers")}
        readOnly={p.readOnly}
        testId={`step-${p.index}-headers`}
      />
      <BodyField p={p} />
      <TagsInput
        label="Expected status"
        description="Status codes, Enter after each; none means any 2xx"
        placeholder="200"
        value={statusList}
        onChange={(v) => p.onChange(setKey(p.data, "expectedStatus", v.length === 0 ? undefined : v.map((s) => (/^\d+$/.test(s.trim()) ? Number(s.trim()) : s))))}
        error={fieldError(p.errorFor("expectedStatus"))}
        readOnly={p.readOnly}
        acceptValueOnBlur
        data-testid={`step-${p.index}-expectedStatus`}
      />
    </>
  );
}

/** The fields of one step type. */
export function StepFields({ type, ...p }: StepFormProps & { type: StepType }) {
  switch (type) {
    case "ssh.exec":
      return <SshExec {...p} />;
    case "ssh.copy":
      return <SshCopy {...p} />;
    case "winrm.exec":
      return <WinrmExec {...p} />;
    case "winrm.copy":
      return <WinrmCopy {...p} />;
    case "http.request":
      return <HttpRequest {...p} />;
  }
}
