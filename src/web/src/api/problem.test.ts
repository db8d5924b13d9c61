import { describe, expect, it } from "vitest";

import { ApiError, errorMessage, formFieldErrors, problemFromBody, problemFromResponse } from "./problem";

describe("problem details", () => {
  it("reads an RFC 9457 body: title, detail, field errors, request id", () => {
    const error = problemFromBody(422, {
      type: "about:blank",
      title: "Validation failed",
      status: 422,
      detail: "name: expected at least 1 character",
      errors: [{ field: "name", message: "expected at least 1 character" }, { nope: true }],
      request_id: "abc123",
    });
    expect(error).toBeInstanceOf(ApiError);
    expect(error.status).toBe(422);
    expect(error.title).toBe("Validation failed");
    expect(error.detail).toBe("name: expected at least 1 character");
    expect(error.message).toBe(error.detail);
    expect(error.fieldErrors).toEqual([{ field: "name", message: "expected at least 1 character" }]);
    expect(error.requestId).toBe("abc123");
  });

  it("falls back to the status for bodies that are not problems", () => {
    expect(problemFromBody(502, "<html><body>Bad gateway</body></html>").detail).toBe("Server unavailable");
    expect(problemFromBody(500, "").title).toBe("Server error");
    expect(problemFromBody(404, "no such thing").detail).toBe("no such thing");
    expect(problemFromBody(418, undefined, "I'm a teapot").title).toBe("I'm a teapot");
    expect(problemFromBody(400, { message: "plain JSON error" }).detail).toBe("plain JSON error");
  });

  it("parses a Response, JSON or not", async () => {
    const fromJson = await problemFromResponse(
      new Response(JSON.stringify({ title: "Conflict", status: 409, detail: "name already used" }), { status: 409 }),
    );
    expect(fromJson.detail).toBe("name already used");
    const fromText = await problemFromResponse(new Response("upstream timed out", { status: 504 }));
    expect(fromText).toMatchObject({ status: 504, title: "Server did not answer", detail: "upstream timed out" });
  });

  it("maps field errors onto form fields and keeps the rest", () => {
    const error = problemFromBody(422, {
      title: "Validation failed",
      status: 422,
      detail: "invalid",
      errors: [
        { field: "timezone", message: "unknown time zone" },
        { field: "site_ids[0]", message: "no such site" },
        { field: "body.name", message: "too long" },
        { field: "body", message: "malformed" },
      ],
    });
    const { fields, rest } = formFieldErrors(error, ["name", "timezone", "site_ids"]);
    expect(fields).toEqual([
      { name: "timezone", errors: ["unknown time zone"] },
      { name: "site_ids", errors: ["no such site"] },
      { name: "name", errors: ["too long"] },
    ]);
    expect(rest).toEqual([{ field: "body", message: "malformed" }]);
    expect(formFieldErrors(new Error("x"), ["name"])).toEqual({ fields: [], rest: [] });
  });

  it("words network failures for people", () => {
    expect(errorMessage(new TypeError("Failed to fetch"))).toMatch(/cannot be reached/);
    expect(errorMessage(problemFromBody(403, { title: "Forbidden", status: 403, detail: "role site_manager may not" }))).toBe(
      "role site_manager may not",
    );
    expect(errorMessage("odd")).toBe("odd");
  });
});
