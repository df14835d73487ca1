import { Alert, Button, Group, Modal, Stack, Text } from "@mantine/core";
import { notifications } from "@mantine/notifications";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { api } from "../../api/client";
import { ApiError, errorMessage } from "../../api/errors";
import { keys } from "../../api/queries";
import type { Job, JobList, Message } from "../../api/types";

/**
 * Confirms deleting a saved job. The server refuses (409) a job with runs: the dialog says so and
 * offers to turn the editor's Active switch off instead (saved with the next Save). Mount only while open.
 */
export function DeleteJobDialog({
  job,
  unsaved,
  active,
  onClose,
  onDeleted,
  onDeactivate,
}: {
  job: Job;
  /** The editor has unsaved edits: they go with the job. */
  unsaved: boolean;
  /** The editor's Active switch. */
  active: boolean;
  onClose: () => void;
  onDeleted: () => void;
  onDeactivate: () => void;
}) {
  const queryClient = useQueryClient();
  const del = useMutation({
    mutationFn: () => api<Message>(`/jobs/${String(job.id)}`, { method: "DELETE" }),
    onSuccess: () => {
      onDeleted();
      // The job's own queries go (a refetch would only find it gone); the lists learn it.
      queryClient.removeQueries({ queryKey: keys.job(job.id), exact: true });
      queryClient.removeQueries({ queryKey: keys.jobVersions(job.id) });
      queryClient.setQueriesData<JobList>({ queryKey: [...keys.jobs(), "list"] }, (list) =>
        list?.jobs.some((j) => j.id === job.id) ? { jobs: list.jobs.filter((j) => j.id !== job.id), total: list.total - 1 } : list,
      );
      void queryClient.invalidateQueries({ queryKey: [...keys.jobs(), "list"] });
      notifications.show({ color: "green", message: `Job ${job.name} deleted` });
    },
  });
  const hasRuns = del.error instanceof ApiError && del.error.status === 409;
  return (
    <Modal opened onClose={onClose} title={`Delete ${job.name}?`} centered>
      {/* The test id on the content: it exists only while the dialog is open. */}
      <Stack data-testid="job-delete-dialog">
        <Text size="sm">
          The job and every revision of its definition are removed. A job that has runs cannot be deleted (its runs keep their history);
          deactivate it instead.
        </Text>
        {unsaved && (
          <Text size="sm" c="orange">
            Your unsaved edits are discarded with it.
          </Text>
        )}
        {del.error && (
          <Alert color={hasRuns ? "orange" : "red"} data-testid="job-delete-error">
            <Stack gap="xs">
              <Text size="sm" fw={500}>
                {errorMessage(del.error)}
              </Text>
              {hasRuns &&
                (active ? (
                  <>
                    <Text size="sm">
                      Deactivate it instead: an inactive job cannot be run and is hidden from the jobs list unless inactive jobs are shown; its runs
                      stay.
                    </Text>
                    <Group>
                      <Button size="xs" color="orange" variant="light" onClick={onDeactivate} data-testid="job-delete-deactivate">
                        Turn off Active (then Save)
                      </Button>
                    </Group>
                  </>
                ) : (
                  <Text size="sm">{job.is_active ? "The Active switch is off: Save to deactivate the job." : "The job is already inactive."}</Text>
                ))}
            </Stack>
          </Alert>
        )}
        <Group justify="flex-end">
          <Button variant="default" onClick={onClose}>
            Keep it
          </Button>
          <Button color="red" loading={del.isPending} disabled={hasRuns} onClick={() => del.mutate()} data-testid="job-delete-confirm">
            Delete
          </Button>
        </Group>
      </Stack>
    </Modal>
  );
}
