import { MantineProvider } from "@mantine/core";
import { Notifications } from "@mantine/notifications";
import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { lazy, Suspense, useEffect, useRef } from "react";
import { BrowserRouter, Route, Routes } from "react-router";
import { ApiError } from "./api/errors";
import { session } from "./auth/session";
import { useSession } from "./auth/useSession";
import { RequireAuth, RequireRole } from "./components/guards";
import { AppLayout } from "./components/AppLayout";
import { Loading } from "./components/QueryState";
import { colorSchemeManager, theme } from "./theme";
import { LoginPage } from "./pages/LoginPage";
import { DashboardPage } from "./pages/DashboardPage";
import { NotFoundPage } from "./pages/NotFoundPage";

// Pages beyond the first screen load on demand.
const RunsPage = lazy(() => import("./pages/RunsPage"));
const RunPage = lazy(() => import("./pages/RunPage"));
const JobsPage = lazy(() => import("./pages/JobsPage"));
const JobEditorPage = lazy(() => import("./pages/JobEditorPage"));
const TargetsPage = lazy(() => import("./pages/TargetsPage"));
const CredentialsPage = lazy(() => import("./pages/CredentialsPage"));
const UsersPage = lazy(() => import("./pages/UsersPage"));
const AuditPage = lazy(() => import("./pages/AuditPage"));
const ProfilePage = lazy(() => import("./pages/ProfilePage"));

/** Client routes all live under /ui, so that they never collide with API paths. */
export const ROUTER_BASENAME = "/ui";

const queryClient = new QueryClient({
  defaultOptions: {
    queries: {
      staleTime: 5_000,
      retry: (failures, error) => {
        // 4xx answers will not change by asking again.
        if (error instanceof ApiError && error.status < 500) return false;
        return failures < 2;
      },
    },
    mutations: { retry: false },
  },
});

function SessionEffects() {
  const { status, user } = useSession();
  const userId = user?.id ?? null;
  const previousUser = useRef<number | null>(null);
  useEffect(() => {
    void session.start();
  }, []);
  useEffect(() => {
    // Nothing of the previous user's data may survive a sign-out, or a sign-in as someone
    // else in another tab (tabs share one session).
    if (status === "signed-out") queryClient.clear();
    else if (userId !== null && previousUser.current !== null && previousUser.current !== userId) queryClient.clear();
    if (userId !== null) previousUser.current = userId;
  }, [status, userId]);
  return null;
}

export function App() {
  return (
    <MantineProvider theme={theme} colorSchemeManager={colorSchemeManager} defaultColorScheme="light">
      <Notifications position="top-right" />
      <QueryClientProvider client={queryClient}>
        <SessionEffects />
        <BrowserRouter basename={ROUTER_BASENAME}>
          <Suspense fallback={<Loading />}>
            <Routes>
              <Route path="/login" element={<LoginPage />} />
              <Route
                element={
                  <RequireAuth>
                    <AppLayout />
                  </RequireAuth>
                }
              >
                <Route index element={<DashboardPage />} />
                <Route path="runs" element={<RunsPage />} />
                <Route path="runs/:id" element={<RunPage />} />
                <Route path="jobs" element={<JobsPage />} />
                <Route path="jobs/new" element={<JobEditorPage />} />
                <Route path="jobs/:id" element={<JobEditorPage />} />
                <Route path="targets" element={<TargetsPage />} />
                <Route path="credentials" element={<CredentialsPage />} />
                <Route
                  path="users"
                  element={
                    <RequireRole role="admin">
                      <UsersPage />
                    </RequireRole>
                  }
                />
                <Route
                  path="audit"
                  element={
                    <RequireRole role="admin">
                      <AuditPage />
                    </RequireRole>
                  }
                />
                <Route path="profile" element={<ProfilePage />} />
                <Route path="*" element={<NotFoundPage />} />
              </Route>
            </Routes>
          </Suspense>
        </BrowserRouter>
      </QueryClientProvider>
    </MantineProvider>
  );
}
