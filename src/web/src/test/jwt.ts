/** Unsigned JWTs for tests (the client never verifies signatures; the server does). */
export function fakeToken(claims: Record<string, unknown>): string {
  const encode = (value: unknown) =>
    Buffer.from(JSON.stringify(value)).toString("base64").replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  return `${encode({ alg: "RS256", typ: "JWT" })}.${encode({ exp: 4_000_000_000, jti: "t", ...claims })}.signature`;
}

export const TENANT = "6f1c0b5e-9a52-4f43-8d8b-3e7d0a6b2c11";
export const SITE = "0b8e7c2a-1d3f-4e5a-9b6c-7d8e9f0a1b2c";

export function json(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json", ...headers } });
}

export function problem(status: number, title: string, detail: string, errors?: { field: string; message: string }[]): Response {
  return new Response(JSON.stringify({ type: "about:blank", title, status, detail, ...(errors ? { errors } : {}) }), {
    status,
    headers: { "Content-Type": "application/problem+json" },
  });
}
