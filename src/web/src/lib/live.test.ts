import { afterEach, describe, expect, it, vi } from "vitest";

import { Session } from "../api/session";
import { fakeToken, json, SITE, TENANT } from "../test/jwt";
import { backoffDelay, connectLive, parseSighting, SseParser, type EventSourceLike, type LiveStatus } from "./live";

const BASE = "http://appliance.test";
const SIGHTING = {
  type: "sighting",
  tenant_id: TENANT,
  site_id: SITE,
  camera_id: "cam-1",
  event_id: "ev-1",
  customer_id: "cust-1",
  visit_id: "visit-1",
  is_new_customer: true,
  captured_at: "2026-11-25T10:00:00+00:00",
  snapshot_key: "tenant/site/2026/11/25/ev-1.jpg",
};

describe("SseParser", () => {
  it("parses events split across chunks, with CRLF, comments and multi-line data", () => {
    const parser = new SseParser();
    expect(parser.feed(": keepalive\n\nevent: ready\ndata: {\"type\":")).toEqual([]);
    expect(parser.feed("\"ready\"}\n\nevent: sighting\r\nid: 7\r\ndata: line one\r\ndata: line two\r")).toEqual([
      { event: "ready", data: '{"type":"ready"}', id: null },
    ]);
    expect(parser.feed("\n\r\n")).toEqual([{ event: "sighting", data: "line one\nline two", id: "7" }]);
    expect(parser.feed("data:no-space\n\n")).toEqual([{ event: "message", data: "no-space", id: "7" }]);
  });
});

describe("parseSighting", () => {
  it("accepts the stream's sighting payload and rejects anything else", () => {
    expect(parseSighting(JSON.stringify(SIGHTING))).toMatchObject({ visit_id: "visit-1", is_new_customer: true, snapshot_key: SIGHTING.snapshot_key });
    expect(parseSighting(JSON.stringify({ ...SIGHTING, snapshot_key: null, camera_id: null }))).toMatchObject({ snapshot_key: null, camera_id: null });
    expect(parseSighting("{}")).toBeNull();
    expect(parseSighting("not json")).toBeNull();
  });
});

describe("backoffDelay", () => {
  it("doubles from 1 s up to 30 s, with ±20 % jitter", () => {
    const mid = () => 0.5;
    expect([1, 2, 3, 4, 5, 6, 7].map((n) => backoffDelay(n, undefined, mid))).toEqual([1000, 2000, 4000, 8000, 16000, 30000, 30000]);
    expect(backoffDelay(1, undefined, () => 0)).toBe(800);
    expect(backoffDelay(1, undefined, () => 1)).toBe(1200);
  });
});

class FakeEventSource implements EventSourceLike {
  static all: FakeEventSource[] = [];
  listeners = new Map<string, (event: MessageEvent<string>) => void>();
  onerror: ((event: Event) => void) | null = null;
  closed = false;
  constructor(readonly url: string) {
    FakeEventSource.all.push(this);
  }
  addEventListener(type: string, listener: (event: MessageEvent<string>) => void) {
    this.listeners.set(type, listener);
  }
  emit(type: string, data: unknown) {
    this.listeners.get(type)?.({ data: JSON.stringify(data) } as MessageEvent<string>);
  }
  close() {
    this.closed = true;
  }
}

async function signedIn(role = "tenant_admin") {
  let n = 0;
  const fetch = vi.fn(async () => {
    n += 1;
    return json({ access_token: fakeToken({ sub: "user:1", role, tenant_id: role === "system_admin" ? null : TENANT, site_ids: [], jti: `t${n}` }), expires_in: 900 });
  }) as unknown as typeof globalThis.fetch;
  const session = new Session({ baseUrl: BASE, fetch });
  await session.login("anna", "pw");
  return session;
}

/** A signed-in session whose refresh cookie works until `refuse()` (then 401, as after a sign-out). */
async function refreshable() {
  let n = 0;
  let refused = false;
  let refreshes = 0;
  const fetch = vi.fn(async (input: RequestInfo | URL) => {
    if (String(input).endsWith("/v1/auth/session/refresh")) {
      refreshes += 1;
      if (refused) return new Response(JSON.stringify({ title: "Unauthorized", status: 401, detail: "ended" }), { status: 401, headers: { "Content-Type": "application/problem+json" } });
    }
    n += 1;
    return json({ access_token: fakeToken({ sub: "user:1", role: "tenant_admin", tenant_id: TENANT, site_ids: [], jti: `t${n}` }), expires_in: 900 });
  }) as unknown as typeof globalThis.fetch;
  const session = new Session({ baseUrl: BASE, fetch, hasSessionHint: () => false });
  await session.login("anna", "pw");
  return { session, refreshes: () => refreshes, refuse: () => (refused = true) };
}

const flush = () => new Promise((resolve) => setTimeout(resolve, 0));

/** connectLive over FakeEventSource, recording what it reports and the timers it sets. */
function watchLive(session: Session, backoff?: Parameters<typeof connectLive>[0]["backoff"]) {
  const statuses: LiveStatus[] = [];
  const sightings: string[] = [];
  const timers: { fn: () => void; ms: number }[] = [];
  const stop = connectLive({
    session,
    onStatus: (s) => statuses.push(s),
    onSighting: (e) => sightings.push(e.visit_id),
    createEventSource: (url) => new FakeEventSource(url),
    setTimeout: (fn, ms) => timers.push({ fn, ms }),
    clearTimeout: () => undefined,
    ...(backoff ? { backoff } : {}),
  });
  return { statuses, sightings, timers, stop };
}

describe("connectLive", () => {
  afterEach(() => {
    FakeEventSource.all = [];
  });

  it("opens EventSource with ?access_token=, delivers sightings and reconnects with backoff", async () => {
    const { statuses, sightings, timers, stop } = watchLive(await signedIn(), { initialMs: 1000, maxMs: 8000, jitter: 0 });
    await flush();
    const first = FakeEventSource.all[0]!;
    expect(first.url).toMatch(new RegExp(`^${BASE}/v1/events/stream\\?access_token=ey`));
    first.emit("ready", { type: "ready" });
    first.emit("sighting", SIGHTING);
    expect(sightings).toEqual(["visit-1"]);
    expect(statuses.map((s) => s.state)).toEqual(["connecting", "open"]);

    // the connection drops twice: 1 s, then 2 s
    first.onerror?.(new Event("error"));
    expect(first.closed).toBe(true);
    expect(timers.map((t) => t.ms)).toEqual([1000]);
    timers[0]!.fn();
    await flush();
    FakeEventSource.all[1]!.onerror?.(new Event("error"));
    expect(timers.map((t) => t.ms)).toEqual([1000, 2000]);
    timers[1]!.fn();
    await flush();
    // once the stream is ready again the backoff starts over
    const third = FakeEventSource.all[2]!;
    third.emit("ready", { type: "ready" });
    third.onerror?.(new Event("error"));
    expect(timers.map((t) => t.ms)).toEqual([1000, 2000, 1000]);
    expect(statuses.filter((s) => s.state === "waiting")).toHaveLength(3);

    stop();
    expect(FakeEventSource.all.every((s) => s.closed)).toBe(true);
  });

  it("reads the stream with fetch and headers for a system_admin (X-Tenant-ID)", async () => {
    const session = await signedIn("system_admin");
    session.setTenant(TENANT);
    const encoder = new TextEncoder();
    let sent: Request | undefined;
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(encoder.encode("event: ready\ndata: {\"type\":\"ready\"}\n\n: keepalive\n\n"));
        controller.enqueue(encoder.encode(`event: sighting\ndata: ${JSON.stringify(SIGHTING)}\n\n`));
        controller.close();
      },
    });
    const fetch = vi.fn(async (input: RequestInfo | URL, init?: RequestInit) => {
      sent = new Request(String(input), init);
      return new Response(body, { headers: { "Content-Type": "text/event-stream" } });
    }) as unknown as typeof globalThis.fetch;
    const sightings: string[] = [];
    const statuses: string[] = [];
    const timers: number[] = [];
    const stop = connectLive({
      session,
      useFetch: true,
      fetch,
      onStatus: (s) => statuses.push(s.state),
      onSighting: (e) => sightings.push(e.visit_id),
      setTimeout: (_fn, ms) => timers.push(ms),
      clearTimeout: () => undefined,
      backoff: { initialMs: 500, maxMs: 500, jitter: 0 },
    });
    await vi.waitFor(() => expect(statuses).toContain("waiting"));
    expect(sent?.headers.get("X-Tenant-ID")).toBe(TENANT);
    expect(sent?.headers.get("Authorization")).toMatch(/^Bearer /);
    expect(sightings).toEqual(["visit-1"]);
    expect(statuses.slice(0, 2)).toEqual(["connecting", "open"]);
    expect(timers).toEqual([500]); // the server closed the stream: reconnect
    stop();
  });

  it("retries when the stream is refused", async () => {
    const session = await signedIn("system_admin");
    session.setTenant(TENANT);
    const fetch = vi.fn(async () => new Response("nope", { status: 503 })) as unknown as typeof globalThis.fetch;
    const statuses: LiveStatus[] = [];
    const stop = connectLive({
      session,
      useFetch: true,
      fetch,
      onStatus: (s) => statuses.push(s),
      onSighting: () => undefined,
      setTimeout: () => 0,
      clearTimeout: () => undefined,
    });
    await vi.waitFor(() => expect(statuses.some((s) => s.state === "waiting")).toBe(true));
    expect(statuses.find((s) => s.state === "waiting")).toMatchObject({ reason: "live updates are unavailable", unavailable: true, attempt: 1 });
    stop();
  });

  it("on `revoked` refreshes the session and reopens at once with the new token", async () => {
    const { session, refreshes } = await refreshable();
    const { statuses, timers, stop } = watchLive(session);
    await flush();
    const first = FakeEventSource.all[0]!;
    first.emit("ready", { type: "ready" });
    first.emit("revoked", { type: "revoked", reason: "token expired" });
    expect(first.closed).toBe(true);
    await vi.waitFor(() => expect(FakeEventSource.all).toHaveLength(2));
    expect(refreshes()).toBe(1);
    const token = (url: string) => new URL(url).searchParams.get("access_token");
    expect(token(FakeEventSource.all[1]!.url)).not.toBe(token(first.url));
    expect(timers).toEqual([]); // no backoff: straight back
    FakeEventSource.all[1]!.emit("ready", { type: "ready" });
    expect(statuses.at(-1)).toEqual({ state: "open" });
    stop();
  });

  it("on `revoked` with a refresh that is refused, stops for good (no retry with a dead token)", async () => {
    const { session, refreshes, refuse } = await refreshable();
    refuse();
    const { statuses, timers } = watchLive(session);
    await flush();
    FakeEventSource.all[0]!.emit("revoked", { type: "revoked", reason: "access revoked" });
    await vi.waitFor(() => expect(statuses.at(-1)).toEqual({ state: "ended", reason: "your session has ended" }));
    expect(refreshes()).toBe(1);
    expect(FakeEventSource.all).toHaveLength(1);
    expect(timers).toEqual([]);
    expect(session.getState().status).toBe("expired");
  });

  it("on `unavailable` backs off and says so; a refused connect renews the token before the next try", async () => {
    const { session, refreshes } = await refreshable();
    const { statuses, timers, stop } = watchLive(session, { initialMs: 1000, maxMs: 8000, jitter: 0 });
    await flush();
    const first = FakeEventSource.all[0]!;
    first.emit("ready", { type: "ready" });
    first.emit("unavailable", { type: "unavailable", reason: "try again shortly" });
    expect(first.closed).toBe(true);
    expect(statuses.at(-1)).toMatchObject({ state: "waiting", unavailable: true, retryInMs: 1000 });
    expect(refreshes()).toBe(0); // the token is fine: the database was away
    timers[0]!.fn();
    await flush();
    // refused before it opened (EventSource cannot say whether it was a 401): renew first
    FakeEventSource.all[1]!.onerror?.(new Event("error"));
    expect(timers.map((t) => t.ms)).toEqual([1000, 2000]);
    timers[1]!.fn();
    await vi.waitFor(() => expect(FakeEventSource.all).toHaveLength(3));
    expect(refreshes()).toBe(1);
    stop();
  });
});
