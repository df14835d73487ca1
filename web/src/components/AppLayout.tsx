import {
  ActionIcon,
  AppShell,
  Avatar,
  Badge,
  Burger,
  Group,
  Menu,
  NavLink,
  ScrollArea,
  Text,
  Tooltip,
  UnstyledButton,
  useComputedColorScheme,
  useMantineColorScheme,
} from "@mantine/core";
import { useDisclosure } from "@mantine/hooks";
import { useEffect, type ReactNode } from "react";
import { Link, Outlet, useLocation, useNavigate } from "react-router";
import { useMe } from "../api/queries";
import type { Role } from "../api/types";
import { session } from "../auth/session";
import { useCurrentUser } from "../auth/useSession";
import {
  IconAudit,
  IconBell,
  IconChevronDown,
  IconClock,
  IconDashboard,
  IconJobs,
  IconKey,
  IconLogout,
  IconMoon,
  IconProfile,
  IconRuns,
  IconSun,
  IconTargets,
  IconUsers,
} from "./icons";

interface NavItem {
  to: string;
  label: string;
  icon: ReactNode;
  testId: string;
  /** Only for this role. */
  role?: Role;
  /** Not built yet: shown disabled with a "soon" badge. */
  soon?: boolean;
}

const NAV: NavItem[] = [
  { to: "/", label: "Dashboard", icon: <IconDashboard />, testId: "nav-dashboard" },
  { to: "/runs", label: "Runs", icon: <IconRuns />, testId: "nav-runs" },
  { to: "/jobs", label: "Jobs", icon: <IconJobs />, testId: "nav-jobs" },
  { to: "/targets", label: "Targets", icon: <IconTargets />, testId: "nav-targets" },
  { to: "/credentials", label: "Credentials", icon: <IconKey />, testId: "nav-credentials" },
  { to: "/schedules", label: "Schedules", icon: <IconClock />, testId: "nav-schedules", soon: true },
  { to: "/notifications", label: "Notifications", icon: <IconBell />, testId: "nav-notifications", soon: true },
  { to: "/users", label: "Users", icon: <IconUsers />, testId: "nav-users", role: "admin" },
  { to: "/audit", label: "Audit", icon: <IconAudit />, testId: "nav-audit", role: "admin" },
  { to: "/profile", label: "Profile", icon: <IconProfile />, testId: "nav-profile" },
];

function isActive(pathname: string, to: string): boolean {
  if (to === "/") return pathname === "/";
  return pathname === to || pathname.startsWith(`${to}/`);
}

export function ThemeToggle() {
  const { setColorScheme } = useMantineColorScheme();
  const computed = useComputedColorScheme("light", { getInitialValueInEffect: false });
  const next = computed === "dark" ? "light" : "dark";
  return (
    <Tooltip label={`Switch to ${next} theme`}>
      <ActionIcon
        variant="default"
        size="lg"
        aria-label={`Switch to ${next} theme`}
        data-testid="theme-toggle"
        onClick={() => setColorScheme(next)}
      >
        {computed === "dark" ? <IconSun /> : <IconMoon />}
      </ActionIcon>
    </Tooltip>
  );
}

function UserMenu() {
  const user = useCurrentUser();
  const navigate = useNavigate();
  return (
    <Menu position="bottom-end" width={220} withinPortal>
      <Menu.Target>
        <UnstyledButton data-testid="user-menu" aria-label="User menu">
          <Group gap={6} wrap="nowrap">
            <Avatar size={30} radius="xl" color="indigo">
              {user.username.slice(0, 2).toUpperCase()}
            </Avatar>
            <Text size="sm" fw={500} visibleFrom="xs">
              {user.username}
            </Text>
            <IconChevronDown size={14} />
          </Group>
        </UnstyledButton>
      </Menu.Target>
      <Menu.Dropdown>
        <Menu.Label>
          Signed in as {user.username} ({user.role})
        </Menu.Label>
        <Menu.Item leftSection={<IconProfile size={16} />} onClick={() => void navigate("/profile")}>
          Profile
        </Menu.Item>
        <Menu.Divider />
        <Menu.Item
          leftSection={<IconLogout size={16} />}
          data-testid="logout"
          onClick={() => void session.logout()}
        >
          Sign out
        </Menu.Item>
      </Menu.Dropdown>
    </Menu>
  );
}

export function AppLayout() {
  const [opened, { toggle, close }] = useDisclosure(false);
  const user = useCurrentUser();
  const location = useLocation();
  const me = useMe();

  // Keep the role current (an admin may change it while this tab is open).
  useEffect(() => {
    if (me.data) session.updateUser(me.data.user);
  }, [me.data]);

  // On a phone the menu closes once a page is chosen.
  useEffect(() => {
    close();
  }, [location.pathname, close]);

  const items = NAV.filter((item) => !item.role || item.role === user.role);

  return (
    <AppShell
      header={{ height: 56 }}
      navbar={{ width: 230, breakpoint: "sm", collapsed: { mobile: !opened } }}
      padding="md"
    >
      <AppShell.Header>
        <Group h="100%" px="md" justify="space-between" wrap="nowrap">
          <Group gap="sm" wrap="nowrap">
            <Burger opened={opened} onClick={toggle} hiddenFrom="sm" size="sm" aria-label="Menu" data-testid="nav-burger" />
            <Text component={Link} to="/" fw={700} size="lg" c="inherit" td="none" data-testid="brand">
              OpsConductor
            </Text>
          </Group>
          <Group gap="sm" wrap="nowrap">
            <ThemeToggle />
            <UserMenu />
          </Group>
        </Group>
      </AppShell.Header>
      <AppShell.Navbar p="xs" data-testid="nav">
        <AppShell.Section grow component={ScrollArea}>
          {items.map((item) =>
            item.soon ? (
              <NavLink
                key={item.to}
                label={item.label}
                leftSection={item.icon}
                rightSection={
                  <Badge size="xs" variant="light" color="gray">
                    soon
                  </Badge>
                }
                disabled
                data-testid={item.testId}
              />
            ) : (
              <NavLink
                key={item.to}
                component={Link}
                to={item.to}
                label={item.label}
                leftSection={item.icon}
                active={isActive(location.pathname, item.to)}
                data-testid={item.testId}
              />
            ),
          )}
        </AppShell.Section>
        <AppShell.Section>
          <Text size="xs" c="dimmed" px="sm" py={4}>
            {user.username} · {user.role}
          </Text>
        </AppShell.Section>
      </AppShell.Navbar>
      <AppShell.Main>
        <Outlet />
      </AppShell.Main>
    </AppShell>
  );
}
