import { Alert, Button, Group, Modal, PasswordInput, Select, Stack, Text, TextInput } from "@mantine/core";
import { notifications } from "@mantine/notifications";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useState, type SyntheticEvent } from "react";
import { api } from "../../api/client";
import { ApiError, errorMessage, formErrors } from "../../api/errors";
import { keys } from "../../api/queries";
import type { Message, Role, User } from "../../api/types";

const ROLES: readonly Role[] = ["admin", "operator", "viewer"];

function isRole(v: string | null): v is Role {
  return v !== null && (ROLES as readonly string[]).includes(v);
}

const ROLE_OPTIONS = [
  { value: "viewer", label: "viewer — reads everything but the audit log" },
  { value: "operator", label: "operator — manages targets, credentials and jobs; runs jobs" },
  { value: "admin", label: "admin — everything, including users and the audit log" },
];

type NewUserField = "username" | "email" | "password" | "role";
const NEW_USER_FIELDS: readonly NewUserField[] = ["username", "email", "password", "role"];

/** Creates a user (admin only). Mount it only while open, so every opening starts empty. */
export function NewUserDialog({ onClose }: { onClose: () => void }) {
  const queryClient = useQueryClient();
  const [username, setUsername] = useState("");
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [role, setRole] = useState<Role>("viewer");
  const [errors, setErrors] = useState<Partial<Record<NewUserField, string>>>({});
  const [general, setGeneral] = useState<string | null>(null);

  const create = useMutation({
    mutationFn: (body: { username: string; email: string; password: string; role: Role }) => api<User>("/users", { method: "POST", body }),
    onSuccess: (u) => {
      void queryClient.invalidateQueries({ queryKey: keys.users() });
      notifications.show({ color: "green", message: `User ${u.username} created` });
      onClose();
    },
    onError: (err) => {
      const mapped = formErrors(err, NEW_USER_FIELDS);
      setErrors(mapped.fields);
      // A 409 does not say whether the username or the email is taken: shown above the form.
      setGeneral(mapped.general);
    },
  });

  const submit = (e: SyntheticEvent) => {
    e.preventDefault();
    const local: Partial<Record<NewUserField, string>> = {};
    if (username.trim() === "") local.username = "Required";
    if (email.trim() === "") local.email = "Required";
    if (password === "") local.password = "Required";
    setErrors(local);
    setGeneral(null);
    if (Object.keys(local).length > 0) return;
    create.mutate({ username: username.trim(), email: email.trim(), password, role });
  };

  return (
    <Modal opened onClose={onClose} title="New user" size="md" data-testid="user-dialog">
      <form onSubmit={submit} noValidate>
        <Stack>
          {general && (
            <Alert
              color={create.error instanceof ApiError && create.error.status === 409 ? "orange" : "red"}
              data-testid="user-dialog-error"
              style={{ whiteSpace: "pre-wrap" }}
            >
              {general}
            </Alert>
          )}
          <TextInput
            label="Username"
            withAsterisk
            autoComplete="off"
            value={username}
            onChange={(e) => setUsername(e.currentTarget.value)}
            error={errors.username}
            data-testid="user-username"
          />
          <TextInput
            label="Email"
            type="email"
            withAsterisk
            autoComplete="off"
            value={email}
            onChange={(e) => setEmail(e.currentTarget.value)}
            error={errors.email}
            data-testid="user-email"
          />
          <PasswordInput
            label="Password"
            description="The user can change it on their profile page."
            withAsterisk
            autoComplete="new-password"
            value={password}
            onChange={(e) => setPassword(e.currentTarget.value)}
            error={errors.password}
            data-testid="user-password"
          />
          <Select
            label="Role"
            withAsterisk
            allowDeselect={false}
            data={ROLE_OPTIONS}
            value={role}
            onChange={(v) => {
              if (isRole(v)) setRole(v);
            }}
            error={errors.role}
            data-testid="user-role"
          />
          <Group justify="flex-end">
            <Button variant="default" onClick={onClose}>
              Cancel
            </Button>
            <Button type="submit" loading={create.isPending} data-testid="user-submit">
              Create
            </Button>
          </Group>
        </Stack>
      </form>
    </Modal>
  );
}

/** Assigns another user a role (admin only; never the caller). Mount it only while open. */
export function ChangeRoleDialog({ user, onClose }: { user: User; onClose: () => void }) {
  const queryClient = useQueryClient();
  const [role, setRole] = useState<Role>(user.role);
  const assign = useMutation({
    mutationFn: (r: Role) => api<Message>(`/users/${user.id}/roles`, { method: "POST", body: { role: r } }),
    onSuccess: (res) => {
      void queryClient.invalidateQueries({ queryKey: keys.users() });
      notifications.show({ color: "green", title: user.username, message: res.message });
      onClose();
    },
  });
  const submit = (e: SyntheticEvent) => {
    e.preventDefault();
    assign.mutate(role);
  };
  return (
    <Modal opened onClose={onClose} title={`Change role of ${user.username}`} centered data-testid="role-dialog">
      <form onSubmit={submit} noValidate>
        <Stack>
          <Text size="sm" c="dimmed">
            The new role applies to the user&apos;s next request; no new sign-in is needed.
          </Text>
          {assign.error && (
            <Alert color={assign.error instanceof ApiError && assign.error.status === 409 ? "orange" : "red"} data-testid="role-dialog-error">
              {errorMessage(assign.error)}
            </Alert>
          )}
          <Select
            label="Role"
            allowDeselect={false}
            data={ROLE_OPTIONS}
            value={role}
            onChange={(v) => {
              if (isRole(v)) setRole(v);
            }}
            data-testid="role-select"
          />
          <Group justify="flex-end">
            <Button variant="default" onClick={onClose}>
              Cancel
            </Button>
            <Button type="submit" loading={assign.isPending} disabled={role === user.role} data-testid="role-submit">
              Change role
            </Button>
          </Group>
        </Stack>
      </form>
    </Modal>
  );
}

/** Confirms and deletes another user (admin only; never the caller). Mount it only while open. */
export function DeleteUserDialog({ user, onClose }: { user: User; onClose: () => void }) {
  const queryClient = useQueryClient();
  const del = useMutation({
    mutationFn: () => api<Message>(`/users/${user.id}`, { method: "DELETE" }),
    onSuccess: () => {
      void queryClient.invalidateQueries({ queryKey: keys.users() });
      notifications.show({ color: "green", message: `User ${user.username} deleted` });
      onClose();
    },
  });
  return (
    <Modal opened onClose={onClose} title={`Delete ${user.username}?`} centered data-testid="user-delete-dialog">
      <Stack>
        <Text size="sm">
          The account and its sign-ins end at once. A user who requested runs or created jobs cannot be deleted; change their role to
          viewer instead.
        </Text>
        {del.error && (
          <Alert color={del.error instanceof ApiError && del.error.status === 409 ? "orange" : "red"} data-testid="user-delete-error">
            {errorMessage(del.error)}
          </Alert>
        )}
        <Group justify="flex-end">
          <Button variant="default" onClick={onClose}>
            Keep it
          </Button>
          <Button color="red" loading={del.isPending} onClick={() => del.mutate()} data-testid="user-delete-confirm">
            Delete
          </Button>
        </Group>
      </Stack>
    </Modal>
  );
}
