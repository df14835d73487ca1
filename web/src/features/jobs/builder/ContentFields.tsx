import { Button, FileButton, Group, SegmentedControl, Stack, Text, Textarea, Tooltip } from "@mantine/core";
import { useState } from "react";
import { formatBytes } from "../../../components/format";
import { setKey, text, type Json } from "../definition";
import { base64ToText, fileToBase64, textToBase64 } from "./base64";
import { fieldError } from "./fieldError";

const mono = { input: { fontFamily: "monospace" } };

/** `contentB64` as base64 text, with a file picker and a text box that encodes UTF-8. */
export function Base64Field({
  index,
  value,
  onChange,
  error,
  readOnly,
}: {
  index: number;
  value: unknown;
  onChange: (b64: string) => void;
  error?: string;
  readOnly: boolean;
}) {
  const b64 = text(value);
  const decoded = base64ToText(b64);
  const [asText, setAsText] = useState(false);
  const [fileError, setFileError] = useState<string | null>(null);
  const size = Math.floor((b64.replace(/=+$/, "").length * 3) / 4);
  return (
    <Stack gap={4}>
      <Group gap="xs" justify="space-between">
        <Text size="sm" fw={500}>
          Content (base64)
        </Text>
        <Group gap="xs">
          <Text size="xs" c="dimmed">
            {formatBytes(size)}
          </Text>
          {!readOnly && (
            <>
              <Button size="compact-xs" variant="light" disabled={decoded === null} onClick={() => setAsText((v) => !v)} data-testid={`step-${index}-content-as-text`}>
                {asText ? "Edit base64" : "Edit as text"}
              </Button>
              <FileButton
                onChange={(file) => {
                  if (!file) return;
                  setFileError(null);
                  fileToBase64(file).then(onChange, (e: unknown) => setFileError(e instanceof Error ? e.message : "Could not read the file"));
                }}
              >
                {(props) => (
                  <Button size="compact-xs" variant="light" {...props} data-testid={`step-${index}-content-file`}>
                    Load file…
                  </Button>
                )}
              </FileButton>
            </>
          )}
        </Group>
      </Group>
      {asText && decoded !== null ? (
        <Textarea
          autosize
          minRows={3}
          maxRows={16}
          styles={mono}
          spellCheck={false}
          value={decoded}
          onChange={(e) => onChange(textToBase64(e.currentTarget.value))}
          error={fieldError(error ?? fileError ?? undefined)}
          readOnly={readOnly}
          aria-label="Content as text"
          data-testid={`step-${index}-content`}
        />
      ) : (
        <Textarea
          autosize
          minRows={2}
          maxRows={8}
          styles={mono}
          spellCheck={false}
          value={b64}
          onChange={(e) => onChange(e.currentTarget.value.replace(/\s+/g, ""))}
          error={fieldError(error ?? fileError ?? undefined)}
          readOnly={readOnly}
          aria-label="Content (base64)"
          data-testid={`step-${index}-content-b64`}
        />
      )}
    </Stack>
  );
}

/** ssh.copy's content: `content` (text) or `contentB64`, exactly one of them. */
export function SshContentField({
  index,
  data,
  onChange,
  errorFor,
  readOnly,
}: {
  index: number;
  data: Json;
  onChange: (d: Json) => void;
  errorFor: (key: string) => string | undefined;
  readOnly: boolean;
}) {
  const isB64 = data.contentB64 !== undefined && data.content === undefined;
  const error = [errorFor("content"), errorFor("contentB64")].filter(Boolean).join("; ") || undefined;
  // Binary content (or broken base64) has no text form: switching would lose it.
  const asText = isB64 ? base64ToText(text(data.contentB64)) : null;
  const noText = isB64 && asText === null;
  const switchTo = (mode: string) => {
    if (mode === "base64" && !isB64) onChange(setKey(setKey(data, "content", undefined), "contentB64", textToBase64(text(data.content))));
    if (mode === "text" && isB64 && asText !== null) onChange(setKey(setKey(data, "contentB64", undefined), "content", asText));
  };
  return (
    <Stack gap={4}>
      <SegmentedControl
        size="xs"
        w="fit-content"
        data={[
          {
            value: "text",
            label: noText ? (
              <Tooltip label="This content is not UTF-8 text (a binary file?); as text it would be lost">
                <span>Text</span>
              </Tooltip>
            ) : (
              "Text"
            ),
            disabled: noText,
          },
          { value: "base64", label: "Base64 / file" },
        ]}
        value={isB64 ? "base64" : "text"}
        onChange={switchTo}
        disabled={readOnly}
        data-testid={`step-${index}-content-mode`}
      />
      {noText && !readOnly && (
        <Text size="xs" c="dimmed" data-testid={`step-${index}-content-not-text`}>
          Not UTF-8 text, so it stays base64 (Text would lose it).
        </Text>
      )}
      {isB64 ? (
        <Base64Field index={index} value={data.contentB64} onChange={(b) => onChange(setKey(data, "contentB64", b))} error={error} readOnly={readOnly} />
      ) : (
        <Textarea
          label="Content"
          autosize
          minRows={3}
          maxRows={16}
          styles={mono}
          spellCheck={false}
          value={text(data.content)}
          onChange={(e) => onChange(setKey(data, "content", e.currentTarget.value))}
          error={fieldError(error)}
          readOnly={readOnly}
          data-testid={`step-${index}-content`}
        />
      )}
    </Stack>
  );
}
