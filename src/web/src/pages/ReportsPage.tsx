import { Card, Segmented, Skeleton } from "antd";
import { lazy, Suspense, useEffect } from "react";
import { useSearchParams } from "react-router-dom";

import { api, unwrap } from "../api/client";
import type { DistributionKind, Granularity } from "../api/types";
import { DateRange } from "../components/DateRange";
import { EmptyState } from "../components/EmptyState";
import { Heatmap } from "../components/Heatmap";
import { PageHeader } from "../components/PageHeader";
import { ProblemAlert } from "../components/ProblemAlert";
import { SiteSelect } from "../components/SiteSelect";
import { StatCard } from "../components/StatCard";
import { formatNumber, plural } from "../lib/format";
import { useTenantQuery } from "../lib/query";
import { useSites } from "../lib/sites";
import {
  apiWindow,
  distributionSlices,
  filtersToParams,
  formatShare,
  granularityForRange,
  hasVisits,
  heatmap,
  parseFilters,
  reportZone,
  summarize,
  visitorSeries,
  wantsHeatmap,
  type ChartKind,
  type ReportFilters,
} from "../lib/reports";
import { BRAND } from "../theme";

// Recharts is the heaviest library here: it loads beside the page, which renders its filters and
// figures without waiting for it.
const VisitorChart = lazy(() => import("../components/Charts").then((m) => ({ default: m.VisitorChart })));
const DonutChart = lazy(() => import("../components/Charts").then((m) => ({ default: m.DonutChart })));
const WeekdayChart = lazy(() => import("../components/Charts").then((m) => ({ default: m.WeekdayChart })));

function ChartFallback({ height }: { height: number }) {
  return <Skeleton.Node active className="!block" style={{ width: "100%", height }} />;
}

/** Reports are fetched again whenever the page is opened, and every minute while it is open. */
const LIVE_REPORT = { staleTime: 0, refetchInterval: 60_000 } as const;

const GRANULARITY_LABEL: Record<Granularity, string> = { hour: "hour", day: "day", week: "week", month: "month" };

function useReportFilters(): [ReportFilters, (changes: Partial<ReportFilters>) => void] {
  const [params, setParams] = useSearchParams();
  const filters = parseFilters(params);
  const update = (changes: Partial<ReportFilters>) => setParams(filtersToParams({ ...filters, ...changes }, params), { replace: true });
  return [filters, update];
}

function Distribution({
  kind,
  filters,
  range,
  title,
  ready,
}: {
  kind: DistributionKind;
  filters: ReportFilters;
  range: { from: string; to: string };
  title: string;
  ready: boolean;
}) {
  const query = useTenantQuery(
    ["reports", "distribution", kind, filters.siteId, range],
    () => unwrap(api.GET("/v1/reports/distribution", { params: { query: { kind, ...range, ...(filters.siteId ? { site_id: filters.siteId } : {}) } } })),
    { ...LIVE_REPORT, enabled: ready },
  );
  const slices = query.data ? distributionSlices(query.data) : [];
  const caption = `${title}: ${slices.map((s) => `${s.label} ${plural(s.visits, "visit")}`).join(", ")}`;
  return (
    <Card title={title} className="h-full" data-testid={`distribution-${kind}`}>
      <ProblemAlert error={query.error} />
      {!ready || query.isLoading ? (
        <Skeleton active paragraph={{ rows: 4 }} />
      ) : query.data && !hasVisits(slices) ? (
        <EmptyState title="No visits in this period" />
      ) : query.data ? (
        <Suspense fallback={<ChartFallback height={180} />}>
          {kind === "dow" ? <WeekdayChart slices={slices} caption={caption} /> : <DonutChart slices={slices} caption={caption} />}
        </Suspense>
      ) : null}
    </Card>
  );
}

export default function ReportsPage() {
  const [filters, update] = useReportFilters();
  useEffect(() => {
    void import("../components/Charts"); // fetch the charts while the report data is on its way
  }, []);
  const sites = useSites();
  // Days are the report zone's days; wait for the sites to know it (one request, not two).
  const ready = sites.isSuccess || sites.isError;
  const range = apiWindow(filters, reportZone(sites.sites, filters.siteId));
  const visitors = useTenantQuery(
    ["reports", "visitors", filters.granularity, filters.siteId, range],
    () =>
      unwrap(
        api.GET("/v1/reports/visitors", {
          params: { query: { granularity: filters.granularity, ...range, ...(filters.siteId ? { site_id: filters.siteId } : {}) } },
        }),
      ),
    { ...LIVE_REPORT, enabled: ready },
  );
  const report = visitors.data;
  const series = report ? visitorSeries(report) : [];
  const summary = report ? summarize(report) : null;
  const loading = !ready || visitors.isLoading;
  const caption = `Visits per ${filters.granularity}: ${series.map((p) => `${p.label} ${p.visits}`).join(", ")}`;
  // Hourly over several days: a day × hour heat map (when to staff), not a row of 168 bars.
  const byDayAndHour = report && wantsHeatmap(report) ? heatmap(report) : null;

  return (
    <>
      <PageHeader
        title="Reports"
        subtitle={
          report
            ? `Visitors in ${report.timezone === "UTC" && !filters.siteId ? "each site's local time (labels in UTC)" : `${report.timezone} time`}`
            : "Visitors per period, new versus returning, by gender and weekday."
        }
      />
      <Card className="!mb-6" styles={{ body: { padding: 16 } }}>
        <div className="flex flex-wrap items-center gap-3" role="group" aria-label="Report filters">
          <DateRange
            from={filters.from}
            to={filters.to}
            onChange={(from, to) => update({ from, to, granularity: granularityForRange({ from, to }, filters.granularity) })}
          />
          <SiteSelect value={filters.siteId} onChange={(siteId) => update({ siteId })} />
          <Segmented<Granularity>
            aria-label="Granularity"
            value={filters.granularity}
            onChange={(granularity) => update({ granularity })}
            options={[
              { value: "hour", label: "Hour" },
              { value: "day", label: "Day" },
              { value: "week", label: "Week" },
              { value: "month", label: "Month" },
            ]}
          />
          <Segmented<ChartKind>
            aria-label="Chart type"
            className={`lg:ml-auto${byDayAndHour ? " invisible" : ""}`}
            value={filters.chart}
            onChange={(chart) => update({ chart })}
            options={[
              { value: "line", label: "Line" },
              { value: "bar", label: "Bars" },
            ]}
          />
        </div>
      </Card>
      <ProblemAlert error={visitors.error} className="mb-6" onRetry={() => void visitors.refetch()} />
      <div className="mb-6 grid grid-cols-2 gap-4 xl:grid-cols-4">
        <StatCard
          label="Visits"
          value={summary ? formatNumber(summary.visits) : "–"}
          loading={loading}
          accent={BRAND.visits}
          hint={summary?.peak ? `Busiest: ${summary.peak.label}` : undefined}
        />
        <StatCard label="Unique visitors" value={summary ? formatNumber(summary.uniqueVisitors) : "–"} loading={loading} accent={BRAND.unique} />
        <StatCard
          label="New visitors"
          value={summary ? formatNumber(summary.newVisitors) : "–"}
          loading={loading}
          accent={BRAND.newVisitors}
          hint="First visit ever in this period"
        />
        <StatCard
          label="Repeat visits"
          value={summary ? formatShare(summary.repeatShare) : "–"}
          loading={loading}
          accent={BRAND.returning}
          hint={summary ? `${formatNumber(summary.repeatVisits)} by customers seen before` : undefined}
        />
      </div>
      <Card title={byDayAndHour ? "Visits by day and hour" : `Visitors per ${GRANULARITY_LABEL[filters.granularity]}`} className="!mb-6">
        {loading ? (
          <Skeleton active paragraph={{ rows: 8 }} />
        ) : report && report.total_visits === 0 ? (
          <EmptyState title="No visits in this period" hint="Choose a longer range, another site, or check that the cameras are sending." />
        ) : byDayAndHour ? (
          <Heatmap data={byDayAndHour} caption={`Visits by day and hour in ${report?.timezone ?? "UTC"} time`} />
        ) : report ? (
          <Suspense fallback={<ChartFallback height={320} />}>
            <VisitorChart data={series} kind={filters.chart} caption={caption} />
          </Suspense>
        ) : null}
      </Card>
      <div className="grid gap-6 lg:grid-cols-3">
        <Distribution kind="new_vs_repeat" filters={filters} range={range} ready={ready} title="New vs returning" />
        <Distribution kind="gender" filters={filters} range={range} ready={ready} title="Gender" />
        <Distribution kind="dow" filters={filters} range={range} ready={ready} title="Day of week" />
      </div>
    </>
  );
}
