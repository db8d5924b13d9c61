import { DownloadOutlined } from "@ant-design/icons";
import { Button, Grid, Segmented } from "antd";
import { useMemo } from "react";
import { Link, useSearchParams } from "react-router-dom";

import { download } from "../api/client";
import type { Visit } from "../api/types";
import { DateRange } from "../components/DateRange";
import { EmptyState } from "../components/EmptyState";
import { ListPage } from "../components/ListPage";
import { LoadMore } from "../components/LoadMore";
import { VisitorPill } from "../components/Pill";
import { SiteSelect } from "../components/SiteSelect";
import { Snapshot } from "../components/Snapshot";
import { formatAtSite, formatDemographics, formatStay, shortId } from "../lib/format";
import { useAction } from "../lib/mutation";
import { apiWindow, parseFilters, reportZone } from "../lib/reports";
import { useSites } from "../lib/sites";
import { useVisitPages } from "../lib/visits";

type Kind = "all" | "new" | "repeat";

export default function VisitsPage() {
  const sites = useSites();
  const screens = Grid.useBreakpoint();
  const [params, setParams] = useSearchParams();
  const filters = parseFilters(params);
  const kind: Kind = params.get("kind") === "new" || params.get("kind") === "repeat" ? (params.get("kind") as Kind) : "all";
  const { run, busy } = useAction();

  const zone = reportZone(sites.sites, filters.siteId);
  const query = useMemo(() => {
    const range = apiWindow(filters, zone);
    return {
      from: range.from,
      to: range.to,
      ...(filters.siteId ? { site_id: filters.siteId } : {}),
      ...(kind !== "all" ? { new: kind === "new" } : {}),
    };
  }, [filters.from, filters.to, filters.siteId, kind, zone]); // eslint-disable-line react-hooks/exhaustive-deps

  const visits = useVisitPages(["list", query], query, 50, sites.isSuccess || sites.isError);

  const update = (changes: Record<string, string | null>) => {
    const next = new URLSearchParams(params);
    for (const [k, v] of Object.entries(changes)) {
      if (v === null || v === "") next.delete(k);
      else next.set(k, v);
    }
    setParams(next, { replace: true });
  };

  const exportCsv = () =>
    run(
      "csv",
      () => download(`/v1/visits/export.csv?${new URLSearchParams(Object.entries(query).map(([k, v]) => [k, String(v)]))}`, "visits.csv", "text/csv"),
      "CSV downloaded",
    );

  return (
    <ListPage<Visit>
      title="Visits"
      subtitle="Each visit is one person's stay at a site; sightings closer than the tenant's visit gap are folded together."
      headerExtra={
        <Button icon={<DownloadOutlined />} onClick={exportCsv} loading={busy === "csv"} data-testid="export-csv">
          Download CSV
        </Button>
      }
      list={{ query: visits.query, items: visits.items, pagination: false }}
      rowKey="visit_id"
      scrollX={screens.lg ? 900 : undefined}
      inlineError
      toolbar={
        <>
          <DateRange from={filters.from} to={filters.to} onChange={(from, to) => update({ from, to })} />
          <SiteSelect value={filters.siteId} onChange={(site) => update({ site })} />
          <Segmented<Kind>
            aria-label="Visitor type"
            value={kind}
            onChange={(v) => update({ kind: v === "all" ? null : v })}
            options={[
              { value: "all", label: "All" },
              { value: "new", label: "New" },
              { value: "repeat", label: "Returning" },
            ]}
          />
        </>
      }
      empty={<EmptyState title="No visits in this period" hint="Widen the date range or choose another site." />}
      footer={<LoadMore query={visits.query} className="flex justify-center border-t border-slate-100 p-4" />}
      columns={[
        {
          title: "Visitor",
          key: "visitor",
          render: (_, v) => (
            <Link to={`/customers/${v.customer_id}`} className="flex items-center gap-3">
              <Snapshot visitId={v.visit_id} size={40} label={`Visitor ${shortId(v.customer_id)}`} available={v.best_snapshot_key !== null} />
              <span className="min-w-0">
                <span className="block font-medium">Visitor {shortId(v.customer_id)}</span>
                {!screens.md && (
                  // Phones show one column: what the hidden ones say most, under the name.
                  <span className="block text-xs text-slate-600">
                    {formatAtSite(v.first_seen, sites.zone(v.site_id))} · {sites.name(v.site_id)}
                    {!screens.sm && <> · {v.is_new_customer ? "New" : "Returning"}</>}
                  </span>
                )}
              </span>
            </Link>
          ),
        },
        {
          title: "Arrived",
          dataIndex: "first_seen",
          render: (at: string, v) => formatAtSite(at, sites.zone(v.site_id)),
          width: 200,
          responsive: ["md"],
        },
        { title: "Site", dataIndex: "site_id", render: (id: string) => sites.name(id), responsive: ["md"] },
        {
          title: "Type",
          dataIndex: "is_new_customer",
          width: 110,
          responsive: ["sm"],
          render: (isNew: boolean) => <VisitorPill isNew={isNew} />,
        },
        {
          title: "Stayed",
          key: "stay",
          width: 110,
          responsive: ["lg"],
          render: (_, v) => formatStay(v.first_seen, v.last_seen, v.sightings) ?? <span className="text-slate-600">–</span>,
        },
        { title: "Sightings", dataIndex: "sightings", width: 100, align: "right", responsive: ["lg"] },
        { title: "Gender / age", key: "demo", width: 130, responsive: ["lg"], render: (_, v) => formatDemographics(v) },
      ]}
    />
  );
}
