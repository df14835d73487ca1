import { Alert, Box, Button, Center, Group, Paper, PasswordInput, Stack, Text, TextInput, Title } from "@mantine/core";
import { useState, type SyntheticEvent } from "react";
import { Navigate, useLocation } from "react-router";
import { formErrors } from "../api/errors";
import { session } from "../auth/session";
import { useSession } from "../auth/useSession";
import { ThemeToggle } from "../components/AppLayout";

type Field = "username" | "password";

function redirectTarget(state: unknown): string {
  if (typeof state === "object" && state !== null && "from" in state) {
    const from = state.from;
    if (typeof from === "string" && from.startsWith("/") && !from.startsWith("/login")) return from;
  }
  return "/";
}

export function LoginPage() {
  const { status, endedReason } = useSession();
  const location = useLocation();
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [submitting, setSubmitting] = useState(false);
  const [errors, setErrors] = useState<Partial<Record<Field, string>>>({});
  const [general, setGeneral] = useState<string | null>(null);

  if (status === "signed-in") return <Navigate to={redirectTarget(location.state)} replace />;

  const onSubmit = async (e: SyntheticEvent) => {
    e.preventDefault();
    const missing: Partial<Record<Field, string>> = {};
    if (!username.trim()) missing.username = "Enter your username";
    if (!password) missing.password = "Enter your password";
    setErrors(missing);
    setGeneral(null);
    if (Object.keys(missing).length > 0) return;
    setSubmitting(true);
    try {
      await session.login(username.trim(), password);
    } catch (err) {
      const mapped = formErrors(err, ["username", "password"] as const);
      setErrors(mapped.fields);
      setGeneral(mapped.general);
      setPassword("");
    } finally {
      setSubmitting(false);
    }
  };

  return (
    <Center mih="100vh" p="md">
      <Box w="100%" maw={380}>
        <Group justify="space-between" mb="lg">
          <Title order={2}>OpsConductor</Title>
          <ThemeToggle />
        </Group>
        <Paper withBorder shadow="sm" p="lg" radius="md">
          <form onSubmit={(e) => void onSubmit(e)} noValidate data-testid="login-form">
            <Stack>
              <Text fw={500}>Sign in</Text>
              {endedReason && !general && (
                <Alert color="yellow" data-testid="login-session-ended">
                  {endedReason}
                </Alert>
              )}
              {general && (
                <Alert color="red" data-testid="login-error">
                  {general}
                </Alert>
              )}
              <TextInput
                label="Username"
                autoComplete="username"
                autoFocus
                value={username}
                onChange={(e) => setUsername(e.currentTarget.value)}
                error={errors.username}
                data-testid="login-username"
              />
              <PasswordInput
                label="Password"
                autoComplete="current-password"
                value={password}
                onChange={(e) => setPassword(e.currentTarget.value)}
                error={errors.password}
                data-testid="login-password"
              />
              <Button type="submit" loading={submitting} fullWidth data-testid="login-submit">
                Sign in
              </Button>
            </Stack>
          </form>
        </Paper>
      </Box>
    </Center>
  );
}
