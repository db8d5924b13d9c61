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
  it("signs in through the session route and keeps the token in memory only", async () => {
    const fake = server([() => tokenResponse(ADMIN)], () => json({ items: [] }));
    const session = new Session({ baseUrl: BASE, fetch: fake.fetch, hasSessionHint: () => false, storage: null });
    expect(session.getState().status).toBe("anonymous");
    const seen: string[] = [];
    session.subscribe(() => seen.push(session.getState().status));
    await session.login("anna", "secret-password");
    expect(fake.logins).toEqual([{ username: "anna", password: "secret-password" }]);
    expect(session.getState()).toMatchObject({ status: "authenticated", username: "anna", tenantId: TENANT });
    expect(session.getState().claims?.role).toBe("tenant_admin");
    expect(seen).toEqual(["authenticated"]);
    // nothing is persisted by the page (the refresh cookie is the server's, httpOnly)
    expect(globalThis.localStorage?.length ?? 0).toBe(0);
  });

  it("reports wrong credentials as the API's 401 problem", async () => {
    const fake = server([() => problem(401, "Unauthorized", "invalid username or password")], () => json({}));
    const session = new Session({ baseUrl: BASE, fetch: fake.fetch, hasSessionHint: () => false });
    const error = await session.login("anna", "wrong").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect(error).toMatchObject({ status: 401, detail: "invalid username or password" });
    expect(session.getState().status).toBe("anonymous");
  });

  it("refuses worker tokens: API keys are for edge workers, not people", async () => {
    const fake = server([() => tokenResponse({ sub: "apikey:1", role: "worker", tenant_id: TENANT, site_ids: [SITE] })], () => json({}));
    const session = new Session({ baseUrl: BASE, fetch: fake.fetch, hasSessionHint: () => false });
    await expect(session.login("key", "x")).rejects.toMatchObject({ status: 403 });
  });

  it("sends the bearer token, and X-Tenant-ID only for a system_admin acting in a tenant", async () => {
    const fake = server([() => tokenResponse(ROOT)], () => json({ ok: true }));
    const session = new Session({ baseUrl: BASE, fetch: fake.fetch, hasSessionHint: () => false, storage: null });
    await session.login("root", "pw");
    expect(session.getState().tenantId).toBeNull();
    await session.fetch(new Request(`${BASE}/v1/tenants`));
    session.setTenant(TENANT);
    await session.fetch(new Request(`${BASE}/v1/sites`));
    expect(fake.calls[0]).toMatchObject({ tenant: null });
    expect(fake.calls[0]?.auth).toMatch(/^Bearer ey/);
    expect(fake.calls[1]).toMatchObject({ tenant: TENANT });

    const admin = server([() => tokenResponse(ADMIN)], () => json({}));
    const tenantSession = new Session({ baseUrl: BASE, fetch: admin.fetch, hasSessionHint: () => false, storage: null });
    await tenantSession.login("anna", "pw");
    tenantSession.setTenant("some-other-tenant"); // ignored: the token names the tenant
    await tenantSession.fetch(new Request(`${BASE}/v1/sites`));
    expect(admin.calls[0]?.tenant).toBeNull();
    expect(tenantSession.getState().tenantId).toBe(TENANT);
  });

  it("renews the token from the refresh cookie shortly before it expires, never with the password", async () => {
    let now = 1_000_000;
    const fake = server([() => tokenResponse(ADMIN, 900), () => tokenResponse({ ...ADMIN, jti: "second" }, 900)], () => json({}));
    const session = new Session({ baseUrl: BASE, fetch: fake.fetch, now: () => now, renewBeforeMs: 60_000, hasSessionHint: () => false });
    await session.login("anna", "pw");
    await session.fetch(new Request(`${BASE}/v1/sites`));
    expect(fake.refreshes).toHaveLength(0);
    now += 850_000; // 50 s left: inside the renewal margin
    await session.fetch(new Request(`${BASE}/v1/sites`));
    expect(fake.logins).toHaveLength(1);
    // POST with the CSRF header, the cookie sent by the browser (same origin), no body
    expect(fake.refreshes).toEqual([{ header: "1", credentials: "same-origin", body: "" }]);
    expect(fake.calls[1]?.auth).not.toBe(fake.calls[0]?.auth);
    expect(session.getState().username).toBe("anna");
  });

  it("refreshes once after a 401 and replays the request, body included", async () => {
    let first = true;
    const fake = server([() => tokenResponse(ADMIN), () => tokenResponse({ ...ADMIN, jti: "fresh" })], () => {
      if (first) {
        first = false;
        return problem(401, "Unauthorized", "token expired");
      }
      return json({ id: "new" }, 201);
    });
    const session = new Session({ baseUrl: BASE, fetch: fake.fetch, hasSessionHint: () => false });
    await session.login("anna", "pw");
    const response = await session.fetch(
      new Request(`${BASE}/v1/sites`, { method: "POST", body: JSON.stringify({ name: "Flagship" }), headers: { "Content-Type": "application/json" } }),
    );
    expect(response.status).toBe(201);
    expect(fake.refreshes).toHaveLength(1);
    expect(fake.calls.map((c) => c.body)).toEqual(['{"name":"Flagship"}', '{"name":"Flagship"}']);
    expect(fake.calls[0]?.auth).not.toBe(fake.calls[1]?.auth);
  });

  it("shares one refresh between concurrent requests (the cookie is rotated once)", async () => {
    const stale = new Set<string>();
    const fake = server([() => tokenResponse(ADMIN), () => tokenResponse({ ...ADMIN, jti: "fresh" })], (request) => {
      const auth = request.headers.get("Authorization") ?? "";
      if (stale.size === 0) stale.add(auth);
      return stale.has(auth) ? problem(401, "Unauthorized", "expired") : json({});
    });
    const session = new Session({ baseUrl: BASE, fetch: fake.fetch, hasSessionHint: () => false });
    await session.login("anna", "pw");
    const answers = await Promise.all([1, 2, 3].map(() => session.fetch(new Request(`${BASE}/v1/visits`))));
    expect(answers.map((r) => r.status)).toEqual([200, 200, 200]);
    expect(fake.refreshes).toHaveLength(1);
  });

  it("ends the session as expired when the refresh is refused (signed out elsewhere, user changed)", async () => {
    const fake = server([() => tokenResponse(ADMIN), () => problem(401, "Unauthorized", "this session has ended")], () =>
      problem(401, "Unauthorized", "token revoked"),
    );
    const session = new Session({ baseUrl: BASE, fetch: fake.fetch, hasSessionHint: () => false });
    await session.login("anna", "pw");
    const response = await session.fetch(new Request(`${BASE}/v1/sites`));
    expect(response.status).toBe(401);
    expect(session.getState().status).toBe("expired");
    await expect(session.fetch(new Request(`${BASE}/v1/sites`))).rejects.toMatchObject({ status: 401 });
    // the server cleared the cookies with its 401: no sign-out request follows
    expect(fake.logouts).toEqual([]);
  });

  it("after a reload, restores the session from the refresh cookie", async () => {
    const fake = server([() => tokenResponse({ ...ADMIN, name: "anna" })], () => json({}));
    const session = reloaded(fake.fetch);
    expect(session.getState().status).toBe("restoring");
    await session.restore();
    expect(session.getState()).toMatchObject({ status: "authenticated", username: "anna", tenantId: TENANT });
    expect(fake.refreshes).toHaveLength(1);
    await session.fetch(new Request(`${BASE}/v1/sites`));
    expect(fake.calls[0]?.auth).toMatch(/^Bearer ey/);
  });

  it("after a reload, a system_admin is back in the tenant it had chosen in this tab", async () => {
    const storage = new Map<string, string>();
    const first = server([() => tokenResponse({ ...ROOT, name: "root" })], () => json({}));
    const before = new Session({ baseUrl: BASE, fetch: first.fetch, hasSessionHint: () => false, storage: {
      getItem: (key) => storage.get(key) ?? null,
      setItem: (key, value) => void storage.set(key, value),
      removeItem: (key) => void storage.delete(key),
    } });
    await before.login("root", "pw");
    before.setTenant(TENANT);
    const fake = server([() => tokenResponse({ ...ROOT, name: "root" })], () => json({}));
    const after = reloaded(fake.fetch, storage);
    await after.restore();
    expect(after.getState()).toMatchObject({ status: "authenticated", username: "root", tenantId: TENANT });
  });

  it("without the hint cookie a visitor is anonymous at once, with no request (no 401 in the console)", async () => {
    const fake = server([], () => json({}));
    const session = reloaded(fake.fetch, null, false);
    expect(session.getState().status).toBe("anonymous");
    await session.restore();
    expect(session.getState().status).toBe("anonymous");
    expect(fake.fetch).not.toHaveBeenCalled();
  });

  it("a session ended meanwhile restores as expired; an unreachable server leaves the visitor signed out", async () => {
    const ended = server([() => problem(401, "Unauthorized", "this session has ended: sign in again")], () => json({}));
    const session = reloaded(ended.fetch);
    await session.restore();
    expect(session.getState().status).toBe("expired");

    const down = reloaded(vi.fn(async () => {
      throw new TypeError("Failed to fetch");
    }) as unknown as typeof globalThis.fetch);
    await expect(down.restore()).rejects.toThrow("Failed to fetch");
    expect(down.getState().status).toBe("anonymous");
  });

  it("sign-out ends the session on the server and forgets token and tenant", async () => {
    const fake = server([() => tokenResponse(ROOT)], () => json({}));
    const storage = new Map<string, string>();
    const session = reloaded(fake.fetch, storage, false);
    await session.login("root", "pw");
    session.setTenant(TENANT);
    expect(storage.size).toBe(1);
    session.logout();
    expect(session.getState()).toEqual({ status: "anonymous", username: null, claims: null, tenantId: null });
    expect(storage.size).toBe(0);
    await expect(session.accessToken()).rejects.toMatchObject({ status: 401 });
    await vi.waitFor(() => expect(fake.logouts).toEqual([{ header: "1" }]));
  });

  it("a refresh still under way when the user signs out does not sign them back in", async () => {
    let answer: (response: Response) => void = () => undefined;
    const fake = server([() => tokenResponse(ADMIN), () => new Promise<Response>((resolve) => (answer = resolve)) as unknown as Response], () => json({}));
    const session = new Session({ baseUrl: BASE, fetch: fake.fetch, hasSessionHint: () => false });
    await session.login("anna", "pw");
    const pending = session.refresh();
    await vi.waitFor(() => expect(fake.refreshes).toHaveLength(1));
    session.logout();
    answer(tokenResponse({ ...ADMIN, jti: "late" }));
    await pending;
    expect(session.getState().status).toBe("anonymous");
  });
});
