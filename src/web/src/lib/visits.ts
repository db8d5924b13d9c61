import { useInfiniteQuery } from "@tanstack/react-query";

import type { paths } from "../../generated/schema";
import { api, unwrap } from "../api/client";
import { useSession } from "../auth/useSession";

/** GET /v1/visits's filters (the page size and cursor are the hook's). */
export type VisitFilter = Omit<NonNullable<paths["/v1/visits"]["get"]["parameters"]["query"]>, "limit" | "cursor">;

/** Visits, newest first, `limit` at a time; `query.fetchNextPage()` reads on by cursor. Idle until `enabled`. */
export function useVisitPages(key: readonly unknown[], filter: VisitFilter, limit: number, enabled = true) {
  const { tenantId } = useSession();
  const query = useInfiniteQuery({
    queryKey: ["tenant", tenantId, "visits", ...key],
    enabled: tenantId !== null && enabled,
    initialPageParam: null as string | null,
    queryFn: ({ pageParam }) =>
      unwrap(api.GET("/v1/visits", { params: { query: { ...filter, limit, ...(pageParam ? { cursor: pageParam } : {}) } } })),
    getNextPageParam: (last) => last.next_cursor ?? undefined,
  });
  return { query, items: query.data?.pages.flatMap((p) => p.items) ?? [] };
}
