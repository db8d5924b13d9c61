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

beforeEach(() => {
  logins.length = 0;
  vi.stubGlobal(
    "fetch",
    vi.fn(async (input: RequestInfo | URL, init?: RequestInit) => {
      const request = input instanceof Request ? input : new Request(String(input), init);
      if (!request.url.endsWith("/v1/auth/token")) return json({}, 404);
      const body = (await request.json()) as { username: string; password: string };
      logins.push(body);
      if (body.password !== "right-password") return problem(401, "Unauthorized", "invalid username or password");
      return json({
        access_token: fakeToken({ sub: "user:1", role: "tenant_admin", tenant_id: TENANT, site_ids: [] }),
        expires_in: 900,
      });
    }),
  );
});

afterEach(() => {
  cleanup();
  act(() => session.logout());
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
    expect(logins).toEqual([{ grant_type: "password", username: "anna", password: "right-password" }]);
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
});
