import { Alert, Badge, Button, Code, CopyButton, Group, List, Modal, Paper, ScrollArea, Stack, Switch, Table, Text, Textarea } from "@mantine/core";
import { notifications } from "@mantine/notifications";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useMemo, useRef, useState, type ChangeEvent, type DragEvent } from "react";
import { ApiError, errorMessage } from "../../api/errors";
import { keys } from "../../api/queries";
import {
  EXAMPLE_CSV,
  IMPORT_BODY_LIMIT,
  IMPORT_MAX_ROWS,
  detectFormat,
  formatBytes,
  importIssues,
  importTargets,
  parseImport,
  readFileText,
  type ImportFormat,
  type Preview,
  type PreviewRow,
  type RowIssue,
} from "./importFile";

/** Rows shown in the preview; after a failed import, the rows with errors are shown whatever their number. */
const PREVIEW_LIMIT = 200;

interface LoadedFile {
  name: string;
  size: number;
  text: string;
}

function downloadExample() {
  const url = URL.createObjectURL(new Blob([EXAMPLE_CSV], { type: "text/csv;charset=utf-8" }));
  const a = document.createElement("a");
  a.href = url;
  a.download = "targets-example.csv";
  a.style.display = "none";
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

function plural(n: number, one: string, many: string): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** The column a server field belongs to: a missing credential is reported as `credential_ref` even when the CSV names credentials. */
function columnOf(field: string, columns: string[]): string | null {
  const top = field.split(".")[0] ?? "";
  if (columns.includes(top)) return top;
  if (top === "credential_ref" && columns.includes("credential")) return "credential";
  if (top === "credential" && columns.includes("credential_ref")) return "credential_ref";
  return null;
}

function FormatHint() {
  return (
    <Paper withBorder p="sm" radius="sm">
      <Stack gap={6}>
        <Text size="sm">
          <b>CSV</b> (comma-separated, not tabs) with a header row naming the columns: <Code>name</Code>, <Code>hostname</Code>, <Code>protocol</Code> (winrm, ssh, http),{" "}
          <Code>port</Code>, <Code>credential</Code> (a credential&apos;s name) or <Code>credential_ref</Code> (its id), <Code>tags</Code> (key:value
          separated by <Code>;</Code>), <Code>metadata</Code> (a JSON object), <Code>depends_on</Code> (target ids separated by <Code>;</Code>).{" "}
          <b>JSON</b>: an array of objects with the fields of a new target (or <Code>{'{"targets": [...]}'}</Code>). Up to {IMPORT_MAX_ROWS} rows and{" "}
          {formatBytes(IMPORT_BODY_LIMIT)}; every row is created, or none.
        </Text>
        <Code block fz="xs">
          {EXAMPLE_CSV}
        </Code>
        <Group gap="xs">
          <CopyButton value={EXAMPLE_CSV}>
            {({ copied, copy }) => (
              <Button size="xs" variant="light" color={copied ? "teal" : undefined} onClick={copy}>
                {copied ? "Copied" : "Copy example"}
              </Button>
            )}
          </CopyButton>
          <Button size="xs" variant="light" onClick={downloadExample}>
            Download example CSV
          </Button>
        </Group>
      </Stack>
    </Paper>
  );
}

function PreviewTable({
  preview,
  issues,
  onlyErrors,
}: {
  preview: Preview;
  issues: Map<number, RowIssue[]> | null;
  onlyErrors: boolean;
}) {
  const isCsv = preview.format === "csv";
  const hasProblems = issues !== null || preview.rows.some((r) => r.localError !== undefined);
  const problemsOf = (r: PreviewRow): RowIssue[] => issues?.get(r.index) ?? [];
  const shown = onlyErrors
    ? preview.rows.filter((r) => problemsOf(r).length > 0 || r.localError !== undefined)
    : preview.rows.slice(0, PREVIEW_LIMIT);
  return (
    <Stack gap={4}>
      <ScrollArea.Autosize mah={380} type="auto">
        <Table striped={false} withTableBorder withColumnBorders fz="xs" stickyHeader data-testid="import-preview">
          <Table.Thead>
            <Table.Tr>
              <Table.Th>#</Table.Th>
              {isCsv && <Table.Th>Line</Table.Th>}
              {preview.columns.map((c) => (
                <Table.Th key={c}>{c}</Table.Th>
              ))}
              {hasProblems && <Table.Th>Problems</Table.Th>}
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {shown.map((r) => {
              const problems = problemsOf(r);
              const badColumns = new Set(problems.map((p) => columnOf(p.field, preview.columns)));
              const failed = problems.length > 0;
              return (
                <Table.Tr
                  key={r.index}
                  data-testid={failed ? "import-row-error" : "import-row"}
                  data-row={r.index}
                  data-fields={failed ? problems.map((p) => p.field).join(",") : undefined}
                  bg={failed ? "var(--mantine-color-red-light)" : r.localError !== undefined ? "var(--mantine-color-orange-light)" : undefined}
                >
                  <Table.Td>{r.index + 1}</Table.Td>
                  {isCsv && <Table.Td c="dimmed">{r.line}</Table.Td>}
                  {preview.columns.map((c) => {
                    const v = r.values[c] ?? "";
                    return (
                      <Table.Td key={c} c={badColumns.has(c) ? "red" : undefined} fw={badColumns.has(c) ? 600 : undefined} maw={220}>
                        <Text size="xs" truncate="end" title={v} ff={c === "metadata" ? "monospace" : undefined} inherit>
                          {v === "" ? " " : v}
                        </Text>
                      </Table.Td>
                    );
                  })}
                  {hasProblems && (
                    <Table.Td miw={220}>
                      {problems.map((p, i) => (
                        <Text key={i} size="xs" c="red" data-testid="import-row-error-message">
                          {p.field ? <b>{p.field}: </b> : null}
                          {p.msg}
                        </Text>
                      ))}
                      {r.localError !== undefined && problems.length === 0 && (
                        <Text size="xs" c="orange">
                          {r.localError}
                        </Text>
                      )}
                    </Table.Td>
                  )}
                </Table.Tr>
              );
            })}
          </Table.Tbody>
        </Table>
      </ScrollArea.Autosize>
      <Text size="xs" c="dimmed">
        {onlyErrors
          ? `Showing the ${plural(shown.length, "row", "rows")} with problems, of ${preview.rows.length}.`
          : shown.length < preview.rows.length
            ? `Showing the first ${shown.length} of ${preview.rows.length} rows.`
            : `${plural(preview.rows.length, "row", "rows")}.`}
      </Text>
    </Stack>
  );
}

/** Creates many targets from a CSV or JSON file, all or none. Mount it only while open. */
export function ImportTargetsDialog({ onClose }: { onClose: () => void }) {
  const queryClient = useQueryClient();
  const fileInput = useRef<HTMLInputElement>(null);
  const [text, setText] = useState("");
  const [file, setFile] = useState<LoadedFile | null>(null);
  const [fileError, setFileError] = useState<string | null>(null);
  const [reading, setReading] = useState(false);
  const [onlyErrorsChoice, setOnlyErrorsChoice] = useState<boolean | null>(null);

  const submit = useMutation({
    mutationFn: ({ body, format }: { body: string; format: ImportFormat }) => importTargets(body, format),
    onSuccess: (res) => {
      void queryClient.invalidateQueries({ queryKey: keys.targets() });
      notifications.show({ color: "green", message: `${plural(res.created, "target", "targets")} imported` });
    },
  });

  // Pasted text may start with a byte-order mark; the server's parsers would take it for data.
  const source = file ? file.text : text.replace(/^\uFEFF/, "");
  const format = detectFormat(source, file?.name);
  const parsed = useMemo(() => (source.trim() === "" && file === null ? null : parseImport(source, format)), [source, format, file]);
  const preview = parsed?.ok ? parsed.preview : null;

  const err = submit.error;
  const rejected = err instanceof ApiError && err.status === 422 && err.issues.length > 0 && preview !== null;
  const issues = rejected ? importIssues(err.issues, preview.rows.length) : null;
  const badRows = issues?.byRow.size ?? 0;
  const onlyErrors = badRows > 0 && (onlyErrorsChoice ?? (preview?.rows.length ?? 0) > PREVIEW_LIMIT);

  const changed = () => {
    submit.reset();
    setOnlyErrorsChoice(null);
  };

  const load = async (f: File) => {
    changed();
    setFileError(null);
    setReading(true);
    const read = await readFileText(f);
    setReading(false);
    if ("error" in read) {
      setFile(null);
      setFileError(read.error);
    } else {
      setFile({ name: f.name, size: f.size, text: read.text });
    }
  };

  const onPick = (e: ChangeEvent<HTMLInputElement>) => {
    const f = e.currentTarget.files?.[0];
    e.currentTarget.value = ""; // picking the same file again (after fixing it) is a change too
    if (f && !submit.isPending) void load(f);
  };

  // While an import is on its way, what is being imported stays as it is.
  const busy = submit.isPending;

  const onDrop = (e: DragEvent) => {
    const f = e.dataTransfer.files[0];
    if (!f) return;
    e.preventDefault();
    if (!busy) void load(f);
  };

  const reset = () => {
    changed();
    setText("");
    setFile(null);
    setFileError(null);
  };

  const done = submit.isSuccess;
  const canSubmit = preview !== null && !submit.isPending && !done && !reading;

  return (
    <Modal opened onClose={onClose} title="Import targets" size={1100} data-testid="import-dialog">
      <Stack gap="sm" onDragOver={(e) => e.preventDefault()} onDrop={onDrop}>
        <FormatHint />
        <input ref={fileInput} type="file" accept=".csv,.json,text/csv,application/json" hidden onChange={onPick} disabled={busy} data-testid="import-file" />
        {file ? (
          <Paper withBorder p="sm" radius="sm">
            <Group justify="space-between">
              <Text size="sm">
                <b>{file.name}</b> ({formatBytes(file.size)})
              </Text>
              <Group gap="xs">
                {file.size <= 512 * 1024 && (
                  <Button
                    size="xs"
                    variant="subtle"
                    disabled={busy}
                    onClick={() => {
                      changed();
                      setText(file.text);
                      setFile(null);
                    }}
                  >
                    Edit as text
                  </Button>
                )}
                <Button size="xs" variant="subtle" color="gray" onClick={reset} disabled={busy}>
                  Remove
                </Button>
              </Group>
            </Group>
          </Paper>
        ) : (
          <Textarea
            label="CSV or JSON"
            description="Paste here, choose a file, or drop one on this dialog"
            placeholder={"name,hostname,protocol,credential,tags\nweb-01,web-01.example.com,ssh,linux-root,env:prod"}
            autosize
            minRows={5}
            maxRows={12}
            spellCheck={false}
            styles={{ input: { fontFamily: "monospace", fontSize: "var(--mantine-font-size-xs)" } }}
            value={text}
            disabled={busy}
            onChange={(e) => {
              changed();
              setFileError(null);
              setText(e.currentTarget.value);
            }}
            data-testid="import-text"
          />
        )}
        <Group gap="xs">
          <Button size="xs" variant="default" onClick={() => fileInput.current?.click()} loading={reading} disabled={busy}>
            Choose file…
          </Button>
          {parsed !== null && (
            <Badge variant="light" tt="none">
              {format.toUpperCase()}
            </Badge>
          )}
        </Group>
        {fileError !== null && (
          <Alert color="red" data-testid="import-file-error">
            {fileError}
          </Alert>
        )}
        {parsed !== null && !parsed.ok && (
          <Alert color="orange" data-testid="import-parse-error">
            {parsed.error}
          </Alert>
        )}
        {done && (
          <Alert color="green" data-testid="import-summary" data-outcome="success">
            Imported {plural(submit.data.created, "target", "targets")}.
          </Alert>
        )}
        {err && (
          <Alert color="red" data-testid="import-summary" data-outcome="error" data-rows={badRows}>
            <Stack gap={4}>
              <Text size="sm" fw={600}>
                {badRows > 0
                  ? `${plural(badRows, "row has", "rows have")} errors; nothing was imported.`
                  : `The import was rejected; nothing was imported.`}
              </Text>
              {issues ? (
                issues.general.length > 0 && (
                  <List size="sm">
                    {issues.general.map((g, i) => (
                      <List.Item key={i}>{g}</List.Item>
                    ))}
                  </List>
                )
              ) : (
                <Text size="sm">{errorMessage(err)}</Text>
              )}
            </Stack>
          </Alert>
        )}
        {preview !== null && (
          <>
            {badRows > 0 && (
              <Switch
                size="xs"
                label="Only rows with errors"
                checked={onlyErrors}
                onChange={(e) => setOnlyErrorsChoice(e.currentTarget.checked)}
                data-testid="import-only-errors"
              />
            )}
            <PreviewTable preview={preview} issues={issues?.byRow ?? null} onlyErrors={onlyErrors} />
          </>
        )}
        <Group justify="flex-end">
          {done ? (
            <>
              <Button variant="default" onClick={reset}>
                Import more
              </Button>
              <Button onClick={onClose} data-testid="import-close">
                Close
              </Button>
            </>
          ) : (
            <>
              <Button variant="default" onClick={onClose}>
                Cancel
              </Button>
              <Button
                disabled={!canSubmit}
                loading={submit.isPending}
                onClick={() => preview !== null && submit.mutate({ body: source, format: preview.format })}
                data-testid="import-submit"
              >
                {preview ? `Import ${plural(preview.rows.length, "target", "targets")}` : "Import"}
              </Button>
            </>
          )}
        </Group>
      </Stack>
    </Modal>
  );
}
