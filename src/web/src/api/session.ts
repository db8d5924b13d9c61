/**
 * The signed-in session: the access token and the credentials that obtain it, in memory only
 * (never localStorage or cookies), so a reload or a closed tab ends it.
 *
 * `session.fetch` is the one door to the API: it adds the bearer token (and X-Tenant-ID for a
 * system_admin acting in a tenant), renews the token silently shortly before it expires, and when
 * the API still answers 401 it signs in again with the held credentials and retries once. When
 * that fails too (password changed, user disabled) the session ends as "expired".
 */
import { ApiError, problemFromResponse } from "./problem";

export type Role = "system_admin" | "tenant_admin" | "site_manager" | "worker";

export interface Claims {
  sub: string;
  role: Role;
  tenant_id: string | null;
  site_ids: string[];
  exp: number;
}

export interface SessionState {
  status: "anonymous" | "authenticated" | "expired";
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
}

export const TOKEN_PATH = "/v1/auth/token";
export const TENANT_HEADER = "X-Tenant-ID";

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
  };
}

const ANONYMOUS: SessionState = { status: "anonymous", username: null, claims: null, tenantId: null };

export class Session {
  readonly baseUrl: string;
  #fetch: typeof fetch;
  #now: () => number;
  #renewBeforeMs: number;
  #token: string | null = null;
  #expiresAt = 0;
  #credentials: { username: string; password: string } | null = null;
  #signingIn: Promise<void> | null = null;
  #state: SessionState = ANONYMOUS;
  #listeners = new Set<() => void>();

  constructor(options: SessionOptions) {
    this.baseUrl = options.baseUrl.replace(/\/$/, "");
    this.#fetch = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
    this.#now = options.now ?? Date.now;
    this.#renewBeforeMs = options.renewBeforeMs ?? 60_000;
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

  /** Password grant; throws ApiError (401 for wrong credentials, 429 when rate limited). */
  async login(username: string, password: string): Promise<void> {
    await this.#requestToken(username, password);
    this.#credentials = { username, password };
    const claims = this.#claims();
    this.#setState({
      status: "authenticated",
      username,
      claims,
      tenantId: claims.role === "system_admin" ? null : claims.tenant_id,
    });
  }

  logout(reason: "signed-out" | "expired" = "signed-out"): void {
    this.#token = null;
    this.#expiresAt = 0;
    this.#credentials = null;
    this.#signingIn = null;
    this.#setState(reason === "expired" ? { ...ANONYMOUS, status: "expired" } : ANONYMOUS);
  }

  /** system_admin only: the tenant later requests act in (sent as X-Tenant-ID). */
  setTenant(tenantId: string | null): void {
    const state = this.#state;
    if (state.claims?.role !== "system_admin" || state.tenantId === tenantId) return;
    this.#setState({ ...state, tenantId });
  }

  async #requestToken(username: string, password: string): Promise<void> {
    const response = await this.#fetch(`${this.baseUrl}${TOKEN_PATH}`, {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify({ grant_type: "password", username, password }),
    });
    if (!response.ok) throw await problemFromResponse(response);
    const body = (await response.json()) as { access_token?: unknown; expires_in?: unknown };
    if (typeof body.access_token !== "string") {
      throw new ApiError({ title: "Sign-in failed", status: 502, detail: "the token response had no access_token" });
    }
    const claims = decodeClaims(body.access_token);
    if (claims.role === "worker") {
      throw new ApiError({ title: "Not allowed", status: 403, detail: "API keys cannot sign in to the dashboard" });
    }
    const lifetimeMs = (typeof body.expires_in === "number" ? body.expires_in : 900) * 1000;
    this.#token = body.access_token;
    this.#expiresAt = this.#now() + lifetimeMs;
  }

  #claims(): Claims {
    if (!this.#token) throw new Error("not signed in");
    return decodeClaims(this.#token);
  }

  /** Sign in again with the held credentials; one attempt at a time, shared by all callers. */
  async #renew(): Promise<void> {
    const credentials = this.#credentials;
    if (!credentials) throw new ApiError({ title: "Not signed in", status: 401, detail: "sign in to continue" });
    this.#signingIn ??= this.#requestToken(credentials.username, credentials.password)
      .then(() => {
        // The role or sites of the user may have changed since the last sign-in.
        const claims = this.#claims();
        const state = this.#state;
        const tenantId = claims.role === "system_admin" ? state.tenantId : claims.tenant_id;
        this.#setState({ ...state, status: "authenticated", claims, tenantId });
      })
      .catch((error: unknown) => {
        if (error instanceof ApiError && (error.status === 401 || error.status === 403)) this.logout("expired");
        throw error;
      })
      .finally(() => {
        this.#signingIn = null;
      });
    return this.#signingIn;
  }

  /** A token valid for at least the renewal margin (for EventSource URLs). */
  async accessToken(): Promise<string> {
    if (!this.#token || this.#now() >= this.#expiresAt - this.#renewBeforeMs) await this.#renew();
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
    if (response.status !== 401 || !this.#credentials) return response;
    try {
      await this.#renew();
    } catch {
      return response;
    }
    return this.#fetch(this.#authorize(spare, await this.authHeaders()));
  };
}
