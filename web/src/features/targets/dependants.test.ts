import { describe, expect, it } from "vitest";
import { dependantIds, dependantNames } from "./dependants";

describe("dependantIds", () => {
  it("reads the ids of the server's refusal", () => {
    expect(dependantIds("Cannot delete target: targets [9] depend on it")).toEqual([9]);
    expect(dependantIds("Cannot delete target: targets [4, 12] depend on it")).toEqual([4, 12]);
  });
  it("finds none in other messages", () => {
    expect(dependantIds("Cannot delete target: it is referenced by jobs")).toEqual([]);
    expect(dependantIds("Target not found")).toEqual([]);
  });
});

describe("dependantNames", () => {
  it("names the known ones and numbers the rest", () => {
    expect(dependantNames([4, 12], new Map([[4, "app-01"]]))).toBe("app-01, #12");
  });
});
