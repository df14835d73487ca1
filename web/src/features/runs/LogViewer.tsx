import { ActionIcon, Badge, Box, Button, Group, Select, Text, Tooltip } from "@mantine/core";
import { notifications } from "@mantine/notifications";
import { useVirtualizer } from "@tanstack/react-virtual";
import { memo, useCallback, useEffect, useLayoutEffect, useRef, useState, useSyncExternalStore } from "react";
import { errorMessage } from "../../api/errors";
import { IconArrowDown, IconDownload } from "../../components/icons";
import { downloadFullLog } from "./downloadLog";
import type { LogFilter, LogLine, LogStore } from "./logStore";
import type { StreamState } from "./sse";

const LINE_HEIGHT = 18;
/** Longer lines are cut for display (the download has them whole). */
const MAX_DISPLAY_CHARS = 4000;

interface Props {
  runId: number;
  store: LogStore;
  filter: LogFilter;
  onFilterChange: (f: LogFilter) => void;
  /** Step index → label ("1 · Restart service"). */
  stepLabel: (step: number) => string;
  /** Target id → name. */
  targetLabel: (target: number) => string;
  /** Every step and target of the run (from its step rows), for the filters. */
  stepOptions: number[];
  targetOptions: number[];
  stream: StreamState;
  height?: number | string;
}

function streamBadge(state: StreamState) {
  switch (state.kind) {
    case "connecting":
      return <Badge color="gray" variant="light">connecting</Badge>;
    case "live":
      return <Badge color="green" variant="dot">live</Badge>;
    case "reconnecting":
      return (
        <Tooltip label={state.error ?? "The stream dropped; resuming where it stopped"}>
          <Badge color="yellow" variant="light">reconnecting…</Badge>
        </Tooltip>
      );
    case "ended":
      return <Badge color="gray" variant="outline">complete</Badge>;
    case "failed":
      return (
        <Tooltip label={errorMessage(state.error)}>
          <Badge color="red" variant="light">stream unavailable</Badge>
        </Tooltip>
      );
  }
}

const Line = memo(function Line({ line, top, prefix }: { line: LogLine; top: number; prefix: string | null }) {
  const text =
    line.text.length > MAX_DISPLAY_CHARS
      ? `${line.text.slice(0, MAX_DISPLAY_CHARS)} … [${line.text.length - MAX_DISPLAY_CHARS} more characters]`
      : line.text;
  return (
    <div className="opsc-log-line" data-stream={line.stream} style={{ transform: `translateY(${top}px)` }}>
      {prefix !== null && <span className="opsc-log-prefix">{prefix}</span>}
      {text}
    </div>
  );
});

/**
 * The live log: virtualised (only the visible lines are in the DOM), follows new output
 * unless the user scrolled up, filters by step and target.
 */
export function LogViewer({ runId, store, filter, onFilterChange, stepLabel, targetLabel, stepOptions, targetOptions, stream, height = 480 }: Props) {
  useSyncExternalStore(store.subscribe, store.getVersion);
  const count = store.viewLength();
  const scrollRef = useRef<HTMLDivElement>(null);
  const [following, setFollowing] = useState(true);
  const followingRef = useRef(true);
  const [downloading, setDownloading] = useState<number | null>(null);
  const downloadAbort = useRef<AbortController | null>(null);

  const virtualizer = useVirtualizer({
    count,
    getScrollElement: () => scrollRef.current,
    estimateSize: () => LINE_HEIGHT,
    overscan: 30,
  });

  const setFollow = useCallback((value: boolean) => {
    followingRef.current = value;
    setFollowing(value);
  }, []);

  const onScroll = useCallback(() => {
    const el = scrollRef.current;
    if (!el) return;
    const atBottom = el.scrollHeight - el.scrollTop - el.clientHeight < LINE_HEIGHT * 2;
    if (atBottom !== followingRef.current) setFollow(atBottom);
  }, [setFollow]);

  // Follow the output: keep the last line in view while following.
  useLayoutEffect(() => {
    const el = scrollRef.current;
    if (el && followingRef.current && count > 0) el.scrollTop = el.scrollHeight;
  }, [count]);

  useEffect(() => () => downloadAbort.current?.abort(), []);

  const jumpToEnd = () => {
    setFollow(true);
    virtualizer.scrollToIndex(Math.max(0, count - 1), { align: "end" });
  };

  const download = async () => {
    const ctrl = new AbortController();
    downloadAbort.current = ctrl;
    setDownloading(0);
    try {
      const lines = await downloadFullLog(runId, stepLabel, targetLabel, (n) => setDownloading(n), ctrl.signal);
      notifications.show({ color: "green", message: `Saved ${lines} lines` });
    } catch (err) {
      if (!ctrl.signal.aborted) notifications.show({ color: "red", title: "Download failed", message: errorMessage(err) });
    } finally {
      setDownloading(null);
    }
  };

  const showPrefix = filter.step === null || filter.target === null;
  const prefixOf = (line: LogLine): string | null => {
    if (!showPrefix) return null;
    const parts: string[] = [];
    if (filter.step === null && line.step !== null) parts.push(`#${line.step + 1}`);
    if (filter.target === null && line.target !== null) parts.push(targetLabel(line.target));
    return parts.length > 0 ? parts.join(" ") : null;
  };

  const items = virtualizer.getVirtualItems();
  return (
    <Box data-testid="log-viewer">
      <Group justify="space-between" mb="xs" gap="xs">
        <Group gap="xs">
          <Select
            size="xs"
            w={200}
            placeholder="All steps"
            clearable
            data={stepOptions.map((s) => ({ value: String(s), label: stepLabel(s) }))}
            value={filter.step === null ? null : String(filter.step)}
            onChange={(v) => onFilterChange({ ...filter, step: v === null ? null : Number(v) })}
            data-testid="log-filter-step"
            aria-label="Filter by step"
          />
          <Select
            size="xs"
            w={200}
            placeholder="All targets"
            clearable
            searchable
            data={targetOptions.map((t) => ({ value: String(t), label: targetLabel(t) }))}
            value={filter.target === null ? null : String(filter.target)}
            onChange={(v) => onFilterChange({ ...filter, target: v === null ? null : Number(v) })}
            data-testid="log-filter-target"
            aria-label="Filter by target"
          />
        </Group>
        <Group gap="xs">
          <span data-testid="log-stream-state" data-state={stream.kind}>
            {streamBadge(stream)}
          </span>
          <Text size="xs" c="dimmed" data-testid="log-line-count">
            {count.toLocaleString()} lines
          </Text>
          {downloading === null ? (
            <Button size="xs" variant="default" leftSection={<IconDownload size={14} />} onClick={() => void download()} data-testid="log-download">
              Download full log
            </Button>
          ) : (
            <Button size="xs" variant="default" onClick={() => downloadAbort.current?.abort()} data-testid="log-download-cancel">
              Reading… {downloading.toLocaleString()} chunks (cancel)
            </Button>
          )}
        </Group>
      </Group>
      <Box pos="relative">
        <div
          ref={scrollRef}
          className="opsc-log"
          style={{ height }}
          onScroll={onScroll}
          data-testid="log-scroll"
          role="log"
          aria-live="off"
        >
          {count === 0 ? (
            <Text c="dimmed" size="sm" p="sm" data-testid="log-empty">
              {stream.kind === "ended" ? "This run produced no output." : "No output yet."}
            </Text>
          ) : (
            <div style={{ height: virtualizer.getTotalSize(), position: "relative" }}>
              {items.map((item) => {
                const line = store.viewLine(item.index);
                return line ? <Line key={item.key} line={line} top={item.start} prefix={prefixOf(line)} /> : null;
              })}
            </div>
          )}
        </div>
        {!following && count > 0 && (
          <ActionIcon
            pos="absolute"
            bottom={12}
            right={20}
            radius="xl"
            size="lg"
            onClick={jumpToEnd}
            aria-label="Follow output"
            data-testid="log-follow"
          >
            <IconArrowDown size={16} />
          </ActionIcon>
        )}
      </Box>
    </Box>
  );
}
