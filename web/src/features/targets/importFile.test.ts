import { describe, expect, it } from "vitest";
import {
  detectFormat,
  EXAMPLE_CSV,
  IMPORT_BODY_LIMIT,
  IMPORT_MAX_ROWS,
  importIssues,
  parseCsvRecords,
  parseImport,
  readFileText,
  TSV_MESSAGE,
  type Preview,
} from "./importFile";

function preview(text: string, format: "csv" | "json"): Preview {
  const result = parseImport(text, format);
  if (!result.ok) throw new Error(`not parsed: ${result.error}`);
  return result.preview;
}

function error(text: string, format: "csv" | "json"): string {
  const result = parseImport(text, format);
  if (result.ok) throw new Error("parsed");
  return result.error;
}

describe("parseCsvRecords", () => {
  it("splits plain fields and trims them", () => {
    expect(parseCsvRecords("a, b ,c\n 1,2 , 3\n")).toEqual([
      { line: 1, fields: ["a", "b", "c"] },
      { line: 2, fields: ["1", "2", "3"] },
    ]);
  });

  it("reads quoted fields with embedded commas, doubled quotes and line breaks", () => {
    const text = 'name,metadata\nweb-01,"{""a"": 1, ""b"": 2}"\n"multi\nline, yes",x\nlast,"say ""hi"""';
    expect(parseCsvRecords(text)).toEqual([
      { line: 1, fields: ["name", "metadata"] },
      { line: 2, fields: ["web-01", '{"a": 1, "b": 2}'] },
      { line: 3, fields: ["multi\nline, yes", "x"] },
      { line: 5, fields: ["last", 'say "hi"'] },
    ]);
  });

  it("skips blank lines but counts them, with LF, CRLF and CR line ends", () => {
    expect(parseCsvRecords("h\r\n\r\na\r\n\nb\rc")).toEqual([
      { line: 1, fields: ["h"] },
      { line: 3, fields: ["a"] },
      { line: 5, fields: ["b"] },
      { line: 6, fields: ["c"] },
    ]);
  });

  it("counts a CRLF inside quotes as one line", () => {
    expect(parseCsvRecords('h\r\n"a\r\nb"\r\nc').map((r) => r.line)).toEqual([1, 2, 4]);
  });

  it("keeps a quote inside an unquoted field as text (as the csv crate does)", () => {
    expect(parseCsvRecords('a"b,c\n')).toEqual([{ line: 1, fields: ['a"b', "c"] }]);
  });

  it("keeps empty fields, including a trailing one", () => {
    expect(parseCsvRecords("a,,c,\n")).toEqual([{ line: 1, fields: ["a", "", "c", ""] }]);
  });
});

describe("parseImport (CSV)", () => {
  it("previews the example with the header's columns and 0-based row indices", () => {
    const p = preview(EXAMPLE_CSV, "csv");
    expect(p.format).toBe("csv");
    expect(p.columns).toEqual(["name", "hostname", "protocol", "port", "credential", "tags", "metadata"]);
    expect(p.rows.map((r) => [r.index, r.line, r.values.name])).toEqual([
      [0, 2, "web-01"],
      [1, 3, "win-01"],
      [2, 4, "status-page"],
    ]);
    expect(p.rows[1]?.values.metadata).toBe('{"winrm_use_https": true}');
    expect(p.rows.every((r) => r.localError === undefined)).toBe(true);
  });

  it("numbers rows the way the server does when blank lines and multi-line fields are in between", () => {
    const p = preview('name,hostname\n\na,"x\ny"\n\nb,z\n', "csv");
    expect(p.rows.map((r) => [r.index, r.line, r.values.name])).toEqual([
      [0, 3, "a"],
      [1, 6, "b"],
    ]);
  });

  it("reads a header with a byte-order mark left in it (unquoted) as the column name", () => {
    expect(preview("\uFEFFname,hostname\na,b\n", "csv").columns).toEqual(["name", "hostname"]);
  });

  it("flags a row with the wrong number of fields", () => {
    const p = preview("name,hostname\na\nb,c,d\ne,f\n", "csv");
    expect(p.rows.map((r) => r.localError)).toEqual(["1 fields, but the header has 2", "3 fields, but the header has 2", undefined]);
    expect(p.rows[0]?.values).toEqual({ name: "a", hostname: "" });
  });

  it("says what is missing", () => {
    expect(error("   \n", "csv")).toBe("The file is empty.");
    expect(error("name,hostname\n", "csv")).toBe("The CSV has a header row but no rows to import.");
  });

  it("refuses more rows than the server accepts", () => {
    const text = `name\n${"x\n".repeat(IMPORT_MAX_ROWS + 1)}`;
    expect(error(text, "csv")).toMatch(/^10001 rows: the server accepts at most 10000/);
    expect(parseImport(`name\n${"x\n".repeat(IMPORT_MAX_ROWS)}`, "csv").ok).toBe(true);
  });
});

describe("parseImport (JSON)", () => {
  it("previews an array, known columns first in their order, then the others", () => {
    const p = preview('[{"hostname": "h1", "name": "a", "tags": ["x", "y"], "zone": 1}, {"name": "b", "metadata": {"k": true}, "port": 22}]', "json");
    expect(p.format).toBe("json");
    expect(p.columns).toEqual(["name", "hostname", "port", "tags", "metadata", "zone"]);
    expect(p.rows[0]?.values).toEqual({ hostname: "h1", name: "a", tags: "x; y", zone: "1" });
    expect(p.rows[1]?.values).toEqual({ name: "b", metadata: '{"k":true}', port: "22" });
  });

  it('accepts {"targets": [...]} and flags items that are not objects', () => {
    const p = preview('{"targets": [{"name": "a"}, 3, null]}', "json");
    expect(p.rows.map((r) => [r.index, r.localError])).toEqual([
      [0, undefined],
      [1, "Not an object"],
      [2, "Not an object"],
    ]);
  });

  it("says why a JSON text cannot be previewed", () => {
    expect(error("[1,", "json")).toMatch(/^The JSON cannot be parsed: /);
    expect(error('{"name": "a"}', "json")).toBe('The JSON must be an array of targets, or an object {"targets": [...]}.');
    expect(error("[]", "json")).toBe("The list is empty: there is nothing to import.");
  });
});

describe("detectFormat", () => {
  it("goes by the file's extension first", () => {
    expect(detectFormat("[1]", "hosts.CSV")).toBe("csv");
    expect(detectFormat("name\nx", "hosts.json")).toBe("json");
    expect(detectFormat("[1]", "hosts.txt")).toBe("csv");
  });

  it("otherwise by the first non-blank character", () => {
    expect(detectFormat('  \n[{"name": "a"}]')).toBe("json");
    expect(detectFormat('{"targets": []}')).toBe("json");
    expect(detectFormat("name,hostname\n")).toBe("csv");
    expect(detectFormat("[1]", "hosts")).toBe("json");
    expect(detectFormat("name\n", "export.data")).toBe("csv");
  });
});

describe("tab-separated input", () => {
  it("is not taken for CSV by its extension, and a .tsv file is refused", async () => {
    expect(detectFormat("name\thostname\n", "hosts.tsv")).toBe("csv"); // by content; the file itself is refused:
    expect(await readFileText(new File(["name\thostname\na\tb\n"], "hosts.TSV"))).toEqual({ error: `hosts.TSV: ${TSV_MESSAGE}` });
    expect(detectFormat('[{"name": "a"}]', "hosts.tsv")).toBe("json");
  });
  it("is refused when pasted (a header of one column with tabs)", () => {
    expect(error("name\thostname\tprotocol\nweb\tweb.example.com\tssh\n", "csv")).toBe(TSV_MESSAGE);
  });
});

describe("readFileText", () => {
  it("drops a UTF-8 byte-order mark", async () => {
    const file = new File([new Uint8Array([0xef, 0xbb, 0xbf]), "name,hostname\n"], "t.csv");
    expect(await readFileText(file)).toEqual({ text: "name,hostname\n" });
  });

  it("refuses text that is not UTF-8, an empty file and a file over the limit", async () => {
    expect(await readFileText(new File([new Uint8Array([0x6e, 0xe9, 0x0a])], "latin1.csv"))).toEqual({ error: expect.stringContaining("is not UTF-8 text") as unknown });
    expect(await readFileText(new File([], "empty.csv"))).toEqual({ error: "empty.csv is empty." });
    const big = { name: "big.csv", size: IMPORT_BODY_LIMIT + 1 } as File;
    expect(await readFileText(big)).toEqual({ error: expect.stringContaining("the server accepts at most 16.0 MB") as unknown });
  });
});

describe("importIssues", () => {
  it("maps row errors by the server's index, numeric or string", () => {
    const { byRow, general } = importIssues(
      [
        { loc: ["body", "1", "hostname"], msg: "invalid hostname" },
        { loc: ["body", 0, "port"], msg: "'x' is not a number" },
        { loc: ["body", "1", "tags", 2], msg: "bad tag" },
        { loc: ["body", "0"], msg: "Duplicate of row 3" },
      ],
      2,
    );
    expect(general).toEqual([]);
    expect(byRow.get(1)).toEqual([
      { field: "hostname", msg: "invalid hostname" },
      { field: "tags.2", msg: "bad tag" },
    ]);
    // The row-level duplicate message counts rows from 1, like the page.
    expect(byRow.get(0)).toEqual([
      { field: "port", msg: "'x' is not a number" },
      { field: "", msg: "Duplicate of row 4" },
    ]);
  });

  it("puts errors on no row, or on a row the preview does not have, in the general list", () => {
    const { byRow, general } = importIssues(
      [
        { loc: ["body", "csv"], msg: "Unknown column 'zone'" },
        { loc: ["body"], msg: "Empty list" },
        { loc: ["body", "5", "name"], msg: "too long" },
        { loc: ["body", 7], msg: "bad" },
        { loc: ["body", "-1"], msg: "weird" },
      ],
      2,
    );
    expect(byRow.size).toBe(0);
    expect(general).toEqual(["csv: Unknown column 'zone'", "Empty list", "Row 6 (name): too long", "Row 8: bad", "-1: weird"]);
  });
});
