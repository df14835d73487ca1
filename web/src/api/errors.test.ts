import { describe, expect, it } from "vitest";
import { ApiError, describeIssues, errorFromResponse, errorMessage, formErrors, issuePath, NetworkError, type FieldIssue } from "./errors";

const issue = (loc: (string | number)[], msg = "bad"): FieldIssue => ({ loc, msg });

describe("issuePath", () => {
  it("drops a leading body, query or path and joins the rest with dots", () => {
    expect(issuePath(issue(["body", "definition", "steps", 1, "command"]))).toBe("definition.steps.1.command");
    expect(issuePath(issue(["query", "limit"]))).toBe("limit");
    expect(issuePath(issue(["path", "id"]))).toBe("id");
    expect(issuePath(issue(["name"]))).toBe("name");
  });

  it("keeps a lone body (the body as a whole) and an empty location", () => {
    expect(issuePath(issue(["body"]))).toBe("body");
    expect(issuePath(issue([]))).toBe("");
  });

  it("drops only the first prefix", () => {
    expect(issuePath(issue(["body", "body", "x"]))).toBe("body.x");
  });
});

describe("describeIssues", () => {
  it("lists each issue with its location", () => {
    expect(describeIssues([issue(["body", "name"], "taken"), issue([], "bad request")])).toBe("name: taken; bad request");
  });
});

describe("formErrors", () => {
  const validation = (...issues: FieldIssue[]) => new ApiError(422, describeIssues(issues), issues);

  it("puts each issue on its field and the rest in general", () => {
    const result = formErrors(validation(issue(["body", "name"], "taken"), issue(["body", "port"], "too big"), issue(["body", "owner"], "unknown")), ["name", "port"]);
    expect(result).toEqual({ fields: { name: "taken", port: "too big" }, general: "owner: unknown" });
  });

  it("keeps a deeper location in the message", () => {
    expect(formErrors(validation(issue(["body", "definition", "steps", 1, "command"], "field required")), ["definition"]).fields).toEqual({
      definition: "steps.1.command: field required",
    });
  });

  it("matches whole path segments only", () => {
    const result = formErrors(validation(issue(["body", "names"], "x")), ["name"]);
    expect(result).toEqual({ fields: {}, general: "names: x" });
  });

  it("lets the longest dotted field win", () => {
    const result = formErrors(validation(issue(["body", "parameters", "svc", "pattern"], "bad regex"), issue(["body", "parameters", "other"], "unknown")), ["parameters", "parameters.svc"]);
    expect(result.fields).toEqual({ "parameters.svc": "pattern: bad regex", parameters: "other: unknown" });
  });

  it("joins several messages for one field", () => {
    expect(formErrors(validation(issue(["body", "name"], "too short"), issue(["body", "name"], "bad characters")), ["name"]).fields).toEqual({
      name: "too short; bad characters",
    });
  });

  it("reports errors without issues, and plain errors, as general", () => {
    expect(formErrors(new ApiError(409, "A target named x exists"), ["name"])).toEqual({ fields: {}, general: "A target named x exists" });
    expect(formErrors(new NetworkError(), ["name"])).toEqual({ fields: {}, general: "The server cannot be reached" });
    expect(formErrors("boom", ["name"])).toEqual({ fields: {}, general: "boom" });
    expect(formErrors(null, ["name"])).toEqual({ fields: {}, general: null });
    expect(formErrors(undefined, ["name"])).toEqual({ fields: {}, general: null });
  });
});

describe("errorFromResponse", () => {
  const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
    new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json", ...headers } });

  it("reads a 422's issue list, skipping malformed entries' bad parts", async () => {
    const err = await errorFromResponse(
      json(422, { detail: [{ loc: ["body", "name"], msg: "taken", type: "value_error" }, { loc: ["body", { x: 1 }, 2], msg: 5 }, "junk"] }),
    );
    expect(err.status).toBe(422);
    expect(err.issues).toEqual([
      { loc: ["body", "name"], msg: "taken", type: "value_error" },
      { loc: ["body", 2], msg: "Invalid value", type: undefined },
    ]);
    expect(err.message).toBe("name: taken; 2: Invalid value");
  });

  it("uses a text detail as the message, and Retry-After when it is a number", async () => {
    const err = await errorFromResponse(json(429, { detail: "Too many sign-in attempts" }, { "retry-after": "120" }));
    expect(err.message).toBe("Too many sign-in attempts");
    expect(err.retryAfter).toBe(120);
    expect(errorMessage(err)).toBe("Too many sign-in attempts (retry in 2 min)");
    const soon = await errorFromResponse(json(429, { detail: "Slow down" }, { "retry-after": "30" }));
    expect(errorMessage(soon)).toBe("Slow down (retry in 30 s)");
  });

  it("falls back to a message by status when the body says nothing useful", async () => {
    expect((await errorFromResponse(new Response("<html>oops</html>", { status: 502 }))).message).toBe("The server failed to answer this request");
    expect((await errorFromResponse(new Response(null, { status: 403 }))).message).toBe("You are not allowed to do this");
    expect((await errorFromResponse(json(418, { detail: "" }))).message).toBe("Request failed (418)");
    const noDate = await errorFromResponse(new Response(null, { status: 503, headers: { "retry-after": "Wed, 21 Oct 2015 07:28:00 GMT" } }));
    expect(noDate.retryAfter).toBeNull();
  });
});
