import { Select, Switch, TextInput } from "@mantine/core";
import { displayValue, type ParamSpec, type ParamValue } from "./params";

/** A typed input for one declared parameter (`param-<name>`), for the run dialog and the plan. */
export function ParamInput({ spec, value, error, onChange }: { spec: ParamSpec; value: ParamValue; error?: string; onChange: (v: ParamValue) => void }) {
  const label = spec.name;
  const description = spec.description ?? undefined;
  const testId = `param-${spec.name}`;
  switch (spec.kind) {
    case "boolean":
      return (
        <Switch
          label={label}
          description={description}
          checked={value === true}
          onChange={(e) => onChange(e.currentTarget.checked)}
          error={error}
          data-testid={testId}
        />
      );
    case "enum":
      return (
        <Select
          label={label}
          description={description}
          withAsterisk={spec.required}
          clearable={!spec.required}
          data={spec.options.map((o, i) => ({ value: String(i), label: displayValue(o) }))}
          value={typeof value === "string" ? value : null}
          onChange={(v) => onChange(v)}
          error={error}
          data-testid={testId}
        />
      );
    case "secret":
      return (
        <TextInput
          label={label}
          description={description ?? "Secret: read from the vault when the run starts"}
          value={`from credential ${spec.credential ?? "?"}${spec.field ? ` (${spec.field})` : ""}`}
          disabled
          data-testid={testId}
        />
      );
    case "number":
      return (
        <TextInput
          label={label}
          description={description}
          withAsterisk={spec.required}
          inputMode="decimal"
          value={typeof value === "string" ? value : ""}
          onChange={(e) => onChange(e.currentTarget.value)}
          placeholder={spec.default !== undefined ? `default ${displayValue(spec.default)}` : undefined}
          error={error}
          data-testid={testId}
        />
      );
    case "string":
      return (
        <TextInput
          label={label}
          description={description ?? (spec.pattern ? `Pattern: ${spec.pattern}` : undefined)}
          withAsterisk={spec.required}
          value={typeof value === "string" ? value : ""}
          onChange={(e) => onChange(e.currentTarget.value)}
          error={error}
          data-testid={testId}
        />
      );
  }
}
