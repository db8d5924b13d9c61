import { UserOutlined } from "@ant-design/icons";
import { Image, Skeleton } from "antd";
import { useState } from "react";

import { api, unwrap } from "../api/client";
import { useTenantQuery } from "../lib/query";

/**
 * The best face crop of a visit, through a short-lived link from
 * GET /v1/visits/{id}/snapshot. `version` changes when the visit got a newer sighting, which
 * fetches a fresh link (the "refreshing snapshot" of the live monitor).
 */
export function Snapshot({
  visitId,
  version = "",
  size = 56,
  label,
  available = true,
}: {
  visitId: string;
  version?: string;
  size?: number;
  label: string;
  /** False when the visit is known to have no snapshot: no request is made. */
  available?: boolean;
}) {
  const query = useTenantQuery(
    ["snapshot", visitId, version],
    () => unwrap(api.GET("/v1/visits/{visit_id}/snapshot", { params: { path: { visit_id: visitId } } })),
    { staleTime: 60_000, retry: false, enabled: available },
  );
  // The link can outlive its object (purged, erased, or a store that lost it): a link that fails
  // to load shows the same placeholder as no link, never a broken image with its alt text.
  const [failedUrl, setFailedUrl] = useState<string | null>(null);
  const box = { width: size, height: size };
  if (available && query.isLoading) return <Skeleton.Avatar active shape="square" size={size} />;
  if (!query.data || failedUrl === query.data.url) {
    return (
      <div
        role="img"
        aria-label={`${label}: no snapshot`}
        title="No snapshot (none uploaded, or deleted after the retention period)"
        className="flex shrink-0 items-center justify-center rounded-lg bg-slate-100 text-slate-500"
        style={box}
      >
        <UserOutlined style={{ fontSize: size / 2.4 }} />
      </div>
    );
  }
  return (
    <Image
      src={query.data.url}
      alt={label}
      width={size}
      height={size}
      className="rounded-lg object-cover"
      rootClassName="shrink-0"
      style={{ objectFit: "cover", borderRadius: 8 }}
      preview={{ mask: false }}
      onError={() => setFailedUrl(query.data.url)}
    />
  );
}
