/**
 * The live sightings stream (GET /v1/events/stream, Server-Sent Events) with reconnection.
 *
 * Tenant users connect with EventSource and `?access_token=` (EventSource cannot send headers).
 * A system_admin must also name the tenant in the X-Tenant-ID header, which EventSource cannot
 * do, so for it the same stream is read with fetch and parsed here. Either way a dropped or
 * refused connection is retried with exponential backoff (with jitter).
 *
 * The server ends a stream with a last event: `revoked` (the token expired, or the user was
 * signed out, disabled or changed) — the session is refreshed from its cookie and the stream
 * reopened at once with the new token, or, when the refresh is refused, the stream stops for good
 * (the session ends and the app shows the sign-in page); `unavailable` (the server could not check
 * the caller: the database is away) — retried with backoff, shown as such. A connection refused
 * before it opened may be a dead token too (EventSource cannot tell a 401): the next attempt
 * refreshes the session first, so no retry ever reuses a dead token.
 */
import { ApiError } from "../api/problem";
import type { Session } from "../api/session";
import type { SightingEvent } from "../api/types";

export const STREAM_PATH = "/v1/events/stream";

export type LiveStatus =
  | { state: "connecting"; attempt: number }
  | { state: "open" }
  | { state: "waiting"; attempt: number; retryInMs: number; reason: string; unavailable?: boolean }
  /** The session could not be renewed: no more attempts. */
  | { state: "ended"; reason: string };

export interface BackoffPolicy {
  initialMs: number;
  maxMs: number;
  jitter: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = { initialMs: 1000, maxMs: 30_000, jitter: 0.2 };

/** Delay before retry number `attempt` (1-based): initial·2^(attempt-1), capped, ± jitter. */
export function backoffDelay(attempt: number, policy: BackoffPolicy = DEFAULT_BACKOFF, random = Math.random): number {
  const base = Math.min(policy.maxMs, policy.initialMs * 2 ** Math.max(0, attempt - 1));
  const spread = base * policy.jitter;
  return Math.round(base - spread + random() * 2 * spread);
}

export interface SseMessage {
  event: string;
  data: string;
  id: string | null;
}

/** Incremental text/event-stream parser (the WHATWG rules EventSource follows). */
export class SseParser {
  #buffer = "";
  #event = "";
  #data: string[] = [];
  #id: string | null = null;

  feed(chunk: string): SseMessage[] {
    this.#buffer += chunk;
    const out: SseMessage[] = [];
    let newline: number;
    while ((newline = this.#buffer.search(/\r\n|\r|\n/)) >= 0) {
      const line = this.#buffer.slice(0, newline);
      const width = this.#buffer.startsWith("\r\n", newline) ? 2 : 1;
      // A lone "\r" at the very end may be the first half of "\r\n": wait for more.
      if (width === 1 && this.#buffer[newline] === "\r" && newline === this.#buffer.length - 1) break;
      this.#buffer = this.#buffer.slice(newline + width);
      if (line === "") {
        if (this.#data.length) {
          out.push({ event: this.#event || "message", data: this.#data.join("\n"), id: this.#id });
        }
        this.#event = "";
        this.#data = [];
        continue;
      }
      if (line.startsWith(":")) continue; // comment (keepalive)
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? "" : line.slice(colon + 1);
      if (value.startsWith(" ")) value = value.slice(1);
      if (field === "event") this.#event = value;
      else if (field === "data") this.#data.push(value);
      else if (field === "id") this.#id = value;
    }
    return out;
  }
}

export function parseSighting(data: string): SightingEvent | null {
  try {
    const value = JSON.parse(data) as Partial<SightingEvent>;
    if (typeof value.visit_id !== "string" || typeof value.customer_id !== "string") return null;
    if (typeof value.site_id !== "string" || typeof value.captured_at !== "string") return null;
    return {
      visit_id: value.visit_id,
      customer_id: value.customer_id,
      site_id: value.site_id,
      camera_id: typeof value.camera_id === "string" ? value.camera_id : null,
      is_new_customer: value.is_new_customer === true,
      captured_at: value.captured_at,
      snapshot_key: typeof value.snapshot_key === "string" ? value.snapshot_key : null,
      event_id: typeof value.event_id === "string" ? value.event_id : undefined,
    };
  } catch {
    return null;
  }
}

export interface EventSourceLike {
  addEventListener(type: string, listener: (event: MessageEvent<string>) => void): void;
  onerror: ((event: Event) => void) | null;
  close(): void;
}

export interface LiveOptions {
  session: Pick<Session, "baseUrl" | "accessToken" | "authHeaders" | "refresh">;
  onSighting: (event: SightingEvent) => void;
  onStatus: (status: LiveStatus) => void;
  /** Read with fetch (headers) instead of EventSource; needed for a system_admin's tenant. */
  useFetch?: boolean;
  backoff?: BackoffPolicy;
  createEventSource?: (url: string) => EventSourceLike;
  fetch?: typeof fetch;
  setTimeout?: (fn: () => void, ms: number) => unknown;
  clearTimeout?: (handle: unknown) => void;
}

/** A revoked stream within this long of the last renewal is retried with backoff, not at once. */
const REVOKED_AGAIN_MS = 10_000;

/** Connects and keeps reconnecting until the returned function is called (or the session ends). */
export function connectLive(options: LiveOptions): () => void {
  const policy = options.backoff ?? DEFAULT_BACKOFF;
  const schedule = options.setTimeout ?? ((fn, ms) => globalThis.setTimeout(fn, ms));
  const cancel = options.clearTimeout ?? ((handle) => globalThis.clearTimeout(handle as number));
  const makeSource = options.createEventSource ?? ((url: string) => new EventSource(url) as EventSourceLike);
  const doFetch = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
  let stopped = false;
  let attempt = 0;
  let timer: unknown = null;
  let closeCurrent: (() => void) | null = null;
  /** The next attempt renews the session first (the last one may have failed on a dead token). */
  let renewFirst = false;
  let opened = false;
  let renewedAt = -Infinity;

  const close = () => {
    closeCurrent?.();
    closeCurrent = null;
  };

  const retry = (reason: string, unavailable = false) => {
    close();
    if (stopped) return;
    attempt += 1;
    const retryInMs = backoffDelay(attempt, policy);
    options.onStatus({ state: "waiting", attempt, retryInMs, reason, ...(unavailable ? { unavailable } : {}) });
    timer = schedule(() => void open(), retryInMs);
  };

  const end = (reason: string) => {
    close();
    stopped = true;
    if (timer !== null) cancel(timer);
    timer = null;
    options.onStatus({ state: "ended", reason });
  };

  const revoked = () => {
    close();
    if (stopped) return;
    renewFirst = true;
    // Revoked right after a renewal: something is off (a clock, the server); do not spin.
    if (Date.now() - renewedAt < REVOKED_AGAIN_MS) retry("access was revoked");
    else void open();
  };

  const deliver = (kind: string, data: string) => {
    if (kind === "ready") {
      attempt = 0;
      opened = true;
      options.onStatus({ state: "open" });
    } else if (kind === "sighting") {
      const sighting = parseSighting(data);
      if (sighting) options.onSighting(sighting);
    } else if (kind === "revoked") {
      revoked();
    } else if (kind === "unavailable") {
      retry("live updates are unavailable", true);
    }
  };

  const openEventSource = async () => {
    const token = await options.session.accessToken();
    if (stopped) return;
    const url = `${options.session.baseUrl}${STREAM_PATH}?access_token=${encodeURIComponent(token)}`;
    const source = makeSource(url);
    closeCurrent = () => source.close();
    for (const kind of ["ready", "sighting", "revoked", "unavailable"]) {
      source.addEventListener(kind, (event) => deliver(kind, event.data));
    }
    // EventSource would retry by itself with the old URL (and token); take over instead.
    source.onerror = () => {
      if (!opened) renewFirst = true; // refused before it opened: perhaps a 401
      retry("connection lost");
    };
  };

  const openFetch = async () => {
    const controller = new AbortController();
    closeCurrent = () => controller.abort();
    const headers = { ...(await options.session.authHeaders()), Accept: "text/event-stream" };
    const response = await doFetch(`${options.session.baseUrl}${STREAM_PATH}`, { headers, signal: controller.signal });
    if (response.status === 401) {
      revoked();
      return;
    }
    if (response.status === 503) {
      retry("live updates are unavailable", true);
      return;
    }
    if (!response.ok || !response.body) throw new Error(`the stream answered HTTP ${response.status}`);
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    const parser = new SseParser();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      for (const message of parser.feed(value)) {
        deliver(message.event, message.data);
        if (stopped || closeCurrent === null) return; // ended by its last event
      }
    }
    if (!stopped) retry("the server closed the stream");
  };

  const open = async () => {
    timer = null;
    if (stopped) return;
    opened = false;
    options.onStatus({ state: "connecting", attempt });
    try {
      if (renewFirst) {
        renewFirst = false;
        renewedAt = Date.now();
        await options.session.refresh();
        if (stopped) return;
      }
      await (options.useFetch ? openFetch() : openEventSource());
    } catch (error) {
      if (stopped) return;
      if (error instanceof ApiError && (error.status === 401 || error.status === 403)) {
        end("your session has ended");
        return;
      }
      retry(error instanceof Error ? error.message : "connection failed");
    }
  };

  void open();
  return () => {
    stopped = true;
    if (timer !== null) cancel(timer);
    close();
  };
}
