import { describe, expect, it, vi } from "vitest";

import { fakeToken, json, problem, SITE, TENANT } from "../test/jwt";
import { ApiError } from "./problem";
import { decodeClaims, Session } from "./session";

const BASE = "http://appliance.test";

function tokenResponse(claims: Record<string, unknown>, expiresIn = 900) {
  return json({ access_token: fakeToken(claims), expires_in: expiresIn, token_type: "bearer" });
}

const ADMIN = { sub: "user:1", role: "tenant_admin", tenant_id: TENANT, site_ids: [] };
const ROOT = { sub: "user:0", role: "system_admin", tenant_id: null, site_ids: [] };

/** A fake server: the session routes answer from `tokens` (sign-in and refresh alike), the rest
 * from `api`. Records sign-ins, refreshes and sign-outs with the headers that matter. */
function server(tokens: (() => Response)[], api: (request: Request) => Response | Promise<Response>) {
  const calls: { url: string; auth: string | null; tenant: string | null; body: string | null }[] = [];
  const logins: unknown[] = [];
  const refreshes: { header: string | null; credentials: RequestCredentials; body: string }[] = [];
  const logouts: { header: string | null }[] = [];
  const fetch = vi.fn(async (input: RequestInfo | URL, init?: RequestInit) => {
    const request = input instanceof Request ? input : new Request(String(input), init);
    const path = new URL(request.url).pathname;
    if (path === "/v1/auth/session" && request.method === "DELETE") {
      logouts.push({ header: request.headers.get("X-Appliance-Session") });
      return new Response(null, { status: 204 });
    }
    if (path === "/v1/auth/session" || path === "/v1/auth/session/refresh") {
      expect(request.method).toBe("POST");
      if (path === "/v1/auth/session") {
        expect(request.headers.get("X-Appliance-Session")).toBe("1");
        logins.push(await request.json());
      } else {
        refreshes.push({ header: request.headers.get("X-Appliance-Session"), credentials: init?.credentials ?? request.credentials, body: await request.text() });
      }
      const next = tokens.shift();
      if (!next) throw new Error(`unexpected ${path}`);
      return next();
    }
    calls.push({
      url: request.url,
      auth: request.headers.get("Authorization"),
      tenant: request.headers.get("X-Tenant-ID"),
      body: request.method === "GET" ? null : await request.clone().text(),
    });
    return api(request);
  });
  return { fetch: fetch as unknown as typeof globalThis.fetch, calls, logins, refreshes, logouts };
}

/** A session as after a reload: the hint cookie says a session may exist. */
function reloaded(fetch: typeof globalThis.fetch, storage: Map<string, string> | null = null, hint = true) {
  return new Session({
    baseUrl: BASE,
    fetch,
    hasSessionHint: () => hint,
    storage: storage && {
      getItem: (key) => storage.get(key) ?? null,
      setItem: (key, value) => void storage.set(key, value),
      removeItem: (key) => void storage.delete(key),
    },
  });
}

describe("decodeClaims", () => {
  it("reads role, tenant and sites from a JWT payload (base64url, UTF-8)", () => {
    const claims = decodeClaims(fakeToken({ sub: "user:ä", role: "site_manager", tenant_id: TENANT, site_ids: [SITE] }));
    expect(claims).toMatchObject({ sub: "user:ä", role: "site_manager", tenant_id: TENANT, site_ids: [SITE] });
    expect(() => decodeClaims("not-a-jwt")).toThrow();
    expect(() => decodeClaims(fakeToken({ role: "superuser" }))).toThrow(/unknown role/);
  });
});

describe("Session", () => {
  it("signs in with the password grant and keeps the token in memory", async () => {
    const fake = server([() => tokenResponse(ADMIN)], () => json({ items: [] }));
    const session = new Session({ baseUrl: BASE, fetch: fake.fetch });
    const seen: string[] = [];
    session.subscribe(() => seen.push(session.getState().status));
    await session.login("anna", "secret-password");
    expect(fake.logins).toEqual([{ grant_type: "password", username: "anna", password: "secret-password" }]);
    expect(session.getState()).toMatchObject({ status: "authenticated", username: "anna", tenantId: TENANT });
    expect(session.getState().claims?.role).toBe("tenant_admin");
    expect(seen).toEqual(["authenticated"]);
    // nothing is persisted
    expect(globalThis.localStorage?.length ?? 0).toBe(0);
  });

  it("reports wrong credentials as the API's 401 problem", async () => {
    const fake = server([() => problem(401, "Unauthorized", "invalid username or password")], () => json({}));
    const session = new Session({ baseUrl: BASE, fetch: fake.fetch });
    const error = await session.login("anna", "wrong").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect(error).toMatchObject({ status: 401, detail: "invalid username or password" });
    expect(session.getState().status).toBe("anonymous");
  });

  it("refuses worker tokens: API keys are for edge workers, not people", async () => {
    const fake = server([() => tokenResponse({ sub: "apikey:1", role: "worker", tenant_id: TENANT, site_ids: [SITE] })], () => json({}));
    const session = new Session({ baseUrl: BASE, fetch: fake.fetch });
    await expect(session.login("key", "x")).rejects.toMatchObject({ status: 403 });
  });

  it("sends the bearer token, and X-Tenant-ID only for a system_admin acting in a tenant", async () => {
    const fake = server([() => tokenResponse(ROOT)], () => json({ ok: true }));
    const session = new Session({ baseUrl: BASE, fetch: fake.fetch });
    await session.login("root", "pw");
    expect(session.getState().tenantId).toBeNull();
    await session.fetch(new Request(`${BASE}/v1/tenants`));
    session.setTenant(TENANT);
    await session.fetch(new Request(`${BASE}/v1/sites`));
    expect(fake.calls[0]).toMatchObject({ tenant: null });
    expect(fake.calls[0]?.auth).toMatch(/^Bearer ey/);
    expect(fake.calls[1]).toMatchObject({ tenant: TENANT });

    const admin = server([() => tokenResponse(ADMIN)], () => json({}));
    const tenantSession = new Session({ baseUrl: BASE, fetch: admin.fetch });
    await tenantSession.login("anna", "pw");
    tenantSession.setTenant("some-other-tenant"); // ignored: the token names the tenant
    await tenantSession.fetch(new Request(`${BASE}/v1/sites`));
    expect(admin.calls[0]?.tenant).toBeNull();
    expect(tenantSession.getState().tenantId).toBe(TENANT);
  });

  it("renews the token silently shortly before it expires", async () => {
    let now = 1_000_000;
    const fake = server([() => tokenResponse(ADMIN, 900), () => tokenResponse({ ...ADMIN, jti: "second" }, 900)], () => json({}));
    const session = new Session({ baseUrl: BASE, fetch: fake.fetch, now: () => now, renewBeforeMs: 60_000 });
    await session.login("anna", "pw");
    await session.fetch(new Request(`${BASE}/v1/sites`));
    expect(fake.logins).toHaveLength(1);
    now += 850_000; // 50 s left: inside the renewal margin
    await session.fetch(new Request(`${BASE}/v1/sites`));
    expect(fake.logins).toHaveLength(2);
    expect(fake.calls[1]?.auth).not.toBe(fake.calls[0]?.auth);
  });

  it("signs in again once after a 401 and replays the request, body included", async () => {
    let first = true;
    const fake = server([() => tokenResponse(ADMIN), () => tokenResponse({ ...ADMIN, jti: "fresh" })], () => {
      if (first) {
        first = false;
        return problem(401, "Unauthorized", "token expired");
      }
      return json({ id: "new" }, 201);
    });
    const session = new Session({ baseUrl: BASE, fetch: fake.fetch });
    await session.login("anna", "pw");
    const response = await session.fetch(
      new Request(`${BASE}/v1/sites`, { method: "POST", body: JSON.stringify({ name: "Flagship" }), headers: { "Content-Type": "application/json" } }),
    );
    expect(response.status).toBe(201);
    expect(fake.logins).toHaveLength(2);
    expect(fake.calls.map((c) => c.body)).toEqual(['{"name":"Flagship"}', '{"name":"Flagship"}']);
    expect(fake.calls[0]?.auth).not.toBe(fake.calls[1]?.auth);
  });

  it("shares one renewal between concurrent requests", async () => {
    const stale = new Set<string>();
    const fake = server([() => tokenResponse(ADMIN), () => tokenResponse({ ...ADMIN, jti: "fresh" })], (request) => {
      const auth = request.headers.get("Authorization") ?? "";
      if (stale.size === 0) stale.add(auth);
      return stale.has(auth) ? problem(401, "Unauthorized", "expired") : json({});
    });
    const session = new Session({ baseUrl: BASE, fetch: fake.fetch });
    await session.login("anna", "pw");
    const answers = await Promise.all([1, 2, 3].map(() => session.fetch(new Request(`${BASE}/v1/visits`))));
    expect(answers.map((r) => r.status)).toEqual([200, 200, 200]);
    expect(fake.logins).toHaveLength(2);
  });

  it("ends the session as expired when the held credentials stop working", async () => {
    const fake = server([() => tokenResponse(ADMIN), () => problem(401, "Unauthorized", "user disabled")], () =>
      problem(401, "Unauthorized", "token expired"),
    );
    const session = new Session({ baseUrl: BASE, fetch: fake.fetch });
    await session.login("anna", "pw");
    const response = await session.fetch(new Request(`${BASE}/v1/sites`));
    expect(response.status).toBe(401);
    expect(session.getState().status).toBe("expired");
    await expect(session.fetch(new Request(`${BASE}/v1/sites`))).rejects.toMatchObject({ status: 401 });
  });

  it("logout forgets token, credentials and tenant", async () => {
    const fake = server([() => tokenResponse(ROOT)], () => json({}));
    const session = new Session({ baseUrl: BASE, fetch: fake.fetch });
    await session.login("root", "pw");
    session.setTenant(TENANT);
    session.logout();
    expect(session.getState()).toEqual({ status: "anonymous", username: null, claims: null, tenantId: null });
    await expect(session.accessToken()).rejects.toMatchObject({ status: 401 });
  });
});
