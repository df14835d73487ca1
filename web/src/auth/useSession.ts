import { useSyncExternalStore } from "react";
import type { Role, User } from "../api/types";
import { session, type SessionSnapshot } from "./session";

export function useSession(): SessionSnapshot {
  return useSyncExternalStore(session.subscribe, session.getSnapshot);
}

/** Admins and operators change things and run jobs; viewers only read. */
export function canOperate(role: Role | undefined | null): boolean {
  return role === "admin" || role === "operator";
}

export function isAdmin(role: Role | undefined | null): boolean {
  return role === "admin";
}

/** The signed-in user (pages under the app shell are only rendered while signed in). */
export function useCurrentUser(): User {
  const { user } = useSession();
  if (!user) throw new Error("useCurrentUser outside a signed-in page");
  return user;
}

export function usePermissions(): { role: Role; canOperate: boolean; isAdmin: boolean } {
  const user = useCurrentUser();
  return { role: user.role, canOperate: canOperate(user.role), isAdmin: isAdmin(user.role) };
}
