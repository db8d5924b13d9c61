import { Badge, Card } from "antd";
import dayjs from "dayjs";
import { useEffect, useState } from "react";
import { Link } from "react-router-dom";

import { session } from "../api/client";
import { useSession } from "../auth/useSession";
import { EmptyState } from "../components/EmptyState";
import { VisitorPill } from "../components/Pill";
import { PageHeader } from "../components/PageHeader";
import { SiteSelect } from "../components/SiteSelect";
import { Snapshot } from "../components/Snapshot";
import { StatCard } from "../components/StatCard";
import { addSighting, type Arrival } from "../lib/arrivals";
import { formatRelative, formatTime, plural, shortId } from "../lib/format";
import { connectLive, type LiveStatus } from "../lib/live";
import { queryClient } from "../lib/query";
import { useCameras, useSites } from "../lib/sites";
import { BRAND } from "../theme";

function StatusBadge({ status }: { status: LiveStatus }) {
  if (status.state === "open") return <Badge status="processing" color="#15803d" text={<span className="font-medium text-green-800">Live</span>} />;
  if (status.state === "connecting") return <Badge status="default" text="Connecting…" />;
  if (status.state === "ended") return <Badge status="error" text="Signed out" />;
  const seconds = Math.ceil(status.retryInMs / 1000);
  if (status.unavailable) return <Badge status="warning" text={`Live updates unavailable · retrying in ${seconds} s`} />;
  return <Badge status="warning" text={`Reconnecting in ${seconds} s`} />;
}

export default function LivePage() {
  const { tenantId, claims } = useSession();
  const sites = useSites();
  const cameras = useCameras();
  const [status, setStatus] = useState<LiveStatus>({ state: "connecting", attempt: 0 });
  const [arrivals, setArrivals] = useState<Arrival[]>([]);
  const [siteId, setSiteId] = useState<string | null>(null);
  const [, setTick] = useState(0);

  useEffect(() => {
    setArrivals([]);
    if (!tenantId) return undefined;
    return connectLive({
      session,
      useFetch: claims?.role === "system_admin",
      onStatus: setStatus,
      onSighting: (event) => {
        setArrivals((list) => addSighting(list, event));
        // Lists and reports opened later fetch afresh.
        void queryClient.invalidateQueries({ queryKey: ["tenant", tenantId], refetchType: "none" });
      },
    });
  }, [tenantId, claims?.role]);

  useEffect(() => {
    const timer = setInterval(() => setTick((t) => t + 1), 10_000);
    return () => clearInterval(timer);
  }, []);

  const shown = siteId ? arrivals.filter((a) => a.siteId === siteId) : arrivals;
  const newCount = shown.filter((a) => a.isNew).length;

  return (
    <>
      <PageHeader
        title="Live monitor"
        subtitle="Visitors as the cameras recognise them. Staff are not shown."
        extra={
          <div className="flex items-center gap-4" aria-live="polite" data-testid="live-status" data-state={status.state}>
            <StatusBadge status={status} />
            <SiteSelect value={siteId} onChange={setSiteId} />
          </div>
        }
      />
      <div className="mb-6 grid grid-cols-1 gap-4 sm:grid-cols-3">
        <StatCard label="Visits since opened" value={shown.length} accent={BRAND.visits} />
        <StatCard label="New visitors" value={newCount} accent={BRAND.newVisitors} />
        <StatCard label="Returning visitors" value={shown.length - newCount} accent={BRAND.returning} />
      </div>
      <Card title="Arrivals" extra={<span className="text-sm text-slate-600">Newest first · last {Math.min(100, shown.length)}</span>}>
        {shown.length === 0 ? (
          <EmptyState
            title="Waiting for visitors…"
            hint="New visits appear here within a second of the edge worker sending them. Keep this page open."
          />
        ) : (
          <ul className="m-0 list-none divide-y divide-slate-100 p-0" aria-label="Arrivals" data-testid="arrivals">
            {shown.map((a) => (
              <li key={a.visitId} className="arrival flex items-center gap-4 py-3" data-visit-id={a.visitId}>
                <Snapshot visitId={a.visitId} version={a.snapshotVersion} available={a.hasSnapshot} size={56} label={`Visitor ${shortId(a.customerId)}`} />
                <div className="min-w-0 flex-1">
                  <div className="flex flex-wrap items-center gap-2">
                    <Link to={`/customers/${a.customerId}`} className="font-medium">
                      Visitor {shortId(a.customerId)}
                    </Link>
                    <VisitorPill isNew={a.isNew} newLabel="New visitor" />
                    {a.sightings > 1 && <span className="text-xs text-slate-600">{plural(a.sightings, "sighting")}</span>}
                  </div>
                  <div className="text-sm text-slate-600">
                    {sites.name(a.siteId)}
                    {a.cameraId && cameras.byId.get(a.cameraId) ? ` · ${cameras.byId.get(a.cameraId)?.name}` : ""}
                  </div>
                </div>
                <div className="text-right text-sm">
                  <div className="font-medium tabular-nums text-slate-900">{formatTime(a.lastAt, sites.zone(a.siteId))}</div>
                  <div className="text-slate-600">{formatRelative(a.lastAt, dayjs())}</div>
                </div>
              </li>
            ))}
          </ul>
        )}
      </Card>
    </>
  );
}
