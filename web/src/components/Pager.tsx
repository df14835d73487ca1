import { Group, Pagination, Text } from "@mantine/core";

/** Page links plus "x–y of total"; pages are 1-based. */
export function Pager({ page, pageSize, total, onChange }: { page: number; pageSize: number; total: number; onChange: (page: number) => void }) {
  const pages = Math.max(1, Math.ceil(total / pageSize));
  const first = total === 0 ? 0 : (page - 1) * pageSize + 1;
  const last = Math.min(total, page * pageSize);
  return (
    <Group justify="space-between" mt="sm" data-testid="pager">
      <Text size="sm" c="dimmed">
        {first}–{last} of {total}
      </Text>
      {pages > 1 && <Pagination total={pages} value={Math.min(page, pages)} onChange={onChange} size="sm" />}
    </Group>
  );
}
