import { describe, expect, it, vi } from "vitest";

import { fakeToken, json, problem, SITE, TENANT } from "../test/jwt";
import { createApi, unwrap } from "./client";
import { ApiError } from "./problem";
import { Session } from "./session";

const BASE = "http://appliance.test";

async function signedIn(api: (request: Request) => Response | Promise<Response>) {
  const seen: Request[] = [];
  const fetch = vi.fn(async (input: RequestInfo | URL, init?: RequestInit) => {
    const request = input instanceof Request ? input : new Request(String(input), init);
    if (request.url.endsWith("/v1/auth/session")) {
      return json({ access_token: fakeToken({ sub: "user:1", role: "tenant_admin", tenant_id: TENANT, site_ids: [] }), expires_in: 900 });
    }
    seen.push(request.clone());
    return api(request);
  }) as unknown as typeof globalThis.fetch;
  const session = new Session({ baseUrl: BASE, fetch });
  await session.login("anna", "pw");
  return { api: createApi(session), seen };
}

describe("the typed API client", () => {
  it("builds paths and query strings from the OpenAPI types and returns typed data", async () => {
    const { api, seen } = await signedIn(() =>
      json({ items: [{ id: SITE, name: "Flagship", timezone: "Europe/Berlin" }], total: 1, limit: 50, offset: 0 }),
    );
    const page = await unwrap(api.GET("/v1/sites", { params: { query: { limit: 50, q: "flag" } } }));
    expect(page.items[0]?.name).toBe("Flagship");
    expect(seen[0]?.url).toBe(`${BASE}/v1/sites?limit=50&q=flag`);
    expect(seen[0]?.headers.get("Authorization")).toMatch(/^Bearer /);

    await unwrap(api.GET("/v1/visits/{visit_id}/snapshot", { params: { path: { visit_id: "v-1" } } })).catch(() => undefined);
    expect(seen[1]?.url).toBe(`${BASE}/v1/visits/v-1/snapshot`);
  });

  it("sends JSON bodies", async () => {
    const { api, seen } = await signedIn(() => json({ id: SITE, name: "Kiosk", timezone: "UTC" }, 201));
    await unwrap(api.POST("/v1/sites", { body: { name: "Kiosk", timezone: "UTC" } }));
    expect(seen[0]?.method).toBe("POST");
    expect(seen[0]?.headers.get("Content-Type")).toBe("application/json");
    expect(await seen[0]?.json()).toEqual({ name: "Kiosk", timezone: "UTC" });
  });

  it("turns a problem+json answer into an ApiError with field errors", async () => {
    const { api } = await signedIn(() =>
      problem(422, "Validation failed", "timezone: unknown time zone 'Mars/Olympus'", [
        { field: "timezone", message: "unknown time zone 'Mars/Olympus'" },
      ]),
    );
    const error = await unwrap(api.POST("/v1/sites", { body: { name: "X", timezone: "Mars/Olympus" } })).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect(error).toMatchObject({ status: 422, title: "Validation failed" });
    expect((error as ApiError).fieldErrors).toEqual([{ field: "timezone", message: "unknown time zone 'Mars/Olympus'" }]);
  });

  it("returns undefined for an empty success (DELETE 204)", async () => {
    const { api } = await signedIn(() => new Response(null, { status: 204 }));
    await expect(unwrap(api.DELETE("/v1/cameras/{camera_id}", { params: { path: { camera_id: "c" } } }))).resolves.toBeUndefined();
  });
});
