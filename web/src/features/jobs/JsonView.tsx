import { Alert, Anchor, List, Stack, Text, Textarea } from "@mantine/core";
import { useRef } from "react";
import { displayPath } from "./definition";
import { spanOf, type JsonProblem } from "./jsonText";

export interface PathIssue {
  /** Dotted path in the definition (`steps.1.command`), or "" for the whole of it. */
  path: string;
  msg: string;
  /** False for issues on the request rather than the definition (e.g. the job's name). */
  inDefinition: boolean;
}

/** The definition as JSON text, with the parse error and the server's issues listed. */
export function JsonView({ text, onChange, problem, issues, readOnly }: { text: string; onChange: (t: string) => void; problem: JsonProblem | null; issues: PathIssue[]; readOnly: boolean }) {
  const ref = useRef<HTMLTextAreaElement>(null);
  const select = (start: number, end: number) => {
    const ta = ref.current;
    if (!ta) return;
    ta.focus();
    ta.setSelectionRange(start, end);
    const line = text.slice(0, start).split("\n").length;
    const lineHeight = parseFloat(getComputedStyle(ta).lineHeight) || 20;
    ta.scrollTop = Math.max(0, (line - 4) * lineHeight);
  };
  const jump = (path: string) => {
    const span = spanOf(text, path);
    if (span) select(span[0], span[1]);
  };
  return (
    <Stack gap="sm">
      {problem && (
        <Alert color="red" title="Not valid JSON" data-testid="job-json-error">
          <Anchor component="button" type="button" size="sm" onClick={() => select(problem.offset, problem.offset + 1)}>
            Line {problem.line}, column {problem.column}
          </Anchor>
          <Text span size="sm">
            : {problem.message}
          </Text>
        </Alert>
      )}
      {issues.length > 0 && (
        <Alert color="red" title="The server did not accept this definition" data-testid="job-json-issues">
          <List size="sm" spacing={2}>
            {issues.map((issue, i) => (
              <List.Item key={i} data-testid="job-json-issue">
                {issue.inDefinition ? (
                  <Anchor component="button" type="button" size="sm" ff="monospace" onClick={() => jump(issue.path)}>
                    {displayPath(issue.path) || "definition"}
                  </Anchor>
                ) : (
                  <Text span size="sm" ff="monospace">
                    {issue.path || "request"}
                  </Text>
                )}
                : {issue.msg}
              </List.Item>
            ))}
          </List>
        </Alert>
      )}
      <Textarea
        ref={ref}
        aria-label="Job definition (JSON)"
        autosize
        minRows={16}
        maxRows={40}
        spellCheck={false}
        autoCapitalize="off"
        autoCorrect="off"
        styles={{ input: { fontFamily: "monospace", fontSize: 13, whiteSpace: "pre", overflowX: "auto" } }}
        value={text}
        onChange={(e) => onChange(e.currentTarget.value)}
        readOnly={readOnly}
        error={problem !== null}
        data-testid="job-json"
      />
    </Stack>
  );
}
