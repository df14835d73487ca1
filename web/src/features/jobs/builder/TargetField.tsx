import { Input, SegmentedControl, Stack, TagsInput, TextInput } from "@mantine/core";
import { useTargets } from "../../../api/queries";
import { fieldError } from "./fieldError";

type Mode = "none" | "names" | "tag";

function modeOf(target: unknown): Mode {
  if (target === undefined) return "none";
  if (typeof target === "string" && target.startsWith("tag:")) return "tag";
  return "names";
}

function namesOf(target: unknown): string[] {
  if (typeof target === "string") return target === "" ? [] : [target];
  if (Array.isArray(target)) return target.map((t) => (typeof t === "string" ? t : JSON.stringify(t)));
  return [];
}

/**
 * A step's `target`: nothing (http.request only), target names (picked from the list or typed:
 * names may hold `{{ placeholders }}`; Enter adds one), or a `tag:key:value` selector.
 */
export function TargetField({
  index,
  target,
  allowNone,
  onChange,
  error,
  readOnly,
}: {
  index: number;
  target: unknown;
  allowNone: boolean;
  onChange: (v: unknown) => void;
  error?: string;
  readOnly: boolean;
}) {
  const targets = useTargets({ limit: 1000 });
  const mode = modeOf(target);
  const names = namesOf(target);
  const known = (targets.data?.targets ?? []).map((t) => t.name);
  const modes = [
    ...(allowNone || mode === "none" ? [{ value: "none", label: "No target" }] : []),
    { value: "names", label: "Targets" },
    { value: "tag", label: "Tag" },
  ];
  const setMode = (m: string) => {
    if (m === "none") onChange(undefined);
    else if (m === "tag") onChange("tag:");
    else onChange([]);
  };
  return (
    <Input.Wrapper label="Target" error={mode === "none" ? fieldError(error) : undefined}>
      <Stack gap={6} mt={4}>
        <SegmentedControl size="xs" w="fit-content" data={modes} value={mode} onChange={setMode} disabled={readOnly} data-testid={`step-${index}-target-mode`} />
        {mode === "names" && (
          <TagsInput
            placeholder={names.length === 0 ? "Type or pick a target name, then Enter" : undefined}
            data={known}
            value={names}
            // One name is written as a string, several as a list (as people write them).
            onChange={(v) => onChange(v.length === 1 && !Array.isArray(target) ? v[0] : v)}
            error={fieldError(error)}
            clearable
            acceptValueOnBlur
            readOnly={readOnly}
            data-testid={`step-${index}-target`}
          />
        )}
        {mode === "tag" && (
          <TextInput
            leftSection="tag:"
            leftSectionWidth={40}
            placeholder="key:value"
            value={typeof target === "string" ? target.slice(4) : ""}
            onChange={(e) => onChange(`tag:${e.currentTarget.value}`)}
            error={fieldError(error)}
            readOnly={readOnly}
            data-testid={`step-${index}-target-tag`}
          />
        )}
      </Stack>
    </Input.Wrapper>
  );
}
