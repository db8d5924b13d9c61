/**
 * The typed API client: openapi-fetch over the types generated from docs/openapi.json
 * (`npm run api`), sending every request through the session (token, tenant, renewal).
 */
import createClient from "openapi-fetch";

import { problemFromBody, problemFromResponse } from "./problem";
import type { components, paths } from "../../generated/schema";
import { Session } from "./session";

export type Schemas = components["schemas"];

export function createApi(session: Session) {
  return createClient<paths>({ baseUrl: session.baseUrl, fetch: session.fetch });
}

export type Api = ReturnType<typeof createApi>;

interface Result<T> {
  data?: T;
  error?: unknown;
  response: Response;
}

/** The response data, or an ApiError built from the problem body. */
export async function unwrap<T>(call: Promise<Result<T>>): Promise<T> {
  const { data, error, response } = await call;
  if (!response.ok) throw problemFromBody(response.status, error, response.statusText);
  return data as T;
}

function defaultBaseUrl(): string {
  return typeof window === "undefined" ? "http://localhost" : window.location.origin;
}

/** The app's one session and client. */
export const session = new Session({ baseUrl: defaultBaseUrl() });
export const api = createApi(session);
// A reload or a bookmark: pick the session up again from the refresh cookie.
session.restore().catch(() => undefined);

/** POST a raw body (a photo) where the OpenAPI document declares none; returns the JSON answer. */
export async function postBinary<T>(path: string, body: Blob, contentType: string): Promise<T> {
  const response = await session.fetch(
    new Request(`${session.baseUrl}${path}`, { method: "POST", body, headers: { "Content-Type": contentType, Accept: "application/json" } }),
  );
  if (!response.ok) throw await problemFromResponse(response);
  return (await response.json()) as T;
}

/** GET a file with the session's credentials and hand it to the browser as a download. */
export async function download(path: string, fallbackName: string, accept = "*/*"): Promise<{ name: string; bytes: number }> {
  const response = await session.fetch(new Request(`${session.baseUrl}${path}`, { headers: { Accept: accept } }));
  if (!response.ok) throw await problemFromResponse(response);
  const blob = await response.blob();
  const disposition = response.headers.get("Content-Disposition") ?? "";
  const name = /filename="?([^";]+)"?/.exec(disposition)?.[1] ?? fallbackName;
  const url = URL.createObjectURL(blob);
  try {
    const link = document.createElement("a");
    link.href = url;
    link.download = name;
    document.body.appendChild(link);
    link.click();
    link.remove();
  } finally {
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  }
  return { name, bytes: blob.size };
}
