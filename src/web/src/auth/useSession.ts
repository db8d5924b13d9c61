import { useSyncExternalStore } from "react";

import { session } from "../api/client";
import type { Role, SessionState } from "../api/session";

export function useSession(): SessionState {
  return useSyncExternalStore(session.subscribe, session.getState);
}

export function useRole(): Role | undefined {
  return useSession().claims?.role;
}
