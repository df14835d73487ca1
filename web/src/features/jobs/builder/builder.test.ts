import { describe, expect, it } from "vitest";
import { duplicateKeys, numberFromInput } from "../definition";
import { base64ToText, bytesToBase64, textToBase64 } from "./base64";
import { bodyMode, bodyText, parseBody } from "./httpBody";
import { retype } from "./retype";

describe("numberFromInput (a number parameter's default)", () => {
  it("keeps text that is on its way to a number while typing", () => {
    expect(numberFromInput("1")).toBe(1);
    expect(numberFromInput("1.")).toBe("1.");
    expect(numberFromInput("1.0")).toBe("1.0");
    expect(numberFromInput("1.05")).toBe(1.05);
    expect(numberFromInput("-")).toBe("-");
    expect(numberFromInput(" 2 ")).toBe(2);
  });
  it("converts any finite number on blur, leaves the rest as text", () => {
    expect(numberFromInput("1.0", true)).toBe(1);
    expect(numberFromInput("1.", true)).toBe(1);
    expect(numberFromInput(" 2 ", true)).toBe(2);
    expect(numberFromInput("1e3", true)).toBe(1000);
    expect(numberFromInput("abc", true)).toBe("abc");
    expect(numberFromInput("Infinity", true)).toBe("Infinity");
  });
  it("removes the default when empty", () => {
    expect(numberFromInput("")).toBeUndefined();
    expect(numberFromInput("  ", true)).toBeUndefined();
  });
});

describe("duplicateKeys (env and header rows)", () => {
  it("names the keys of more than one row, ignoring empty ones", () => {
    expect([...duplicateKeys(["A", "B", "A", "", ""])]).toEqual(["A"]);
    expect(duplicateKeys(["A", "a"]).size).toBe(0);
  });
});

describe("base64ToText (ssh.copy's Text choice)", () => {
  it("decodes UTF-8 text and refuses binary content", () => {
    expect(base64ToText(textToBase64("grüße\n"))).toBe("grüße\n");
    expect(base64ToText(bytesToBase64(new Uint8Array([0xff, 0xfe, 0x00, 0x80])))).toBeNull();
    expect(base64ToText("not base64!")).toBeNull();
  });
});

describe("http.request body", () => {
  it("picks the mode from the value", () => {
    expect(bodyMode(undefined)).toBe("text");
    expect(bodyMode("a=1")).toBe("text");
    expect(bodyMode({ a: 1 })).toBe("json");
    expect(bodyMode([1])).toBe("json");
    expect(bodyText({ a: 1 }, "json")).toBe('{\n  "a": 1\n}');
    expect(bodyText(undefined, "json")).toBe("");
  });
  it("parses JSON and reports invalid JSON instead of turning it into text", () => {
    expect(parseBody('{"a": 1}', "json")).toEqual({ ok: true, value: { a: 1 } });
    const bad = parseBody('{"a": ', "json");
    expect(bad.ok).toBe(false);
    expect(parseBody('{"a": ', "text")).toEqual({ ok: true, value: '{"a": ' });
    expect(parseBody("  ", "json")).toEqual({ ok: true, value: undefined });
  });
});

describe("retype (a step's type changed)", () => {
  it("drops an empty target list when switching to http.request, keeps a named one", () => {
    const http = retype({ type: "ssh.exec", name: "", target: [], command: "x" }, "http.request");
    expect(http).toEqual({ type: "http.request", name: "", method: "GET", url: "" });
    expect(retype({ type: "ssh.exec", target: ["web1"], command: "x" }, "http.request").target).toEqual(["web1"]);
    expect(retype({ type: "http.request", url: "/x" }, "ssh.exec").target).toEqual([]);
  });
  it("moves ssh.copy's text content to winrm.copy's contentB64 (UTF-8)", () => {
    const out = retype({ type: "ssh.copy", target: ["w"], content: "héllo", destPath: "/x" }, "winrm.copy");
    expect(out.content).toBeUndefined();
    expect(out.contentB64).toBe(textToBase64("héllo"));
    expect(base64ToText(out.contentB64 as string)).toBe("héllo");
    expect(out.destPath).toBe("/x");
  });
  it("keeps base64 content between the copy steps", () => {
    const toSsh = retype({ type: "winrm.copy", target: [], contentB64: "AAE=", destPath: "C:\\x" }, "ssh.copy");
    expect(toSsh.contentB64).toBe("AAE=");
    expect(toSsh.content).toBeUndefined();
    const back = retype(toSsh, "winrm.copy");
    expect(back.contentB64).toBe("AAE=");
  });
});
