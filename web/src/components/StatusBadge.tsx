import { Badge, Loader, type BadgeProps } from "@mantine/core";

const COLORS: Record<string, string> = {
  queued: "gray",
  running: "blue",
  succeeded: "green",
  failed: "red",
  canceled: "orange",
  aborted: "orange",
};

interface Props extends Omit<BadgeProps, "color" | "children"> {
  status: string;
  testId?: string;
}

/** A run's or step's status; `running` shows a spinner. */
export function StatusBadge({ status, testId, ...rest }: Props) {
  return (
    <Badge
      color={COLORS[status] ?? "gray"}
      variant="light"
      data-testid={testId}
      data-status={status}
      leftSection={status === "running" ? <Loader size={10} color="blue" type="oval" /> : undefined}
      {...rest}
    >
      {status}
    </Badge>
  );
}
