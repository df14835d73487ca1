import { ActionIcon, Button, Group, Input, Stack, TextInput } from "@mantine/core";
import { useState } from "react";
import { duplicateKeys, isRecord, nextUid, text } from "../definition";
import { fieldError } from "./fieldError";

interface Row {
  uid: number;
  key: string;
  value: string;
}

function rowsOf(value: unknown): Row[] {
  return isRecord(value) ? Object.entries(value).map(([key, v]) => ({ uid: nextUid(), key, value: text(v) })) : [];
}

/**
 * Rows of key and value for an object of strings (ssh.exec `env`, http.request `headers`).
 * Rows with an empty key are kept on screen but left out of the object; no rows removes the key.
 */
export function KeyValueRows({
  label,
  value,
  onChange,
  error,
  readOnly,
  keyPlaceholder,
  testId,
}: {
  label: string;
  value: unknown;
  onChange: (v: Record<string, string> | undefined) => void;
  error?: string;
  readOnly: boolean;
  keyPlaceholder: string;
  testId: string;
}) {
  const [rows, setRows] = useState<Row[]>(() => rowsOf(value));
  const update = (next: Row[]) => {
    setRows(next);
    const obj: Record<string, string> = {};
    for (const r of next) if (r.key !== "") obj[r.key] = r.value;
    onChange(next.length === 0 ? undefined : obj);
  };
  const dupes = duplicateKeys(rows.map((r) => r.key));
  return (
    <Input.Wrapper label={label} error={fieldError(error)} data-testid={testId}>
      <Stack gap={6} mt={4}>
        {rows.map((r, i) => (
          <Group key={r.uid} gap={6} wrap="nowrap" align="flex-start">
            <TextInput
              placeholder={keyPlaceholder}
              value={r.key}
              onChange={(e) => update(rows.map((x) => (x.uid === r.uid ? { ...x, key: e.currentTarget.value } : x)))}
              error={fieldError(dupes.has(r.key) ? `'${r.key}' is here twice: only the last row is saved` : undefined)}
              readOnly={readOnly}
              style={{ flex: 1 }}
              styles={{ input: { fontFamily: "monospace" } }}
              aria-label={`${label} name ${i + 1}`}
              data-testid={`${testId}-key-${i}`}
            />
            <TextInput
              placeholder="value"
              value={r.value}
              onChange={(e) => update(rows.map((x) => (x.uid === r.uid ? { ...x, value: e.currentTarget.value } : x)))}
              readOnly={readOnly}
              style={{ flex: 2 }}
              styles={{ input: { fontFamily: "monospace" } }}
              aria-label={`${label} value ${i + 1}`}
              data-testid={`${testId}-value-${i}`}
            />
            {!readOnly && (
              <ActionIcon variant="subtle" color="red" mt={4} aria-label="Remove row" onClick={() => update(rows.filter((x) => x.uid !== r.uid))}>
                ×
              </ActionIcon>
            )}
          </Group>
        ))}
        {!readOnly && (
          <Button size="compact-xs" variant="light" w="fit-content" onClick={() => update([...rows, { uid: nextUid(), key: "", value: "" }])} data-testid={`${testId}-add`}>
            Add {label.toLowerCase()}
          </Button>
        )}
      </Stack>
    </Input.Wrapper>
  );
}
