import { Alert, Badge, Button, Card, Group, Modal, PasswordInput, SimpleGrid, Stack, Text, Title } from "@mantine/core";
import { notifications } from "@mantine/notifications";
import { useMutation } from "@tanstack/react-query";
import { useState, type SyntheticEvent } from "react";
import { api } from "../api/client";
import { errorMessage, formErrors } from "../api/errors";
import type { Message, User } from "../api/types";
import { session } from "../auth/session";
import { useCurrentUser } from "../auth/useSession";
import { PageHeader } from "../components/PageHeader";

type PwField = "current_password" | "password" | "confirm";

function ChangePassword({ user }: { user: User }) {
  const [current, setCurrent] = useState("");
  const [next, setNext] = useState("");
  const [confirm, setConfirm] = useState("");
  const [errors, setErrors] = useState<Partial<Record<PwField, string>>>({});
  const [general, setGeneral] = useState<string | null>(null);

  const change = useMutation({
    mutationFn: () => api<User>(`/users/${user.id}`, { method: "PUT", body: { password: next, current_password: current } }),
    onSuccess: async () => {
      // A password change signs the user out everywhere (the server bumps the token version).
      await session.logout("Your password was changed. Please sign in with the new password.");
    },
    onError: (err) => {
      const mapped = formErrors(err, ["current_password", "password"] as const);
      // A wrong current password is a 403 with a plain message: it belongs to that field.
      if (!mapped.fields.current_password && /current password/i.test(mapped.general ?? "")) {
        setErrors({ ...mapped.fields, current_password: mapped.general ?? undefined });
        setGeneral(null);
      } else {
        setErrors(mapped.fields);
        setGeneral(mapped.general);
      }
    },
  });

  const onSubmit = (e: SyntheticEvent) => {
    e.preventDefault();
    const local: Partial<Record<PwField, string>> = {};
    if (!current) local.current_password = "Enter your current password";
    if (!next) local.password = "Enter a new password";
    else if (next.length < 8) local.password = "At least 8 characters";
    if (next !== confirm) local.confirm = "The passwords differ";
    setErrors(local);
    setGeneral(null);
    if (Object.keys(local).length === 0) change.mutate();
  };

  return (
    <Card withBorder padding="md">
      <Title order={4} mb="sm">
        Change password
      </Title>
      <form onSubmit={onSubmit} noValidate data-testid="password-form">
        <Stack maw={380}>
          {general && <Alert color="red">{general}</Alert>}
          <PasswordInput
            label="Current password"
            autoComplete="current-password"
            value={current}
            onChange={(e) => setCurrent(e.currentTarget.value)}
            error={errors.current_password}
            data-testid="password-current"
          />
          <PasswordInput
            label="New password"
            autoComplete="new-password"
            value={next}
            onChange={(e) => setNext(e.currentTarget.value)}
            error={errors.password}
            data-testid="password-new"
          />
          <PasswordInput
            label="Repeat new password"
            autoComplete="new-password"
            value={confirm}
            onChange={(e) => setConfirm(e.currentTarget.value)}
            error={errors.confirm}
            data-testid="password-confirm"
          />
          <Text size="xs" c="dimmed">
            Changing your password signs you out on every device.
          </Text>
          <Group>
            <Button type="submit" loading={change.isPending} data-testid="password-submit">
              Change password
            </Button>
          </Group>
        </Stack>
      </form>
    </Card>
  );
}

function SignOutEverywhere() {
  const [confirm, setConfirm] = useState(false);
  const revoke = useMutation({
    mutationFn: () => api<Message>("/api/revoke-all", { method: "POST" }),
    onSuccess: async () => {
      await session.logout("You signed out on every device.");
    },
    onError: (err) => notifications.show({ color: "red", title: "Could not sign out everywhere", message: errorMessage(err) }),
  });
  return (
    <Card withBorder padding="md">
      <Title order={4} mb="xs">
        Sessions
      </Title>
      <Text size="sm" c="dimmed" mb="sm">
        "Sign out" in the user menu forgets the session in this browser. To end every session of your
        account, on every device, sign out everywhere.
      </Text>
      <Button color="red" variant="light" onClick={() => setConfirm(true)} data-testid="revoke-all">
        Sign out everywhere
      </Button>
      <Modal opened={confirm} onClose={() => setConfirm(false)} title="Sign out everywhere?" centered>
        <Text size="sm" mb="md">
          Every browser and script signed in as you must sign in again.
        </Text>
        <Group justify="flex-end">
          <Button variant="default" onClick={() => setConfirm(false)}>
            Keep sessions
          </Button>
          <Button color="red" loading={revoke.isPending} onClick={() => revoke.mutate()} data-testid="revoke-all-confirm">
            Sign out everywhere
          </Button>
        </Group>
      </Modal>
    </Card>
  );
}

export default function ProfilePage() {
  const user = useCurrentUser();
  return (
    <Stack gap="md">
      <PageHeader title="Profile" />
      <Card withBorder padding="md" data-testid="profile-card">
        <SimpleGrid cols={{ base: 1, xs: 3 }}>
          <div>
            <Text size="xs" c="dimmed" tt="uppercase" fw={600}>
              Username
            </Text>
            <Text data-testid="profile-username">{user.username}</Text>
          </div>
          <div>
            <Text size="xs" c="dimmed" tt="uppercase" fw={600}>
              Email
            </Text>
            <Text>{user.email}</Text>
          </div>
          <div>
            <Text size="xs" c="dimmed" tt="uppercase" fw={600}>
              Role
            </Text>
            <Badge variant="light" data-testid="profile-role">
              {user.role}
            </Badge>
          </div>
        </SimpleGrid>
      </Card>
      <ChangePassword user={user} />
      <SignOutEverywhere />
    </Stack>
  );
}
