import { Alert, Button, Card, Group, NativeSelect, SimpleGrid, Stack, Text, TextInput, Title } from "@mantine/core";
import { useState } from "react";
import { intFromInput, isStepType, newStep, nextUid, setKey, STEP_TYPES, text, type Draft, type StepType } from "../definition";
import { fieldError } from "./fieldError";
import { ParamRows } from "./ParamRows";
import { StepCard } from "./StepCard";

/** The visual editor: job name and limits, parameter declarations, and the steps. */
export function JobBuilder({ draft, onChange, errors, readOnly }: { draft: Draft; onChange: (d: Draft) => void; errors: Record<string, string>; readOnly: boolean }) {
  const [addType, setAddType] = useState<StepType>("ssh.exec");
  const [collapsed, setCollapsed] = useState<ReadonlySet<number>>(new Set());
  const setRoot = (key: string, value: unknown) => onChange({ ...draft, root: setKey(draft.root, key, value) });
  const move = (i: number, delta: -1 | 1) => {
    const steps = [...draft.steps];
    const [step] = steps.splice(i, 1);
    if (step) steps.splice(i + delta, 0, step);
    onChange({ ...draft, steps });
  };
  const toggle = (uid: number) =>
    setCollapsed((prev) => {
      const next = new Set(prev);
      if (next.has(uid)) next.delete(uid);
      else next.add(uid);
      return next;
    });
  return (
    <Stack gap="md">
      <Card withBorder padding="md">
        <SimpleGrid cols={{ base: 1, sm: 2 }} spacing="sm">
          <TextInput
            label="Job name"
            withAsterisk
            value={text(draft.root.name)}
            onChange={(e) => setRoot("name", e.currentTarget.value)}
            error={fieldError(errors.name)}
            readOnly={readOnly}
            data-testid="job-name"
          />
          <TextInput
            label="Max parallel"
            description="Targets of one step that run at once (1–1000)"
            inputMode="numeric"
            placeholder="10"
            value={text(draft.root.maxParallel)}
            onChange={(e) => setRoot("maxParallel", intFromInput(e.currentTarget.value))}
            error={fieldError(errors.maxParallel)}
            readOnly={readOnly}
            data-testid="job-max-parallel"
          />
        </SimpleGrid>
      </Card>
      <Stack gap="xs">
        <Title order={4}>Parameters</Title>
        {errors.parameters && (
          <Text size="sm" c="red" data-testid="job-field-error">
            {errors.parameters}
          </Text>
        )}
        <ParamRows rows={draft.params} errors={errors} readOnly={readOnly} onChange={(params) => onChange({ ...draft, params })} />
      </Stack>
      <Stack gap="xs">
        <Group justify="space-between">
          <Title order={4}>Steps</Title>
          {draft.steps.length > 1 && (
            <Button size="compact-xs" variant="subtle" onClick={() => setCollapsed(collapsed.size > 0 ? new Set() : new Set(draft.steps.map((s) => s.uid)))}>
              {collapsed.size > 0 ? "Expand all" : "Collapse all"}
            </Button>
          )}
        </Group>
        {errors.steps && (
          <Alert color="red" p="xs">
            <span data-testid="job-field-error">{errors.steps}</span>
          </Alert>
        )}
        {draft.steps.map((step, i) => (
          <StepCard
            key={step.uid}
            index={i}
            count={draft.steps.length}
            data={step.data}
            collapsed={collapsed.has(step.uid)}
            readOnly={readOnly}
            errors={errors}
            onChange={(data) => onChange({ ...draft, steps: draft.steps.map((s) => (s.uid === step.uid ? { ...s, data } : s)) })}
            onMove={(delta) => move(i, delta)}
            onRemove={() => onChange({ ...draft, steps: draft.steps.filter((s) => s.uid !== step.uid) })}
            onToggle={() => toggle(step.uid)}
          />
        ))}
        {!readOnly && (
          <Group gap="xs" align="flex-end">
            <NativeSelect
              label="New step"
              data={[...STEP_TYPES]}
              value={addType}
              onChange={(e) => {
                const v = e.currentTarget.value;
                if (isStepType(v)) setAddType(v);
              }}
              w={180}
              data-testid="job-add-step-type"
            />
            <Button
              variant="light"
              onClick={() => onChange({ ...draft, steps: [...draft.steps, { uid: nextUid(), data: newStep(addType) }] })}
              data-testid="job-add-step"
            >
              Add step
            </Button>
          </Group>
        )}
      </Stack>
    </Stack>
  );
}
