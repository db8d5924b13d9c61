/**
 * The signed-in session. The access token lives in memory only (never localStorage or a cookie the
 * page can read); what survives a reload or a bookmark is the server's refresh cookie — httpOnly,
 * SameSite=Strict, sent only to /v1/auth/session — which `restore` and renewals exchange for a new
 * access token (the cookie is rotated each time). A readable hint cookie (no secret) says whether a
 * session may exist, so a signed-out visitor's first page asks nothing (and logs no 401).
 *
 * `session.fetch` is the one door to the API: it adds the bearer token (and X-Tenant-ID for a
 * system_admin acting in a tenant), renews the token shortly before it expires, and when the API
 * still answers 401 it refreshes once and retries. When the refresh is refused too (signed out
 * elsewhere, password or role changed, user disabled) the session ends as "expired".
 */
import { ApiError, problemFromResponse } from "./problem";

export type Role = "system_admin" | "tenant_admin" | "site_manager" | "worker";

export interface Claims {
  sub: string;
  role: Role;
  tenant_id: string | null;
  site_ids: string[];
  exp: number;
  /** The username (users' tokens carry it). */
  name: string | null;
}

export interface SessionState {
  /** "restoring": a refresh cookie may exist and is being exchanged (at start, after a reload). */
  status: "restoring" | "anonymous" | "authenticated" | "expired";
  username: string | null;
  claims: Claims | null;
  /** The tenant the caller acts in: its own, or the one a system_admin picked (else null). */
  tenantId: string | null;
}

export interface SessionOptions {
  /** Origin of the API, e.g. `window.location.origin`. */
  baseUrl: string;
  fetch?: typeof fetch;
  now?: () => number;
  /** Renew the token this many ms before it expires. */
  renewBeforeMs?: number;
  /** Whether the server's hint cookie says a session may exist (default: reads document.cookie). */
  hasSessionHint?: () => boolean;
  /** Where a system_admin's chosen tenant is kept for a reload of this tab (default: sessionStorage). */
  storage?: Pick<Storage, "getItem" | "setItem" | "removeItem"> | null;
}

export const TOKEN_PATH = "/v1/auth/token";
export const SESSION_PATH = "/v1/auth/session";
export const REFRESH_PATH = "/v1/auth/session/refresh";
/** The session routes refuse requests without it: a cross-site form cannot send one (ADR 0003). */
export const SESSION_HEADER = "X-Appliance-Session";
export const HINT_COOKIE = "appliance_signed_in";
export const TENANT_HEADER = "X-Tenant-ID";
const TENANT_KEY = "appliance.tenant";

function base64UrlDecode(segment: string): string {
  const base64 = segment.replace(/-/g, "+").replace(/_/g, "/");
  const padded = base64 + "=".repeat((4 - (base64.length % 4)) % 4);
  const binary = atob(padded);
  const bytes = Uint8Array.from(binary, (c) => c.charCodeAt(0));
  return new TextDecoder().decode(bytes);
}

/** The claims of a JWT, read without verification (the server verifies; the UI only adapts). */
export function decodeClaims(token: string): Claims {
  const payload = token.split(".")[1];
  if (!payload) throw new Error("malformed access token");
  const raw = JSON.parse(base64UrlDecode(payload)) as Record<string, unknown>;
  const role = raw.role;
  if (role !== "system_admin" && role !== "tenant_admin" && role !== "site_manager" && role !== "worker") {
    throw new Error(`unknown role in access token: ${String(role)}`);
  }
  return {
    sub: String(raw.sub ?? ""),
    role,
    tenant_id: typeof raw.tenant_id === "string" ? raw.tenant_id : null,
    site_ids: Array.isArray(raw.site_ids) ? raw.site_ids.map(String) : [],
    exp: typeof raw.exp === "number" ? raw.exp : 0,
    name: typeof raw.name === "string" && raw.name ? raw.name : null,
  };
}

function documentHint(): boolean {
  if (typeof document === "undefined") return false;
  return document.cookie.split(";").some((part) => part.trim().startsWith(`${HINT_COOKIE}=`));
}

function clearDocumentHint(): void {
  if (typeof document !== "undefined") document.cookie = `${HINT_COOKIE}=; Max-Age=0; Path=/; SameSite=Strict`;
}

function defaultStorage(): SessionOptions["storage"] {
  try {
    return typeof sessionStorage === "undefined" ? null : sessionStorage;
  } catch {
    return null; // storage disabled by the browser
  }
}

const ANONYMOUS: SessionState = { status: "anonymous", username: null, claims: null, tenantId: null };

export class Session {
  readonly baseUrl: string;
  #fetch: typeof fetch;
  #now: () => number;
  #renewBeforeMs: number;
  #hasHint: () => boolean;
  #storage: SessionOptions["storage"];
  #token: string | null = null;
  #expiresAt = 0;
  #renewing: Promise<void> | null = null;
  /** Bumped by every sign-in and sign-out: a refresh that was under way then changes nothing. */
  #generation = 0;
  #state: SessionState;
  #listeners = new Set<() => void>();

  constructor(options: SessionOptions) {
    this.baseUrl = options.baseUrl.replace(/\/$/, "");
    this.#fetch = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
    this.#now = options.now ?? Date.now;
    this.#renewBeforeMs = options.renewBeforeMs ?? 60_000;
    this.#hasHint = options.hasSessionHint ?? documentHint;
    this.#storage = options.storage === undefined ? defaultStorage() : options.storage;
    this.#state = this.#hasHint() ? { ...ANONYMOUS, status: "restoring" } : ANONYMOUS;
  }

  // -- state for React (useSyncExternalStore) --------------------------------------------

  subscribe = (listener: () => void): (() => void) => {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  };

  getState = (): SessionState => this.#state;

  #setState(next: SessionState): void {
    this.#state = next;
    for (const listener of this.#listeners) listener();
  }

  // -- signing in and out -------------------------------------------------------------------

  /** Password sign-in; the server also sets the refresh cookie. Throws ApiError (401 for wrong
   * credentials, 429 when rate limited). */
  async login(username: string, password: string): Promise<void> {
    const generation = ++this.#generation;
    this.#renewing = null;
    const token = await this.#requestToken(SESSION_PATH, { username, password });
    if (generation !== this.#generation) return;
    this.#accept(token);
    this.#signedIn(username, null);
  }

  /** After a reload: exchange the refresh cookie (if the hint says there is one) for a token.
   * Ends "authenticated", "anonymous" (no session) or "expired" (the session was ended). */
  async restore(): Promise<void> {
    if (this.#state.status === "authenticated") return;
    if (!this.#hasHint()) {
      if (this.#state.status === "restoring") this.#setState(ANONYMOUS);
      return;
    }
    if (this.#state.status !== "restoring") this.#setState({ ...ANONYMOUS, status: "restoring" });
    try {
      await this.refresh();
    } catch (error) {
      // refresh() already ended the session as "expired" on a 401/403; anything else (the
      // server unreachable) leaves the visitor at the sign-in page.
      if (this.#state.status === "restoring") this.#setState(ANONYMOUS);
      if (!(error instanceof ApiError)) throw error;
    }
  }

  logout(reason: "signed-out" | "expired" = "signed-out"): void {
    const hadSession = this.#token !== null || this.#state.status !== "anonymous";
    this.#generation += 1;
    this.#token = null;
    this.#expiresAt = 0;
    this.#renewing = null;
    this.#remember(null);
    this.#setState(reason === "expired" ? { ...ANONYMOUS, status: "expired" } : ANONYMOUS);
    if (reason === "signed-out" && hadSession) {
      // A reload from here on must not try the cookie; the server deletes the session and clears
      // both cookies (the refresh cookie is httpOnly: only it can).
      clearDocumentHint();
      void this.#fetch(`${this.baseUrl}${SESSION_PATH}`, {
        method: "DELETE",
        credentials: "same-origin",
        keepalive: true,
        headers: { [SESSION_HEADER]: "1" },
      }).catch(() => undefined);
    }
  }

  /** system_admin only: the tenant later requests act in (sent as X-Tenant-ID; kept for a reload). */
  setTenant(tenantId: string | null): void {
    const state = this.#state;
    if (state.claims?.role !== "system_admin" || state.tenantId === tenantId) return;
    this.#remember(tenantId);
    this.#setState({ ...state, tenantId });
  }

  #remember(tenantId: string | null): void {
    try {
      if (tenantId) this.#storage?.setItem(TENANT_KEY, tenantId);
      else this.#storage?.removeItem(TENANT_KEY);
    } catch {
      // storage full or disabled: the choice lasts until a reload
    }
  }

  #remembered(): string | null {
    try {
      return this.#storage?.getItem(TENANT_KEY) ?? null;
    } catch {
      return null;
    }
  }

  #signedIn(username: string | null, previousTenant: string | null): void {
    const claims = this.#claims();
    const tenantId = claims.role === "system_admin" ? previousTenant : claims.tenant_id;
    this.#setState({ status: "authenticated", username: username ?? claims.name, claims, tenantId });
  }

  async #requestToken(path: string, body?: Record<string, string>): Promise<{ token: string; expiresAt: number }> {
    const response = await this.#fetch(`${this.baseUrl}${path}`, {
      method: "POST",
      credentials: "same-origin",
      headers: {
        Accept: "application/json",
        [SESSION_HEADER]: "1",
        ...(body ? { "Content-Type": "application/json" } : {}),
      },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    if (!response.ok) throw await problemFromResponse(response);
    const answer = (await response.json()) as { access_token?: unknown; expires_in?: unknown };
    if (typeof answer.access_token !== "string") {
      throw new ApiError({ title: "Sign-in failed", status: 502, detail: "the token response had no access_token" });
    }
    const claims = decodeClaims(answer.access_token);
    if (claims.role === "worker") {
      throw new ApiError({ title: "Not allowed", status: 403, detail: "API keys cannot sign in to the dashboard" });
    }
    const lifetimeMs = (typeof answer.expires_in === "number" ? answer.expires_in : 900) * 1000;
    return { token: answer.access_token, expiresAt: this.#now() + lifetimeMs };
  }

  #accept({ token, expiresAt }: { token: string; expiresAt: number }): void {
    this.#token = token;
    this.#expiresAt = expiresAt;
  }

  #claims(): Claims {
    if (!this.#token) throw new Error("not signed in");
    return decodeClaims(this.#token);
  }

  /** A new access token from the refresh cookie (which the server rotates); one request at a
   * time, shared by all callers. A refusal ends the session as "expired". */
  async refresh(): Promise<void> {
    const generation = this.#generation;
    this.#renewing ??= this.#requestToken(REFRESH_PATH)
      .then((token) => {
        if (generation !== this.#generation) return;
        this.#accept(token);
        // The role or sites of the user may have changed since the last sign-in.
        const state = this.#state;
        const tenant = state.status === "authenticated" ? state.tenantId : this.#remembered();
        this.#signedIn(state.username, tenant);
      })
      .catch((error: unknown) => {
        const refused = error instanceof ApiError && (error.status === 401 || error.status === 403);
        if (refused && generation === this.#generation) this.logout("expired");
        throw error;
      })
      .finally(() => {
        if (generation === this.#generation) this.#renewing = null;
      });
    return this.#renewing;
  }

  /** A token valid for at least the renewal margin (for EventSource URLs). */
  async accessToken(): Promise<string> {
    if (this.#state.status !== "authenticated") {
      throw new ApiError({ title: "Not signed in", status: 401, detail: "sign in to continue" });
    }
    if (!this.#token || this.#now() >= this.#expiresAt - this.#renewBeforeMs) await this.refresh();
    if (!this.#token) throw new ApiError({ title: "Not signed in", status: 401, detail: "sign in to continue" });
    return this.#token;
  }

  /** Headers for a request made outside `fetch` (e.g. a streaming reader). */
  async authHeaders(): Promise<Record<string, string>> {
    const headers: Record<string, string> = { Authorization: `Bearer ${await this.accessToken()}` };
    const { claims, tenantId } = this.#state;
    if (claims?.role === "system_admin" && tenantId) headers[TENANT_HEADER] = tenantId;
    return headers;
  }

  #authorize(request: Request, headers: Record<string, string>): Request {
    const merged = new Headers(request.headers);
    for (const [name, value] of Object.entries(headers)) merged.set(name, value);
    return new Request(request, { headers: merged });
  }

  /** fetch for the API client: auth headers, silent renewal, one retry after a 401. */
  fetch = async (input: Request): Promise<Response> => {
    if (this.#state.status !== "authenticated") {
      throw new ApiError({ title: "Not signed in", status: 401, detail: "sign in to continue" });
    }
    const spare = input.clone(); // the body of a Request can be sent once
    const response = await this.#fetch(this.#authorize(input, await this.authHeaders()));
    if (response.status !== 401) return response;
    try {
      await this.refresh();
    } catch {
      return response;
    }
    return this.#fetch(this.#authorize(spare, await this.authHeaders()));
  };
}
