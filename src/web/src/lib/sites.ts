import { api, unwrap } from "../api/client";
import type { Camera, Site } from "../api/types";
import { useTenantQuery } from "./query";

/** Every site the caller can see (a site_manager: its own), for pickers and names. */
export function useSites() {
  const query = useTenantQuery(["sites", "all"], () =>
    unwrap(api.GET("/v1/sites", { params: { query: { limit: 500 } } })).then((page) => page.items),
  );
  const byId = new Map<string, Site>((query.data ?? []).map((s) => [s.id, s]));
  return {
    ...query,
    sites: query.data ?? [],
    byId,
    name: (id: string) => byId.get(id)?.name ?? "Unknown site",
    /** The site's time zone: times of what happened there are shown in it. */
    zone: (id: string) => byId.get(id)?.timezone,
  };
}

export function useCameras() {
  const query = useTenantQuery(["cameras", "all"], () =>
    unwrap(api.GET("/v1/cameras", { params: { query: { limit: 500 } } })).then((page) => page.items),
  );
  const byId = new Map<string, Camera>((query.data ?? []).map((c) => [c.id, c]));
  return { ...query, cameras: query.data ?? [], byId };
}

export function timeZones(): string[] {
  try {
    return Intl.supportedValuesOf("timeZone");
  } catch {
    return ["UTC"];
  }
}
