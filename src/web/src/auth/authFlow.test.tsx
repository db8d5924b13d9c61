/** The sign-in flow in a DOM: guard → login → back to the page asked for; expiry; wrong password. */
import { act, cleanup, fireEvent, render, screen } from "@testing-library/react";
import { MemoryRouter, useLocation } from "react-router-dom";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";

import App from "../App";
import { session } from "../api/client";
import { fakeToken, json, problem, TENANT } from "../test/jwt";

// The signed-in shell (Ant Design, pages) is not under test here: it only shows where we are.
vi.mock("../Shell", () => ({
  default: function ShellStub() {
    const location = useLocation();
    return <div data-testid="shell">{`${location.pathname}${location.search}`}</div>;
  },
}));

const logins: unknown[] = [];
const refreshes: string[] = [];
const signOuts: string[] = [];
/** The server's side of the refresh cookie: set by a sign-in, cleared by a sign-out. */
let serverSession: string | null = null;

const ANNA = { sub: "user:1", role: "tenant_admin", tenant_id: TENANT, site_ids: [], name: "anna" };

beforeEach(() => {
  logins.length = 0;
  refreshes.length = 0;
  signOuts.length = 0;
  serverSession = null;
  vi.stubGlobal(
    "fetch",
    vi.fn(async (input: RequestInfo | URL, init?: RequestInit) => {
      const request = input instanceof Request ? input : new Request(String(input), init);
      const path = new URL(request.url).pathname;
      if (path === "/v1/auth/session" && request.method === "DELETE") {
        signOuts.push(request.headers.get("X-Appliance-Session") ?? "");
        serverSession = null;
        document.cookie = "appliance_signed_in=; Max-Age=0; path=/";
        return new Response(null, { status: 204 });
      }
      if (path === "/v1/auth/session/refresh") {
        refreshes.push(request.method);
        if (!serverSession) return problem(401, "Unauthorized", "this session has ended: sign in again");
        return json({ access_token: fakeToken(ANNA), expires_in: 900 });
      }
      if (path !== "/v1/auth/session") return json({}, 404);
      const body = (await request.json()) as { username: string; password: string };
      logins.push(body);
      if (body.password !== "right-password") return problem(401, "Unauthorized", "invalid username or password");
      serverSession = "anna";
      document.cookie = "appliance_signed_in=1; path=/";
      return json({ access_token: fakeToken(ANNA), expires_in: 900 });
    }),
  );
});

afterEach(() => {
  cleanup();
  act(() => session.logout());
  document.cookie = "appliance_signed_in=; Max-Age=0; path=/";
  vi.unstubAllGlobals();
});

function renderAt(path: string) {
  return render(
    <MemoryRouter initialEntries={[path]} future={{ v7_startTransition: true, v7_relativeSplatPath: true }}>
      <App />
    </MemoryRouter>,
  );
}

async function signIn(username: string, password: string) {
  fireEvent.change(await screen.findByLabelText("Username"), { target: { value: username } });
  fireEvent.change(screen.getByLabelText("Password"), { target: { value: password } });
  fireEvent.click(screen.getByRole("button", { name: "Sign in" }));
}

describe("auth flow", () => {
  it("sends a signed-out visitor to sign in, then back to the page asked for", async () => {
    renderAt("/visits?site=abc");
    expect(await screen.findByRole("heading", { name: "Sign in" })).toBeTruthy();
    await signIn("anna", "right-password");
    expect((await screen.findByTestId("shell")).textContent).toBe("/visits?site=abc");
    expect(logins).toEqual([{ username: "anna", password: "right-password" }]);
    expect(session.getState()).toMatchObject({ status: "authenticated", username: "anna", tenantId: TENANT });
  });

  it("asks for missing fields without calling the API", async () => {
    renderAt("/login");
    fireEvent.click(await screen.findByRole("button", { name: "Sign in" }));
    expect(await screen.findByText("Enter your username")).toBeTruthy();
    expect(screen.getByText("Enter your password")).toBeTruthy();
    expect(screen.getByLabelText("Username").getAttribute("aria-invalid")).toBe("true");
    expect(logins).toEqual([]);
  });

  it("shows a wrong password as an alert and stays on the page", async () => {
    renderAt("/login");
    await signIn("anna", "wrong");
    expect((await screen.findByRole("alert")).textContent).toBe("Wrong username or password.");
    expect(screen.queryByTestId("shell")).toBeNull();
  });

  it("lets the password be shown", async () => {
    renderAt("/login");
    const field = await screen.findByLabelText("Password");
    expect(field.getAttribute("type")).toBe("password");
    fireEvent.click(screen.getByRole("button", { name: "Show" }));
    expect(field.getAttribute("type")).toBe("text");
  });

  it("says so when a session ended, and a signed-in user skips the sign-in page", async () => {
    renderAt("/reports");
    await signIn("anna", "right-password");
    expect((await screen.findByTestId("shell")).textContent).toBe("/reports");
    act(() => session.logout("expired"));
    expect(await screen.findByText("Your session has ended. Sign in again to continue.")).toBeTruthy();
    await signIn("anna", "right-password");
    expect((await screen.findByTestId("shell")).textContent).toBe("/reports");
    cleanup();
    renderAt("/login");
    expect((await screen.findByTestId("shell")).textContent).toBe("/reports");
  });

  it("a reload keeps the user signed in: the page waits for the refresh cookie, then opens", async () => {
    renderAt("/visits");
    await signIn("anna", "right-password");
    expect((await screen.findByTestId("shell")).textContent).toBe("/visits");
    // A reload: the in-memory token is gone, the cookies are not.
    cleanup();
    act(() => session.logout("expired"));
    const restored = session.restore();
    expect(session.getState().status).toBe("restoring");
    renderAt("/visits?site=abc");
    expect(screen.getByRole("status", { name: "Loading" })).toBeTruthy();
    await act(async () => {
      await restored;
    });
    expect((await screen.findByTestId("shell")).textContent).toBe("/visits?site=abc");
    expect(refreshes).toEqual(["POST"]);
    expect(session.getState()).toMatchObject({ status: "authenticated", username: "anna" });
  });

  it("after signing out, a reload lands on the sign-in page without asking the server", async () => {
    renderAt("/reports");
    await signIn("anna", "right-password");
    await screen.findByTestId("shell");
    act(() => session.logout());
    await vi.waitFor(() => expect(signOuts).toEqual(["1"]));
    cleanup();
    await act(async () => {
      await session.restore();
    });
    renderAt("/reports");
    expect(await screen.findByRole("heading", { name: "Sign in" })).toBeTruthy();
    expect(refreshes).toEqual([]);
  });

  it("a session ended elsewhere is reported on the sign-in page after a reload", async () => {
    document.cookie = "appliance_signed_in=1; path=/"; // the hint outlived the session
    await act(async () => {
      await session.restore();
    });
    renderAt("/reports");
    expect(await screen.findByText("Your session has ended. Sign in again to continue.")).toBeTruthy();
    expect(refreshes).toEqual(["POST"]);
  });
});
