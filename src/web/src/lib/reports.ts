/**
 * Report filters kept in the URL, and the API's report bodies shaped for charts and tiles.
 * Pure functions: unit-tested without a browser.
 */
import dayjs, { type Dayjs } from "dayjs";
import timezone from "dayjs/plugin/timezone";
import utc from "dayjs/plugin/utc";

import type { DistributionKind, DistributionReport, Granularity, VisitorReport } from "../api/types";

dayjs.extend(utc);
dayjs.extend(timezone);

export const GRANULARITIES: readonly Granularity[] = ["hour", "day", "week", "month"];
export type ChartKind = "line" | "bar";

export interface ReportFilters {
  /** First local day, YYYY-MM-DD (inclusive). */
  from: string;
  /** Last local day, YYYY-MM-DD (inclusive). */
  to: string;
  siteId: string | null;
  granularity: Granularity;
  chart: ChartKind;
}

const DAY = /^\d{4}-\d{2}-\d{2}$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function defaultFilters(today: Dayjs = dayjs()): ReportFilters {
  return {
    from: today.subtract(6, "day").format("YYYY-MM-DD"),
    to: today.format("YYYY-MM-DD"),
    siteId: null,
    granularity: "day",
    chart: "line",
  };
}

function validDay(value: string | null): value is string {
  // Real calendar days only: "2026-13-45" would otherwise roll over into 2027.
  return value !== null && DAY.test(value) && dayjs(value).format("YYYY-MM-DD") === value;
}

/** Filters from the query string; anything missing or malformed falls back to the default. */
export function parseFilters(params: URLSearchParams, today: Dayjs = dayjs()): ReportFilters {
  const defaults = defaultFilters(today);
  let from = validDay(params.get("from")) ? (params.get("from") as string) : defaults.from;
  let to = validDay(params.get("to")) ? (params.get("to") as string) : defaults.to;
  if (from > to) [from, to] = [to, from];
  const site = params.get("site");
  const g = params.get("g");
  const chart = params.get("chart");
  return {
    from,
    to,
    siteId: site && UUID.test(site) ? site : null,
    granularity: GRANULARITIES.includes(g as Granularity) ? (g as Granularity) : defaults.granularity,
    chart: chart === "bar" ? "bar" : "line",
  };
}

/** The query string for `filters`, merged into `base` (other pages' params survive). */
export function filtersToParams(filters: ReportFilters, base?: URLSearchParams): URLSearchParams {
  const params = new URLSearchParams(base);
  params.set("from", filters.from);
  params.set("to", filters.to);
  if (filters.siteId) params.set("site", filters.siteId);
  else params.delete("site");
  params.set("g", filters.granularity);
  params.set("chart", filters.chart);
  return params;
}

/**
 * The API's [from, to) window for the inclusive range of days, as days of `timeZone` (the
 * report's zone: the site's, so "25 Nov" is the store's 25 November wherever the browser is).
 */
export function apiWindow(filters: Pick<ReportFilters, "from" | "to">, timeZone = "UTC"): { from: string; to: string } {
  return {
    from: dayjs.tz(filters.from, timeZone).toISOString(),
    // The next day's midnight, not +24 h: a day is 23 or 25 hours long when the clocks change.
    to: dayjs.tz(dayjs(filters.to).add(1, "day").format("YYYY-MM-DD"), timeZone).toISOString(),
  };
}

/**
 * The zone the API reports in (see GET /v1/reports/visitors): the chosen site's; without one,
 * the zone every visible site shares, else UTC.
 */
export function reportZone(sites: readonly { id: string; timezone: string }[], siteId: string | null): string {
  if (siteId) return sites.find((s) => s.id === siteId)?.timezone ?? "UTC";
  const zones = new Set(sites.map((s) => s.timezone));
  return zones.size === 1 ? ([...zones][0] ?? "UTC") : "UTC";
}

const BUCKET_DAYS: Record<Granularity, number> = { hour: 1 / 24, day: 1, week: 7, month: 30 };

/** About how many buckets (chart points) the range has at `granularity`. */
export function bucketCount(filters: Pick<ReportFilters, "from" | "to">, granularity: Granularity): number {
  const days = dayjs(filters.to).diff(dayjs(filters.from), "day") + 1;
  return Math.ceil(days / BUCKET_DAYS[granularity]);
}

/** The granularity to use after the range changed: keep it unless it gives too many or too few points. */
export function granularityForRange(filters: Pick<ReportFilters, "from" | "to">, current: Granularity): Granularity {
  const count = bucketCount(filters, current);
  return count > 400 || count < 2 ? suggestedGranularity(filters) : current;
}

/** A granularity that gives a readable number of points for the range. */
export function suggestedGranularity(filters: Pick<ReportFilters, "from" | "to">): Granularity {
  const days = dayjs(filters.to).diff(dayjs(filters.from), "day") + 1;
  if (days <= 2) return "hour";
  if (days <= 62) return "day";
  if (days <= 366) return "week";
  return "month";
}

const formatters = new Map<string, Intl.DateTimeFormat>();
function formatter(timeZone: string, options: Intl.DateTimeFormatOptions, locale?: string): Intl.DateTimeFormat {
  const key = JSON.stringify([timeZone, options, locale]);
  let found = formatters.get(key);
  if (!found) {
    found = new Intl.DateTimeFormat(locale ?? "en-GB", { ...options, timeZone });
    formatters.set(key, found);
  }
  return found;
}

/** The label of a bucket starting at `iso`, in the report's time zone. */
export function bucketLabel(iso: string, granularity: Granularity, timeZone: string, locale?: string): string {
  const date = new Date(iso);
  switch (granularity) {
    case "hour":
      return formatter(timeZone, { day: "numeric", month: "short", hour: "2-digit", minute: "2-digit", hourCycle: "h23" }, locale).format(date);
    case "day":
      return formatter(timeZone, { weekday: "short", day: "numeric", month: "short" }, locale).format(date);
    case "week":
      return `Week of ${formatter(timeZone, { day: "numeric", month: "short" }, locale).format(date)}`;
    case "month":
      return formatter(timeZone, { month: "short", year: "numeric" }, locale).format(date);
  }
}

export interface SeriesPoint {
  start: string;
  label: string;
  visits: number;
  unique: number;
  newVisitors: number;
  returning: number;
}

export function visitorSeries(report: VisitorReport, locale?: string): SeriesPoint[] {
  return report.buckets.map((bucket) => ({
    start: bucket.start,
    label: bucketLabel(bucket.start, report.granularity, report.timezone, locale),
    visits: bucket.visits,
    unique: bucket.unique_visitors,
    newVisitors: bucket.new_visitors,
    returning: Math.max(0, bucket.unique_visitors - bucket.new_visitors),
  }));
}

export interface ReportSummary {
  visits: number;
  uniqueVisitors: number;
  /** Customers whose first visit ever falls in the period. */
  newVisitors: number;
  /** Visits by customers seen before that visit (every visit but a new customer's first). */
  repeatVisits: number;
  /** repeatVisits / visits, 0..1 (null without visits). */
  repeatShare: number | null;
  /** The busiest bucket, or null when there were no visits. */
  peak: SeriesPoint | null;
}

export function summarize(report: VisitorReport, locale?: string): ReportSummary {
  const series = visitorSeries(report, locale);
  const newVisitors = series.reduce((sum, p) => sum + p.newVisitors, 0);
  const repeatVisits = Math.max(0, report.total_visits - newVisitors);
  const peak = series.reduce<SeriesPoint | null>((best, p) => (p.visits > 0 && (!best || p.visits > best.visits) ? p : best), null);
  return {
    visits: report.total_visits,
    uniqueVisitors: report.total_unique_visitors,
    newVisitors,
    repeatVisits,
    repeatShare: report.total_visits > 0 ? repeatVisits / report.total_visits : null,
    peak,
  };
}

const SLICE_LABELS: Record<DistributionKind, Record<string, string>> = {
  new_vs_repeat: { new: "New", repeat: "Returning" },
  gender: { female: "Female", male: "Male", unknown: "Unknown" },
  dow: { mon: "Mon", tue: "Tue", wed: "Wed", thu: "Thu", fri: "Fri", sat: "Sat", sun: "Sun" },
};

export function sliceLabel(kind: DistributionKind, key: string): string {
  return SLICE_LABELS[kind][key] ?? key;
}

export interface Slice {
  key: string;
  label: string;
  visits: number;
  unique: number;
  /** Share of the report's visits, 0..1. */
  share: number;
}

export function distributionSlices(report: DistributionReport): Slice[] {
  const total = report.slices.reduce((sum, s) => sum + s.visits, 0);
  return report.slices.map((s) => ({
    key: s.key,
    label: sliceLabel(report.kind, s.key),
    visits: s.visits,
    unique: s.unique_visitors,
    share: total > 0 ? s.visits / total : 0,
  }));
}

export function hasVisits(slices: readonly Slice[]): boolean {
  return slices.some((s) => s.visits > 0);
}

export function formatShare(share: number | null): string {
  return share === null ? "–" : `${Math.round(share * 100)}%`;
}

/** Hourly buckets over more days than this read better as a day × hour heat map than as bars. */
export const HEATMAP_AFTER_DAYS = 2;

export interface HeatmapDay {
  key: string;
  label: string;
  /** Visits per local hour 0..23. */
  hours: number[];
  total: number;
}

export interface Heatmap {
  days: HeatmapDay[];
  max: number;
}

/**
 * An hourly report as rows of local days and columns of local hours (the report's zone): the view
 * a store manager staffs by. A day-light-saving day simply adds to (or skips) an hour.
 */
export function heatmap(report: VisitorReport, locale?: string): Heatmap {
  const parts = formatter(report.timezone, { year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", hourCycle: "h23" }, "en-CA");
  const days = new Map<string, HeatmapDay>();
  for (const bucket of report.buckets) {
    const date = new Date(bucket.start);
    const found = Object.fromEntries(parts.formatToParts(date).map((p) => [p.type, p.value]));
    const key = `${found.year}-${found.month}-${found.day}`;
    let day = days.get(key);
    if (!day) {
      const label = formatter(report.timezone, { weekday: "short", day: "numeric", month: "short" }, locale).format(date);
      day = { key, label, hours: new Array<number>(24).fill(0), total: 0 };
      days.set(key, day);
    }
    const hour = Number(found.hour) % 24;
    day.hours[hour] = (day.hours[hour] ?? 0) + bucket.visits;
    day.total += bucket.visits;
  }
  const rows = [...days.values()].sort((a, b) => a.key.localeCompare(b.key));
  return { days: rows, max: Math.max(0, ...rows.flatMap((d) => d.hours)) };
}

/** Whether the report is best shown as a heat map. */
export function wantsHeatmap(report: VisitorReport): boolean {
  return report.granularity === "hour" && report.buckets.length > HEATMAP_AFTER_DAYS * 24;
}
