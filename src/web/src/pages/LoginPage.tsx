/**
 * Sign-in: plain React and Tailwind, no Ant Design, so the first page is small and interactive
 * quickly; the signed-in shell is fetched in the background while the user types.
 */
import { useEffect, useId, useState, type FormEvent } from "react";
import { Navigate, useLocation, useNavigate } from "react-router-dom";

import { session } from "../api/client";
import { ApiError, errorMessage } from "../api/problem";
import { useSession } from "../auth/useSession";
import { Logo } from "../layout/Logo";
import { homePath } from "../lib/nav";

function Spinner() {
  return <span aria-hidden className="inline-block h-4 w-4 animate-spin rounded-full border-2 border-white/40 border-t-white" />;
}

const INPUT =
  "block w-full rounded-lg border border-slate-300 bg-white px-3 py-2.5 text-[15px] text-slate-900 shadow-xs outline-none transition " +
  "placeholder:text-slate-500 focus:border-teal-700 focus:ring-2 focus:ring-teal-700/20 disabled:bg-slate-50 aria-[invalid=true]:border-red-700";

export default function LoginPage() {
  const state = useSession();
  const navigate = useNavigate();
  const location = useLocation();
  const from = (location.state as { from?: string } | null)?.from;
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [reveal, setReveal] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [missing, setMissing] = useState<{ username?: boolean; password?: boolean }>({});
  const id = useId();

  useEffect(() => {
    document.title = "Sign in · Footfall";
    performance.mark("app-interactive");
    // Warm the signed-in shell (Ant Design + layout) while the user types.
    const warm = () => void import("../Shell");
    const idle = window.requestIdleCallback?.(warm, { timeout: 1500 });
    const timer = idle === undefined ? window.setTimeout(warm, 300) : undefined;
    return () => {
      if (idle !== undefined) window.cancelIdleCallback?.(idle);
      if (timer !== undefined) window.clearTimeout(timer);
    };
  }, []);

  if (state.status === "restoring") {
    return <div className="boot-spinner" role="status" aria-label="Loading" />;
  }
  if (state.status === "authenticated") {
    return <Navigate to={from && from !== "/login" ? from : homePath(state.claims?.role, state.tenantId !== null)} replace />;
  }

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    const gaps = { username: !username.trim(), password: !password };
    setMissing(gaps);
    if (gaps.username || gaps.password) return;
    setBusy(true);
    setError(null);
    try {
      await session.login(username.trim(), password);
      const next = session.getState();
      navigate(from && from !== "/login" ? from : homePath(next.claims?.role, next.tenantId !== null), { replace: true });
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };

  const message =
    error instanceof ApiError && error.status === 401 ? "Wrong username or password." : error ? errorMessage(error) : null;

  return (
    <div className="login-backdrop flex min-h-screen items-center justify-center p-4">
      <main className="w-full max-w-[400px]">
        <div className="mb-6 flex justify-center">
          <Logo />
        </div>
        <div className="rounded-xl border border-slate-200 bg-white p-8 shadow-sm">
          <h1 className="mt-0 mb-1 text-xl font-semibold text-slate-900">Sign in</h1>
          <p className="mt-0 mb-6 text-slate-600">New and returning visitors, per store, as they happen.</p>
          {state.status === "expired" && !error && (
            <div className="mb-4 rounded-lg border border-amber-300 bg-amber-50 px-3 py-2 text-sm text-amber-900" role="status">
              Your session has ended. Sign in again to continue.
            </div>
          )}
          {message && (
            <div className="mb-4 rounded-lg border border-red-300 bg-red-50 px-3 py-2 text-sm text-red-800" role="alert">
              {message}
            </div>
          )}
          <form onSubmit={submit} noValidate className="space-y-5">
            <div>
              <label htmlFor={`${id}-username`} className="mb-1.5 block text-sm font-medium text-slate-800">
                Username
              </label>
              <input
                id={`${id}-username`}
                name="username"
                className={INPUT}
                autoComplete="username"
                autoFocus
                value={username}
                disabled={busy}
                aria-invalid={missing.username || undefined}
                aria-describedby={missing.username ? `${id}-username-error` : undefined}
                onChange={(e) => setUsername(e.target.value)}
              />
              {missing.username && (
                <p id={`${id}-username-error`} className="mt-1 mb-0 text-sm text-red-700">
                  Enter your username
                </p>
              )}
            </div>
            <div>
              <label htmlFor={`${id}-password`} className="mb-1.5 block text-sm font-medium text-slate-800">
                Password
              </label>
              <div className="relative">
                <input
                  id={`${id}-password`}
                  name="password"
                  type={reveal ? "text" : "password"}
                  className={`${INPUT} pr-16`}
                  autoComplete="current-password"
                  value={password}
                  disabled={busy}
                  aria-invalid={missing.password || undefined}
                  aria-describedby={missing.password ? `${id}-password-error` : undefined}
                  onChange={(e) => setPassword(e.target.value)}
                />
                <button
                  type="button"
                  className="absolute inset-y-0 right-0 cursor-pointer rounded-r-lg px-3 text-sm font-medium text-teal-800 hover:text-teal-950"
                  aria-pressed={reveal}
                  aria-controls={`${id}-password`}
                  onClick={() => setReveal(!reveal)}
                >
                  {reveal ? "Hide" : "Show"}
                </button>
              </div>
              {missing.password && (
                <p id={`${id}-password-error`} className="mt-1 mb-0 text-sm text-red-700">
                  Enter your password
                </p>
              )}
            </div>
            <button
              type="submit"
              disabled={busy}
              className="flex w-full cursor-pointer items-center justify-center gap-2 rounded-lg bg-teal-700 px-4 py-2.5 text-[15px] font-medium text-white shadow-sm transition hover:bg-teal-800 focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-teal-700 disabled:cursor-wait disabled:opacity-80"
            >
              {busy && <Spinner />}
              Sign in
            </button>
          </form>
        </div>
        <p className="mt-6 text-center text-xs text-slate-600">You stay signed in on this browser until you sign out.</p>
      </main>
    </div>
  );
}
