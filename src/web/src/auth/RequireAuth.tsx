import type { ReactNode } from "react";
import { Navigate, useLocation } from "react-router-dom";

import { useSession } from "./useSession";

/** Signed-out visitors go to /login, which brings them back here afterwards; after a reload the
 * page waits while the session is restored from the refresh cookie. */
export function RequireAuth({ children }: { children: ReactNode }) {
  const { status } = useSession();
  const location = useLocation();
  if (status === "restoring") return <div className="boot-spinner" role="status" aria-label="Loading" />;
  if (status !== "authenticated") {
    return <Navigate to="/login" replace state={{ from: `${location.pathname}${location.search}` }} />;
  }
  return <>{children}</>;
}
