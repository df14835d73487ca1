import { describe, expect, it } from "vitest";
import { copyName, duplicateDefinition, seedFromState, seedState } from "./duplicate";

describe("duplicateDefinition", () => {
  it("renames the copy and keeps everything else", () => {
    const def = { name: "ssh-twice", version: 1, steps: [{ type: "ssh.exec", command: "id", target: ["a"] }], parameters: { p: 1 } };
    const copy = duplicateDefinition(def, "ssh-twice");
    expect(copy).toEqual({ ...def, name: "ssh-twice (copy)" });
  });
  it("does not share objects with the original", () => {
    const def = { name: "a", steps: [{ type: "ssh.exec", target: ["x"] }] };
    const copy = duplicateDefinition(def, "a") as { steps: { target: string[] }[] };
    copy.steps[0]?.target.push("y");
    expect(def.steps[0]?.target).toEqual(["x"]);
  });
  it("takes the job's name when the definition has none", () => {
    expect(duplicateDefinition({ steps: [] }, "deploy")).toEqual({ steps: [], name: "deploy (copy)" });
    expect(duplicateDefinition({ name: "  ", steps: [] }, "deploy")).toEqual({ steps: [], name: "deploy (copy)" });
  });
  it("copies a copy", () => {
    expect(copyName(copyName("x"))).toBe("x (copy) (copy)");
  });
  it("keeps a definition that is not an object", () => {
    expect(duplicateDefinition([1, 2], "x")).toEqual([1, 2]);
  });
});

describe("seedFromState", () => {
  it("reads back what seedState wrote", () => {
    const seed = { definition: { name: "a (copy)" }, isActive: false, from: 3 };
    expect(seedFromState(seedState(seed))).toEqual(seed);
  });
  it("ignores other or malformed state", () => {
    expect(seedFromState(null)).toBeNull();
    expect(seedFromState(undefined)).toBeNull();
    expect(seedFromState({ other: 1 })).toBeNull();
    expect(seedFromState({ duplicate: { definition: {}, isActive: "yes", from: 1 } })).toBeNull();
    expect(seedFromState({ duplicate: { isActive: true, from: 1 } })).toBeNull();
  });
});
