import { QueryClient, useQuery, type UseQueryOptions } from "@tanstack/react-query";

import { ApiError } from "../api/problem";
import { useSession } from "../auth/useSession";

export const queryClient = new QueryClient({
  defaultOptions: {
    queries: {
      staleTime: 15_000,
      refetchOnWindowFocus: false,
      // A 4xx will not fix itself; a network blip or a 5xx may.
      retry: (count, error) => !(error instanceof ApiError && error.status < 500) && count < 2,
    },
    mutations: { retry: false },
  },
});

type Options<T> = Omit<UseQueryOptions<T, Error, T, readonly unknown[]>, "queryKey" | "queryFn">;

/** A query whose key (and cache) belongs to the tenant in use; idle until there is one. */
export function useTenantQuery<T>(key: readonly unknown[], fn: () => Promise<T>, options: Options<T> = {}) {
  const { tenantId } = useSession();
  return useQuery<T, Error, T, readonly unknown[]>({
    ...options,
    queryKey: ["tenant", tenantId, ...key],
    queryFn: fn,
    enabled: tenantId !== null && (options.enabled ?? true),
  });
}

/** Refetch everything of `resource` in the current tenant (after a change). */
export function invalidate(tenantId: string | null, ...resources: string[]): Promise<void[]> {
  return Promise.all(
    resources.map((resource) => queryClient.invalidateQueries({ queryKey: ["tenant", tenantId, resource] })),
  );
}
