import { ActionIcon, Badge, Card, Collapse, Group, NativeSelect, SimpleGrid, Stack, Switch, Text, TextInput } from "@mantine/core";
import { intFromInput, isStepType, setKey, STEP_TYPES, text, type Json } from "../definition";
import { fieldError } from "./fieldError";
import { COMMON, retype, typeAccepts } from "./retype";
import { StepFields } from "./StepFields";
import { TargetField } from "./TargetField";

export interface StepCardProps {
  index: number;
  count: number;
  data: Json;
  collapsed: boolean;
  readOnly: boolean;
  errors: Record<string, string>;
  onChange: (d: Json) => void;
  onMove: (delta: -1 | 1) => void;
  onRemove: () => void;
  onToggle: () => void;
}

export function StepCard({ index, count, data, collapsed, readOnly, errors, onChange, onMove, onRemove, onToggle }: StepCardProps) {
  const errorFor = (key: string) => errors[`steps.${index}.${key}`];
  const type = data.type;
  const knownType = isStepType(type);
  const errorCount = Object.keys(errors).filter((k) => k.startsWith(`steps.${index}.`)).length;
  const extra = Object.keys(data).filter((k) => !COMMON.includes(k) && !(knownType && typeAccepts(type, k)));
  const intField = (key: string, label: string, placeholder: string) => (
    <TextInput
      label={label}
      inputMode="numeric"
      placeholder={placeholder}
      value={text(data[key])}
      onChange={(e) => onChange(setKey(data, key, intFromInput(e.currentTarget.value)))}
      error={fieldError(errorFor(key))}
      readOnly={readOnly}
      data-testid={`step-${index}-${key}`}
    />
  );
  return (
    <Card withBorder padding="sm" data-testid={`step-${index}`}>
      <Group justify="space-between" gap="xs" wrap="nowrap">
        <Group gap="xs" wrap="nowrap" style={{ minWidth: 0 }}>
          <ActionIcon variant="subtle" onClick={onToggle} aria-label={collapsed ? "Expand step" : "Collapse step"} data-testid={`step-${index}-toggle`}>
            {collapsed ? "▸" : "▾"}
          </ActionIcon>
          <Badge variant="light" style={{ flexShrink: 0 }}>
            {index + 1}
          </Badge>
          <Text fw={500} truncate>
            {text(data.name) || <Text span c="dimmed">{knownType ? type : "step"}</Text>}
          </Text>
          {collapsed && (
            <Text size="xs" c="dimmed" visibleFrom="xs">
              {text(type)}
            </Text>
          )}
          {errorCount > 0 && (
            <Badge color="red" variant="light" style={{ flexShrink: 0 }}>
              {errorCount} {errorCount === 1 ? "error" : "errors"}
            </Badge>
          )}
        </Group>
        {!readOnly && (
          <Group gap={2} wrap="nowrap">
            <ActionIcon variant="subtle" disabled={index === 0} onClick={() => onMove(-1)} aria-label="Move step up" data-testid={`step-${index}-up`}>
              ↑
            </ActionIcon>
            <ActionIcon variant="subtle" disabled={index === count - 1} onClick={() => onMove(1)} aria-label="Move step down" data-testid={`step-${index}-down`}>
              ↓
            </ActionIcon>
            <ActionIcon variant="subtle" color="red" onClick={onRemove} aria-label="Remove step" data-testid={`step-${index}-remove`}>
              ×
            </ActionIcon>
          </Group>
        )}
      </Group>
      <Collapse in={!collapsed}>
        <Stack gap="sm" mt="sm">
          <Group grow align="flex-start" wrap="wrap">
            <NativeSelect
              label="Type"
              withAsterisk
              data={knownType ? [...STEP_TYPES] : [...STEP_TYPES, text(type)]}
              value={text(type)}
              onChange={(e) => {
                const v = e.currentTarget.value;
                if (isStepType(v)) onChange(retype(data, v));
              }}
              error={fieldError(errorFor("type"))}
              disabled={readOnly}
              style={{ minWidth: 160 }}
              data-testid={`step-${index}-type`}
            />
            <TextInput
              label="Name"
              placeholder="Optional"
              value={text(data.name)}
              onChange={(e) => onChange(setKey(data, "name", e.currentTarget.value === "" ? undefined : e.currentTarget.value))}
              error={fieldError(errorFor("name"))}
              readOnly={readOnly}
              style={{ minWidth: 180 }}
              data-testid={`step-${index}-name`}
            />
          </Group>
          <TargetField index={index} target={data.target} allowNone={type === "http.request"} onChange={(v) => onChange(setKey(data, "target", v))} error={errorFor("target")} readOnly={readOnly} />
          {knownType && <StepFields type={type} index={index} data={data} onChange={onChange} errorFor={errorFor} readOnly={readOnly} />}
          <SimpleGrid cols={{ base: 1, xs: 3 }} spacing="sm">
            {intField("timeoutSec", "Timeout (s)", "60")}
            {intField("retries", "Retries", "0")}
            {intField("retryBackoffSec", "Retry backoff (s)", "5")}
          </SimpleGrid>
          <Switch
            label="Continue the job when this step fails"
            checked={data.continueOnError === true}
            onChange={(e) => onChange(setKey(data, "continueOnError", e.currentTarget.checked ? true : data.continueOnError === undefined ? undefined : false))}
            error={fieldError(errorFor("continueOnError"))}
            disabled={readOnly}
            data-testid={`step-${index}-continueOnError`}
          />
          {extra.length > 0 && (
            <Text size="xs" c="dimmed">
              Kept as written (edit in the JSON view): {extra.join(", ")}
            </Text>
          )}
        </Stack>
      </Collapse>
    </Card>
  );
}
