import { keepPreviousData } from "@tanstack/react-query";
import type { TablePaginationConfig } from "antd";
import { useState } from "react";

import { useTenantQuery } from "./query";

export interface Page<T> {
  items: T[];
  total: number;
  limit: number;
  offset: number;
}

/** A limit/offset list as an antd Table's data + pagination; `key` must name the filters (a new filter starts at page 1). */
export function usePagedQuery<T>(key: readonly unknown[], fetchPage: (limit: number, offset: number) => Promise<Page<T>>, initialSize = 20) {
  const [page, setPage] = useState(1);
  const [size, setSize] = useState(initialSize);
  const filters = JSON.stringify(key);
  const [shownFilters, setShownFilters] = useState(filters);
  if (shownFilters !== filters) {
    setShownFilters(filters);
    setPage(1);
  }
  const offset = (page - 1) * size;
  const query = useTenantQuery([...key, { limit: size, offset }], () => fetchPage(size, offset), {
    placeholderData: keepPreviousData,
  });
  const pagination: TablePaginationConfig = {
    current: page,
    pageSize: size,
    total: query.data?.total ?? 0,
    showSizeChanger: true,
    pageSizeOptions: [10, 20, 50, 100],
    hideOnSinglePage: (query.data?.total ?? 0) <= 10,
    showTotal: (total) => `${total} in all`,
    onChange: (nextPage, nextSize) => {
      setPage(nextSize !== size ? 1 : nextPage);
      setSize(nextSize);
    },
  };
  return { query, items: query.data?.items ?? [], pagination };
}
