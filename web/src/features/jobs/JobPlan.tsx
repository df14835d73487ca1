import { Alert, Badge, Button, Card, Code, Group, List, Stack, Table, Text } from "@mantine/core";
import { useMutation } from "@tanstack/react-query";
import { useMemo, useState, type SyntheticEvent } from "react";
import { api } from "../../api/client";
import { ApiError, errorMessage } from "../../api/errors";
import type { Job, JobPlan as Plan, PlannedStep } from "../../api/types";
import { Empty } from "../../components/QueryState";
import { ParamInput } from "./ParamInput";
import { buildParameters, initialValue, parseInvalidParameters, parseParams, type ParamValue } from "./params";

/** "The job cannot run: a; b" and "Invalid parameters: a; b" as their separate problems. */
function problemsOf(message: string): string[] {
  const m = /^(The job cannot run|Invalid parameters): (.*)$/s.exec(message);
  return m?.[2] ? m[2].split("; ") : [message];
}

function Rendered({ step }: { step: PlannedStep }) {
  const entries = Object.entries(step.rendered).filter(([, v]) => v !== null && !(typeof v === "object" && Object.keys(v).length === 0));
  return (
    <Table withRowBorders={false} verticalSpacing={2} layout="fixed">
      <Table.Tbody>
        {entries.map(([k, v]) => (
          <Table.Tr key={k}>
            <Table.Td w={110} style={{ verticalAlign: "top" }}>
              <Text size="xs" c="dimmed">
                {k}
              </Text>
            </Table.Td>
            <Table.Td>
              {k === "command" || k === "body" ? (
                <Code block data-testid={`plan-step-${step.index}-${k}`}>
                  {typeof v === "string" ? v : JSON.stringify(v, null, 2)}
                </Code>
              ) : (
                <Text size="sm" ff="monospace" style={{ wordBreak: "break-all" }}>
                  {typeof v === "string" ? v : JSON.stringify(v)}
                </Text>
              )}
            </Table.Td>
          </Table.Tr>
        ))}
      </Table.Tbody>
    </Table>
  );
}

/** The dry run of the saved job: parameters in, resolved targets and rendered commands out. */
export function JobPlan({ job, unsaved }: { job: Job; unsaved: boolean }) {
  const specs = useMemo(() => parseParams(job.definition.parameters), [job]);
  const [values, setValues] = useState<Record<string, ParamValue>>(() => Object.fromEntries(specs.map((s) => [s.name, initialValue(s)])));
  const [errors, setErrors] = useState<Record<string, string>>({});
  const plan = useMutation({
    mutationFn: (parameters: Record<string, unknown>) => api<Plan>(`/jobs/${job.id}/plan`, { method: "POST", body: { parameters } }),
    onError: (err) => {
      if (err instanceof ApiError && err.status === 400) setErrors(parseInvalidParameters(err.message, specs.map((s) => s.name)));
    },
  });
  const submit = (e: SyntheticEvent) => {
    e.preventDefault();
    const built = buildParameters(specs, values);
    setErrors(built.errors);
    if (Object.keys(built.errors).length === 0) plan.mutate(built.parameters);
  };
  const result = plan.data;
  return (
    <Stack gap="md">
      {unsaved && (
        <Alert color="yellow" p="xs">
          The plan uses the saved revision (rev {job.revision}); save to plan your changes.
        </Alert>
      )}
      <Card withBorder padding="md">
        <form onSubmit={submit} noValidate>
          <Stack gap="sm">
            {specs.length === 0 ? (
              <Text size="sm" c="dimmed">
                This job takes no parameters.
              </Text>
            ) : (
              specs.map((spec) => (
                <ParamInput key={spec.name} spec={spec} value={values[spec.name] ?? null} error={errors[spec.name]} onChange={(v) => setValues((p) => ({ ...p, [spec.name]: v }))} />
              ))
            )}
            <Group justify="flex-end">
              <Button type="submit" loading={plan.isPending} data-testid="job-plan-run">
                Plan
              </Button>
            </Group>
          </Stack>
        </form>
      </Card>
      {plan.error && (
        <Alert color="red" title={plan.error instanceof ApiError && plan.error.status === 400 ? "This job cannot run as asked" : "Planning failed"} data-testid="job-plan-error">
          <List size="sm" spacing={2}>
            {problemsOf(errorMessage(plan.error)).map((p, i) => (
              <List.Item key={i}>{p}</List.Item>
            ))}
          </List>
        </Alert>
      )}
      {result && (
        <Stack gap="sm" data-testid="job-plan-result">
          <Text size="sm" c="dimmed">
            Revision {result.revision} · up to {result.max_parallel} targets at once
            {Object.keys(result.parameters).length > 0 && ` · parameters ${JSON.stringify(result.parameters)}`}
          </Text>
          {result.secrets.length > 0 && (
            <Text size="sm" c="dimmed">
              Secrets from the vault: {result.secrets.map((s) => `${s.name} (${s.credential}${s.field ? `, ${s.field}` : ""})`).join(", ")}
            </Text>
          )}
          {result.warnings.length > 0 && (
            <Alert color="yellow" title="Warnings" data-testid="job-plan-warnings">
              <List size="sm">
                {result.warnings.map((w, i) => (
                  <List.Item key={i}>{w}</List.Item>
                ))}
              </List>
            </Alert>
          )}
          {result.steps.length === 0 && <Empty>No steps.</Empty>}
          {result.steps.map((step) => (
            <Card key={step.index} withBorder padding="sm" data-testid={`plan-step-${step.index}`}>
              <Group gap="xs" mb="xs">
                <Badge variant="light">{step.index + 1}</Badge>
                <Text fw={500}>{step.name ?? step.type}</Text>
                <Text size="xs" c="dimmed">
                  {step.type} · timeout {step.timeout_sec} s{step.retries > 0 ? ` · ${step.retries} retries` : ""}
                  {step.continue_on_error ? " · continues on error" : ""}
                </Text>
              </Group>
              <Group gap={6} mb="xs" data-testid={`plan-step-${step.index}-targets`}>
                {step.targets.length === 0 ? (
                  <Text size="sm" c="dimmed">
                    {step.type === "http.request" ? "No target: the URL is called directly" : "No target matches"}
                  </Text>
                ) : (
                  step.targets.map((t) => (
                    <Badge key={t.id} variant="outline" tt="none" title={`${t.protocol}://${t.hostname}:${t.port}`}>
                      {t.name} ({t.hostname})
                    </Badge>
                  ))
                )}
              </Group>
              <Rendered step={step} />
            </Card>
          ))}
        </Stack>
      )}
    </Stack>
  );
}
