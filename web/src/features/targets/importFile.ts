// Bulk import of targets (`POST /targets/import`): reading the file, a preview of its rows, and
// the server's per-row 422 errors mapped back onto them.
//
// The preview parses CSV here only to show what is about to be sent; the request carries the
// original text with its content type, so the server's parser decides. Row indices are the
// server's: 0-based data rows (after the header for CSV, blank lines skipped), which this
// parser mirrors (csv crate defaults: `,` and `"`, CR/LF/CRLF line ends, every field trimmed).

import { authedFetch } from "../../api/client";
import { ApiError, errorFromResponse, type FieldIssue } from "../../api/errors";
import type { Target } from "../../api/types";

/** The server's body limit for this endpoint (`IMPORT_BODY_LIMIT` in crates/api/src/routes/targets.rs). */
export const IMPORT_BODY_LIMIT = 16 * 1024 * 1024;
/** The server's row limit per import (`targets::import`). */
export const IMPORT_MAX_ROWS = 10_000;

export type ImportFormat = "csv" | "json";

/** The 201 answer of `POST /targets/import`. */
export interface TargetImportResult {
  created: number;
  targets: Target[];
}

/** Columns the server's CSV reader knows (`targets::parse_csv`), in display order. */
export const CSV_COLUMNS = ["name", "hostname", "protocol", "port", "credential", "credential_ref", "tags", "metadata", "depends_on"] as const;

export const EXAMPLE_CSV = `name,hostname,protocol,port,credential,tags,metadata
web-01,web-01.example.com,ssh,,linux-root,env:prod;role:web,
win-01,10.0.0.21,winrm,5986,win-admin,env:prod,"{""winrm_use_https"": true}"
status-page,status.example.com,http,443,api-token,env:prod,"{""http_path"": ""/health""}"
`;

export interface PreviewRow {
  /** The server's row index (0-based). */
  index: number;
  /** CSV only: the file line the row starts on (1-based). */
  line?: number;
  values: Record<string, string>;
  /** A problem this page can see without the server (e.g. a wrong number of CSV fields). */
  localError?: string;
}

export interface Preview {
  format: ImportFormat;
  columns: string[];
  rows: PreviewRow[];
}

export type ParseResult = { ok: true; preview: Preview } | { ok: false; error: string };

/** KB/MB for messages. */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} bytes`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${(n / (1024 * 1024)).toFixed(1)} MB`;
}

export function tooLargeMessage(bytes: number): string {
  return `This is ${formatBytes(bytes)}; the server accepts at most ${formatBytes(IMPORT_BODY_LIMIT)} per import. Split it into smaller files.`;
}

/** UTF-8 size of a string, without allocating it for small strings. */
export function utf8Length(text: string): number {
  // A UTF-16 code unit is at most 3 UTF-8 bytes; only count exactly near the limit.
  if (text.length * 3 <= IMPORT_BODY_LIMIT) return text.length;
  return new TextEncoder().encode(text).length;
}

/** By file extension when there is one, else by content: JSON starts with `[` or `{`. */
export function detectFormat(text: string, fileName?: string): ImportFormat {
  const ext = fileName?.toLowerCase().match(/\.([a-z0-9]+)$/)?.[1];
  if (ext === "csv" || ext === "txt") return "csv";
  if (ext === "json") return "json";
  return /^\s*[[{]/.test(text) ? "json" : "csv";
}

/** Reads a picked file as UTF-8 (a byte-order mark is dropped); refuses other encodings. */
export const TSV_MESSAGE =
  "Tab-separated values cannot be imported: the server splits columns on commas only. Save the file as CSV (comma-separated) or JSON.";

export async function readFileText(file: File): Promise<{ text: string } | { error: string }> {
  if (/\.tsv$/i.test(file.name)) return { error: `${file.name}: ${TSV_MESSAGE}` };
  if (file.size > IMPORT_BODY_LIMIT) return { error: tooLargeMessage(file.size) };
  if (file.size === 0) return { error: `${file.name} is empty.` };
  const bytes = await file.arrayBuffer();
  try {
    return { text: new TextDecoder("utf-8", { fatal: true }).decode(bytes) };
  } catch {
    return { error: `${file.name} is not UTF-8 text. Save it as UTF-8 (e.g. "CSV UTF-8" in Excel) and pick it again.` };
  }
}

interface CsvRecord {
  line: number;
  fields: string[];
}

/** RFC 4180 records as the server's csv reader sees them: blank lines skipped, fields trimmed. */
export function parseCsvRecords(text: string): CsvRecord[] {
  const records: CsvRecord[] = [];
  let fields: string[] = [];
  let field = "";
  let line = 1;
  let recordLine = 1;
  let inQuotes = false;
  let atFieldStart = true;
  let recordEmpty = true; // nothing at all since the last line end (a blank line)
  const endField = () => {
    fields.push(field.trim());
    field = "";
    atFieldStart = true;
  };
  const endRecord = () => {
    if (recordEmpty) return; // blank line
    endField();
    records.push({ line: recordLine, fields });
    fields = [];
    recordEmpty = true;
  };
  for (let i = 0; i < text.length; i++) {
    const c = text.charAt(i);
    if (inQuotes) {
      if (c === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i++;
        } else {
          inQuotes = false;
        }
      } else {
        if (c === "\n" || (c === "\r" && text[i + 1] !== "\n")) line++;
        field += c;
      }
      continue;
    }
    if (c === "\r" || c === "\n") {
      if (c === "\r" && text[i + 1] === "\n") i++;
      endRecord();
      line++;
      continue;
    }
    if (recordEmpty) {
      recordEmpty = false;
      recordLine = line;
    }
    if (c === ",") {
      endField();
    } else if (c === '"' && atFieldStart) {
      inQuotes = true;
      atFieldStart = false;
    } else {
      field += c;
      atFieldStart = false;
    }
  }
  endRecord();
  return records;
}

function parseCsv(text: string): ParseResult {
  const records = parseCsvRecords(text);
  const [header, ...data] = records;
  if (header === undefined) return { ok: false, error: "The CSV is empty: it needs a header row and at least one row." };
  // A header of one column with tabs in it: pasted from a spreadsheet, tab-separated.
  if (header.fields.length === 1 && header.fields[0]?.includes("\t")) return { ok: false, error: TSV_MESSAGE };
  if (data.length === 0) return { ok: false, error: "The CSV has a header row but no rows to import." };
  const columns = header.fields;
  const rows = data.map((r, index): PreviewRow => {
    const values: Record<string, string> = {};
    columns.forEach((col, i) => {
      values[col] = r.fields[i] ?? "";
    });
    const row: PreviewRow = { index, line: r.line, values };
    if (r.fields.length !== columns.length) {
      row.localError = `${r.fields.length} fields, but the header has ${columns.length}`;
    }
    return row;
  });
  return { ok: true, preview: { format: "csv", columns, rows } };
}

function display(v: unknown): string {
  if (v === null || v === undefined) return "";
  if (typeof v === "string") return v;
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  if (Array.isArray(v) && v.every((x) => typeof x === "string" || typeof x === "number")) return v.join("; ");
  return JSON.stringify(v);
}

function parseJson(text: string): ParseResult {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    return { ok: false, error: `The JSON cannot be parsed: ${e instanceof Error ? e.message : String(e)}` };
  }
  let list: unknown = parsed;
  if (typeof parsed === "object" && parsed !== null && !Array.isArray(parsed) && "targets" in parsed) {
    list = parsed.targets;
  }
  if (!Array.isArray(list)) {
    return { ok: false, error: 'The JSON must be an array of targets, or an object {"targets": [...]}.' };
  }
  if (list.length === 0) return { ok: false, error: "The list is empty: there is nothing to import." };
  const known: readonly string[] = CSV_COLUMNS;
  const extra = new Set<string>();
  const rows = list.map((item: unknown, index): PreviewRow => {
    if (typeof item !== "object" || item === null || Array.isArray(item)) {
      return { index, values: {}, localError: "Not an object" };
    }
    const values: Record<string, string> = {};
    for (const [k, v] of Object.entries(item)) {
      values[k] = display(v);
      if (!known.includes(k)) extra.add(k);
    }
    return { index, values };
  });
  const present = new Set(rows.flatMap((r) => Object.keys(r.values)));
  const columns = [...known.filter((c) => present.has(c)), ...extra];
  return { ok: true, preview: { format: "json", columns, rows } };
}

/** The preview of what would be sent, or why there is nothing to send. */
export function parseImport(text: string, format: ImportFormat): ParseResult {
  if (text.trim() === "") return { ok: false, error: "The file is empty." };
  const bytes = utf8Length(text);
  if (bytes > IMPORT_BODY_LIMIT) return { ok: false, error: tooLargeMessage(bytes) };
  const result = format === "csv" ? parseCsv(text) : parseJson(text);
  if (result.ok && result.preview.rows.length > IMPORT_MAX_ROWS) {
    return {
      ok: false,
      error: `${result.preview.rows.length} rows: the server accepts at most ${IMPORT_MAX_ROWS} per import. Split the file.`,
    };
  }
  return result;
}

export interface RowIssue {
  /** The column or field the server named ("" for the row as a whole). */
  field: string;
  msg: string;
}

export interface ImportIssues {
  byRow: Map<number, RowIssue[]>;
  /** Problems with no row (an unknown CSV column, an empty list, a body that is not UTF-8…). */
  general: string[];
}

/** The server numbers rows from 0 in its messages ("Duplicate of row 0"); the page shows them from 1. */
function humanRowNumbers(msg: string): string {
  return msg.replace(/^Duplicate of row (\d+)$/, (_, n: string) => `Duplicate of row ${Number(n) + 1}`);
}

/** Splits a 422's issues by row: `loc` is `["body", <row index>, <field>…]` for a row's problems. */
export function importIssues(issues: FieldIssue[], rowCount: number): ImportIssues {
  const byRow = new Map<number, RowIssue[]>();
  const general: string[] = [];
  for (const issue of issues) {
    const loc = issue.loc[0] === "body" ? issue.loc.slice(1) : issue.loc;
    const [first, ...rest] = loc;
    const index = typeof first === "number" ? first : typeof first === "string" && /^\d+$/.test(first) ? Number(first) : null;
    const msg = humanRowNumbers(issue.msg);
    if (index === null) {
      general.push(loc.length > 0 ? `${loc.join(".")}: ${msg}` : msg);
    } else if (index >= rowCount) {
      general.push(`Row ${index + 1}${rest.length > 0 ? ` (${rest.join(".")})` : ""}: ${msg}`);
    } else {
      const list = byRow.get(index) ?? [];
      list.push({ field: rest.join("."), msg });
      byRow.set(index, list);
    }
  }
  return { byRow, general };
}

/** Sends the text as it is, with the content type of its format; the server parses and checks it. */
export async function importTargets(text: string, format: ImportFormat): Promise<TargetImportResult> {
  const res = await authedFetch("/targets/import", {
    method: "POST",
    headers: { accept: "application/json", "content-type": format === "csv" ? "text/csv; charset=utf-8" : "application/json" },
    body: text,
  });
  if (!res.ok) throw await errorFromResponse(res);
  const body: unknown = await res.json();
  if (typeof body !== "object" || body === null || !("created" in body)) {
    throw new ApiError(res.status, "The server answered the import with something unexpected");
  }
  return body as TargetImportResult;
}
