import { Center, Loader } from "@mantine/core";
import type { ReactNode } from "react";
import { Navigate, useLocation } from "react-router";
import type { Role } from "../api/types";
import { useSession } from "../auth/useSession";
import { ErrorState } from "./QueryState";

/** Pages behind sign-in: waits for the session to be restored, else goes to the sign-in page. */
export function RequireAuth({ children }: { children: ReactNode }) {
  const { status } = useSession();
  const location = useLocation();
  if (status === "loading") {
    return (
      <Center h="100vh" data-testid="session-loading">
        <Loader />
      </Center>
    );
  }
  if (status === "signed-out") {
    return <Navigate to="/login" replace state={{ from: `${location.pathname}${location.search}` }} />;
  }
  return <>{children}</>;
}

/** A page for one role only (the server enforces it too; this only avoids a useless page). */
export function RequireRole({ role, children }: { role: Role; children: ReactNode }) {
  const { user } = useSession();
  if (user?.role !== role) {
    return <ErrorState title="Not available" error={new Error(`This page is for the ${role} role only.`)} />;
  }
  return <>{children}</>;
}
