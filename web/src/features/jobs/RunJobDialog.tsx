import { Alert, Button, Group, Modal, Stack, Text } from "@mantine/core";
import { notifications } from "@mantine/notifications";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useMemo, useState, type SyntheticEvent } from "react";
import { useNavigate } from "react-router";
import { api } from "../../api/client";
import { ApiError, formErrors } from "../../api/errors";
import { keys } from "../../api/queries";
import type { Job, Run } from "../../api/types";
import { ParamInput } from "./ParamInput";
import { buildParameters, initialValue, parseInvalidParameters, parseParams, type ParamValue } from "./params";

/** Starts a run of `job` with typed parameter inputs, then opens the run. */
export function RunJobDialog({ job, opened, onClose, unsaved = false }: { job: Job; opened: boolean; onClose: () => void; unsaved?: boolean }) {
  const specs = useMemo(() => parseParams(job.definition.parameters), [job]);
  const [values, setValues] = useState<Record<string, ParamValue>>(() => Object.fromEntries(specs.map((s) => [s.name, initialValue(s)])));
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [general, setGeneral] = useState<string | null>(null);
  const queryClient = useQueryClient();
  const navigate = useNavigate();

  const start = useMutation({
    mutationFn: (parameters: Record<string, unknown>) => api<Run>(`/jobs/${job.id}/run`, { method: "POST", body: { parameters } }),
    onSuccess: (run) => {
      void queryClient.invalidateQueries({ queryKey: keys.runs() });
      notifications.show({ color: "green", message: `Run #${run.id} of ${job.name} queued` });
      onClose();
      void navigate(`/runs/${run.id}`);
    },
    onError: (err) => {
      const names = specs.map((s) => s.name);
      const mapped = formErrors(err, names.map((n) => `parameters.${n}`));
      const fieldErrors: Record<string, string> = {};
      for (const [k, v] of Object.entries(mapped.fields)) if (typeof v === "string") fieldErrors[k.slice("parameters.".length)] = v;
      if (err instanceof ApiError && err.status === 400) Object.assign(fieldErrors, parseInvalidParameters(err.message, names));
      setErrors(fieldErrors);
      setGeneral(Object.keys(fieldErrors).length > 0 && err instanceof ApiError && err.message.startsWith("Invalid parameters") ? null : mapped.general);
    },
  });

  const submit = (e: SyntheticEvent) => {
    e.preventDefault();
    const built = buildParameters(specs, values);
    setErrors(built.errors);
    setGeneral(null);
    if (Object.keys(built.errors).length === 0) start.mutate(built.parameters);
  };

  return (
    <Modal opened={opened} onClose={onClose} title={`Run ${job.name}`} size="lg" data-testid="run-dialog">
      <form onSubmit={submit} noValidate>
        <Stack>
          {unsaved && (
            <Alert color="yellow" title="Unsaved edits are not run" data-testid="run-unsaved-warning">
              Runs revision {job.revision} as saved; your unsaved edits are not included. Save first to run them.
            </Alert>
          )}
          {general && (
            <Alert color="red" data-testid="run-dialog-error" style={{ whiteSpace: "pre-wrap" }}>
              {general}
            </Alert>
          )}
          {specs.length === 0 ? (
            <Text size="sm" c="dimmed">
              This job takes no parameters.
            </Text>
          ) : (
            specs.map((spec) => (
              <ParamInput
                key={spec.name}
                spec={spec}
                value={values[spec.name] ?? null}
                error={errors[spec.name]}
                onChange={(v) => setValues((prev) => ({ ...prev, [spec.name]: v }))}
              />
            ))
          )}
          <Group justify="flex-end">
            <Button variant="default" onClick={onClose}>
              Close
            </Button>
            <Button type="submit" loading={start.isPending} data-testid="run-dialog-submit">
              Start run
            </Button>
          </Group>
        </Stack>
      </form>
    </Modal>
  );
}
