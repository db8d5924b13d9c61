import dayjs from "dayjs";
import { describe, expect, it } from "vitest";

import type { DistributionReport, VisitorReport } from "../api/types";
import { apiWindow, bucketCount, bucketLabel, defaultFilters, distributionSlices, filtersToParams, formatShare, granularityForRange, hasVisits, heatmap, parseFilters, reportZone, summarize, visitorSeries, wantsHeatmap } from "./reports";

const TODAY = dayjs("2026-11-25T10:00:00");
const SITE = "0b8e7c2a-1d3f-4e5a-9b6c-7d8e9f0a1b2c";

function visitorReport(overrides: Partial<VisitorReport> = {}): VisitorReport {
  return {
    granularity: "day",
    timezone: "Europe/Berlin",
    site_id: null,
    start: "2026-11-22T23:00:00Z",
    end: "2026-11-25T23:00:00Z",
    total_visits: 9,
    total_unique_visitors: 6,
    buckets: [
      { start: "2026-11-22T23:00:00Z", visits: 2, unique_visitors: 2, new_visitors: 2 },
      { start: "2026-11-23T23:00:00Z", visits: 0, unique_visitors: 0, new_visitors: 0 },
      { start: "2026-11-24T23:00:00Z", visits: 7, unique_visitors: 5, new_visitors: 3 },
    ],
    ...overrides,
  };
}

describe("report filters in the URL", () => {
  it("defaults to the last 7 days by day, all sites, line chart", () => {
    expect(parseFilters(new URLSearchParams(), TODAY)).toEqual({
      from: "2026-11-19",
      to: "2026-11-25",
      siteId: null,
      granularity: "day",
      chart: "line",
    });
  });

  it("reads valid values and ignores malformed ones", () => {
    const good = parseFilters(new URLSearchParams(`from=2026-10-01&to=2026-10-31&site=${SITE}&g=week&chart=bar`), TODAY);
    expect(good).toEqual({ from: "2026-10-01", to: "2026-10-31", siteId: SITE, granularity: "week", chart: "bar" });
    const bad = parseFilters(new URLSearchParams("from=yesterday&to=2026-13-45&site=not-a-uuid&g=minute&chart=pie"), TODAY);
    expect(bad).toEqual(defaultFilters(TODAY));
  });

  it("puts a reversed range in order", () => {
    const f = parseFilters(new URLSearchParams("from=2026-11-20&to=2026-11-01"), TODAY);
    expect([f.from, f.to]).toEqual(["2026-11-01", "2026-11-20"]);
  });

  it("round-trips through the query string and keeps unrelated parameters", () => {
    const filters = { from: "2026-11-01", to: "2026-11-07", siteId: SITE, granularity: "hour" as const, chart: "bar" as const };
    const params = filtersToParams(filters, new URLSearchParams("kind=new&site=old"));
    expect(params.get("kind")).toBe("new");
    expect(parseFilters(params, TODAY)).toEqual(filters);
    expect(filtersToParams({ ...filters, siteId: null }, params).has("site")).toBe(false);
  });
});

describe("the API window", () => {
  it("turns inclusive days into [from, to) instants of the report's zone", () => {
    expect(apiWindow({ from: "2026-11-19", to: "2026-11-25" }, "Europe/Berlin")).toEqual({
      from: "2026-11-18T23:00:00.000Z",
      to: "2026-11-25T23:00:00.000Z",
    });
    expect(apiWindow({ from: "2026-11-25", to: "2026-11-25" }, "UTC")).toEqual({
      from: "2026-11-25T00:00:00.000Z",
      to: "2026-11-26T00:00:00.000Z",
    });
  });

  it("follows daylight saving time (a 23-hour day)", () => {
    const w = apiWindow({ from: "2026-03-29", to: "2026-03-29" }, "Europe/Berlin");
    expect(w).toEqual({ from: "2026-03-28T23:00:00.000Z", to: "2026-03-29T22:00:00.000Z" });
  });

  it("uses the site's zone, the zone all sites share, else UTC", () => {
    const sites = [
      { id: "a", timezone: "Europe/Berlin" },
      { id: "b", timezone: "Europe/Berlin" },
    ];
    expect(reportZone(sites, null)).toBe("Europe/Berlin");
    expect(reportZone([...sites, { id: "c", timezone: "America/New_York" }], null)).toBe("UTC");
    expect(reportZone([...sites, { id: "c", timezone: "America/New_York" }], "c")).toBe("America/New_York");
    expect(reportZone([], null)).toBe("UTC");
  });

  it("keeps a granularity unless the range makes it unreadable", () => {
    expect(bucketCount({ from: "2026-11-01", to: "2026-11-30" }, "hour")).toBe(720);
    expect(granularityForRange({ from: "2026-11-01", to: "2026-11-30" }, "hour")).toBe("day");
    expect(granularityForRange({ from: "2026-11-01", to: "2026-11-30" }, "week")).toBe("week");
    expect(granularityForRange({ from: "2026-11-25", to: "2026-11-25" }, "day")).toBe("hour");
    expect(granularityForRange({ from: "2024-01-01", to: "2026-11-25" }, "day")).toBe("month");
  });
});

describe("report transforms", () => {
  it("labels buckets in the report's time zone", () => {
    expect(bucketLabel("2026-11-24T23:00:00Z", "day", "Europe/Berlin")).toBe("Wed 25 Nov");
    expect(bucketLabel("2026-11-24T23:00:00Z", "day", "UTC")).toBe("Tue 24 Nov");
    expect(bucketLabel("2026-11-25T13:00:00Z", "hour", "Europe/Berlin")).toBe("25 Nov, 14:00");
    expect(bucketLabel("2026-11-22T23:00:00Z", "week", "Europe/Berlin")).toBe("Week of 23 Nov");
    expect(bucketLabel("2026-10-31T23:00:00Z", "month", "Europe/Berlin")).toBe("Nov 2026");
  });

  it("shapes buckets into chart points with returning visitors", () => {
    const series = visitorSeries(visitorReport());
    expect(series.map((p) => p.label)).toEqual(["Mon 23 Nov", "Tue 24 Nov", "Wed 25 Nov"]);
    expect(series[2]).toMatchObject({ visits: 7, unique: 5, newVisitors: 3, returning: 2 });
  });

  it("summarizes: totals, new visitors, repeat visits and the busiest bucket", () => {
    const summary = summarize(visitorReport());
    expect(summary).toMatchObject({ visits: 9, uniqueVisitors: 6, newVisitors: 5, repeatVisits: 4 });
    expect(summary.repeatShare).toBeCloseTo(4 / 9);
    expect(summary.peak?.label).toBe("Wed 25 Nov");
    expect(formatShare(summary.repeatShare)).toBe("44%");

    const empty = summarize(visitorReport({ total_visits: 0, total_unique_visitors: 0, buckets: [] }));
    expect(empty).toMatchObject({ visits: 0, repeatShare: null, peak: null });
    expect(formatShare(empty.repeatShare)).toBe("–");
  });

  it("labels distribution slices and computes shares", () => {
    const report: DistributionReport = {
      kind: "new_vs_repeat",
      timezone: "UTC",
      site_id: null,
      start: "2026-11-18T00:00:00Z",
      end: "2026-11-25T00:00:00Z",
      slices: [
        { key: "new", visits: 3, unique_visitors: 3 },
        { key: "repeat", visits: 1, unique_visitors: 1 },
      ],
    };
    const slices = distributionSlices(report);
    expect(slices.map((s) => [s.label, s.share])).toEqual([
      ["New", 0.75],
      ["Returning", 0.25],
    ]);
    expect(hasVisits(slices)).toBe(true);
    const dow = distributionSlices({ ...report, kind: "dow", slices: [{ key: "mon", visits: 0, unique_visitors: 0 }] });
    expect(dow[0]).toMatchObject({ label: "Mon", share: 0 });
    expect(hasVisits(dow)).toBe(false);
    expect(distributionSlices({ ...report, kind: "gender", slices: [{ key: "unknown", visits: 1, unique_visitors: 1 }] })[0]?.label).toBe(
      "Unknown",
    );
  });
});

describe("heatmap", () => {
  const hourly = (hours: number, visitsAt: (i: number) => number): VisitorReport => ({
    granularity: "hour",
    timezone: "Europe/Berlin",
    site_id: null,
    start: "2026-11-16T23:00:00Z",
    end: dayjs("2026-11-16T23:00:00Z").add(hours, "hour").toISOString(),
    total_visits: 0,
    total_unique_visitors: 0,
    buckets: Array.from({ length: hours }, (_, i) => ({
      start: dayjs("2026-11-16T23:00:00Z").add(i, "hour").toISOString(),
      visits: visitsAt(i),
      unique_visitors: visitsAt(i),
      new_visitors: 0,
    })),
  });

  it("is wanted for hourly reports over more than two days only", () => {
    expect(wantsHeatmap(hourly(48, () => 0))).toBe(false);
    expect(wantsHeatmap(hourly(7 * 24, () => 0))).toBe(true);
    expect(wantsHeatmap({ ...hourly(7 * 24, () => 0), granularity: "day" })).toBe(false);
  });

  it("puts each hourly bucket in its local day and hour", () => {
    // Bucket 0 starts at 23:00Z = 00:00 in Berlin on 17 Nov; bucket 34 is 18 Nov, 10:00 local.
    const data = heatmap(hourly(7 * 24, (i) => (i === 0 ? 2 : i === 34 ? 5 : 0)));
    expect(data.days).toHaveLength(7);
    expect(data.days[0]?.key).toBe("2026-11-17");
    expect(data.days[0]?.hours[0]).toBe(2);
    expect(data.days[1]?.hours[10]).toBe(5);
    expect(data.days[1]?.total).toBe(5);
    expect(data.max).toBe(5);
  });
});
