import { describe, expect, it } from "vitest";
import { ApiError } from "../../api/errors";
import type { Target } from "../../api/types";
import {
  checkTargetForm,
  createBody,
  defaultPort,
  emptyTargetForm,
  portOnProtocolChange,
  targetFormErrors,
  targetFormOf,
  updateBody,
  type TargetFormResult,
  type TargetFormValues,
} from "./targetForm";

const saved: Target = {
  id: 7,
  name: "web-02",
  hostname: "10.0.0.2",
  protocol: "ssh",
  port: 22,
  credential_ref: 3,
  tags: ["role:web"],
  metadata: {},
  depends_on: [],
  created_at: "2025-01-01T00:00:00Z",
  warnings: [],
};

function checked(v: TargetFormValues): TargetFormResult {
  const r = checkTargetForm(v);
  if (!r.ok) throw new Error(`not valid: ${JSON.stringify(r.errors)}`);
  return r.value;
}

/** The PUT body after applying `change` to the form prefilled with `t`. */
function edit(t: Target, change: Partial<TargetFormValues>): ReturnType<typeof updateBody> {
  return updateBody(t, checked({ ...targetFormOf(t), ...change }));
}

describe("targetFormOf", () => {
  it("prefills every field, empty metadata as empty text", () => {
    expect(targetFormOf(saved)).toEqual({
      name: "web-02",
      hostname: "10.0.0.2",
      protocol: "ssh",
      port: "22",
      credential: "3",
      tags: ["role:web"],
      metadata: "",
    });
  });
  it("pretty-prints metadata and keeps a missing credential empty", () => {
    const form = targetFormOf({ ...saved, metadata: { http_path: "/x" }, credential_ref: null });
    expect(JSON.parse(form.metadata)).toEqual({ http_path: "/x" });
    expect(form.credential).toBeNull();
  });
});

describe("checkTargetForm", () => {
  it("asks for the required fields", () => {
    const r = checkTargetForm(emptyTargetForm());
    expect(r.ok).toBe(false);
    if (!r.ok) expect(Object.keys(r.errors).sort()).toEqual(["credential_ref", "hostname", "name"]);
  });
  it("refuses bad ports, tags and metadata", () => {
    const r = checkTargetForm({ ...targetFormOf(saved), port: "70000", tags: ["role"], metadata: "[1]" });
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.errors.port).toMatch(/between 1 and 65535/);
      expect(r.errors.tags).toBe('"role" is not key:value');
      expect(r.errors.metadata).toMatch(/JSON object/);
    }
    const r2 = checkTargetForm({ ...targetFormOf(saved), port: "22x" });
    expect(r2.ok).toBe(false);
  });
  it("trims and converts", () => {
    expect(checked({ ...targetFormOf(saved), name: " a ", hostname: " h ", port: " 2222 " })).toMatchObject({ name: "a", hostname: "h", port: 2222, credential_ref: 3 });
    expect(checked({ ...targetFormOf(saved), port: "" }).port).toBeUndefined();
  });
});

describe("createBody", () => {
  it("leaves the port out when empty", () => {
    const body = createBody(checked({ ...targetFormOf(saved), port: "" }));
    expect(body).toEqual({ name: "web-02", hostname: "10.0.0.2", protocol: "ssh", credential_ref: 3, tags: ["role:web"], metadata: {} });
  });
});

describe("updateBody", () => {
  it("sends nothing when nothing changed (metadata key order does not count)", () => {
    expect(edit(saved, {})).toEqual({});
    const withMeta = { ...saved, metadata: { a: 1, b: { c: 2 } } };
    expect(edit(withMeta, { metadata: '{"b": {"c": 2}, "a": 1}' })).toEqual({});
  });
  it("sends only the changed fields", () => {
    expect(edit(saved, { port: "2222" })).toEqual({ port: 2222 });
    expect(edit(saved, { name: "web-2b", hostname: "10.0.0.9" })).toEqual({ name: "web-2b", hostname: "10.0.0.9" });
    expect(edit(saved, { credential: "4" })).toEqual({ credential_ref: 4 });
    expect(edit(saved, { tags: ["role:web", "env:prod"] })).toEqual({ tags: ["role:web", "env:prod"] });
    expect(edit(saved, { tags: [] })).toEqual({ tags: [] });
    expect(edit(saved, { metadata: '{"x": true}' })).toEqual({ metadata: { x: true } });
  });
  it("clears metadata with an empty object", () => {
    expect(edit({ ...saved, metadata: { x: 1 } }, { metadata: "" })).toEqual({ metadata: {} });
  });
  it("changes the protocol without a port so the server takes its default", () => {
    expect(edit(saved, { protocol: "http", port: "" })).toEqual({ protocol: "http" });
  });
  it("changes the protocol with a port given", () => {
    expect(edit(saved, { protocol: "http", port: "8080" })).toEqual({ protocol: "http", port: 8080 });
    // Even the old port, typed again: without it the server would move to the default.
    expect(edit(saved, { protocol: "http", port: "22" })).toEqual({ protocol: "http", port: 22 });
  });
  it("an emptied port goes back to the protocol's default by naming the protocol", () => {
    expect(edit({ ...saved, port: 2222 }, { port: "" })).toEqual({ protocol: "ssh" });
    // Already on the default: nothing to do.
    expect(edit(saved, { port: "" })).toEqual({});
  });
  it("judges the WinRM default with the new metadata", () => {
    const winrm: Target = { ...saved, protocol: "winrm", port: 5985 };
    expect(edit(winrm, { port: "" })).toEqual({});
    expect(edit(winrm, { port: "", metadata: '{"winrm_use_https": true}' })).toEqual({ protocol: "winrm", metadata: { winrm_use_https: true } });
  });
});

describe("defaultPort", () => {
  it("mirrors the server", () => {
    expect(defaultPort("winrm", {})).toBe(5985);
    expect(defaultPort("winrm", { winrm_use_https: true })).toBe(5986);
    expect(defaultPort("ssh", {})).toBe(22);
    expect(defaultPort("http", { http_scheme: "http" })).toBe(443);
  });
});

describe("portOnProtocolChange", () => {
  it("clears the saved port when the protocol changes, and restores it when it changes back", () => {
    expect(portOnProtocolChange("22", "http", saved)).toBe("");
    expect(portOnProtocolChange("", "ssh", saved)).toBe("22");
  });
  it("keeps a port the user typed", () => {
    expect(portOnProtocolChange("8080", "http", saved)).toBe("8080");
    expect(portOnProtocolChange("8080", "ssh", saved)).toBe("8080");
  });
  it("changes nothing when creating", () => {
    expect(portOnProtocolChange("22", "http", null)).toBe("22");
    expect(portOnProtocolChange("", "http", null)).toBe("");
  });
});

describe("targetFormErrors", () => {
  it("puts a duplicate name (409) on the name", () => {
    expect(targetFormErrors(new ApiError(409, "Target with this name already exists"))).toEqual({
      fields: { name: "Target with this name already exists" },
      general: null,
    });
  });
  it("puts the contract's 400 on the credential", () => {
    expect(targetFormErrors(new ApiError(400, "Invalid credential reference")).fields).toEqual({ credential_ref: "Invalid credential reference" });
  });
  it("maps 422 issues onto fields and keeps the rest general", () => {
    const err = new ApiError(422, "x", [
      { loc: ["body", "port"], msg: "Port must be between 1 and 65535" },
      { loc: ["body", "depends_on"], msg: "Dependencies would form a cycle: 1 -> 2 -> 1" },
    ]);
    expect(targetFormErrors(err)).toEqual({ fields: { port: "Port must be between 1 and 65535" }, general: "depends_on: Dependencies would form a cycle: 1 -> 2 -> 1" });
  });
  it("keeps anything else general", () => {
    expect(targetFormErrors(new ApiError(500, "The server failed to answer this request"))).toEqual({ fields: {}, general: "The server failed to answer this request" });
  });
});
