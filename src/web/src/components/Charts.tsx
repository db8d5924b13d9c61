/**
 * Recharts-based charts, in the Reports chunk only. Each chart is a <figure> with a caption for
 * screen readers that states the numbers.
 */
import { Bar, BarChart, CartesianGrid, Cell, Legend, Line, LineChart, Pie, PieChart, ResponsiveContainer, Tooltip, XAxis, YAxis } from "recharts";

import type { ChartKind, SeriesPoint, Slice } from "../lib/reports";
import { formatShare } from "../lib/reports";
import { BRAND } from "../theme";

const AXIS = { fontSize: 12, fill: "#475569" };
// Series colours are for marks; tooltip text stays dark enough to read (WCAG AA).
const TOOLTIP = {
  contentStyle: { borderRadius: 8, borderColor: "#e2e8f0" },
  itemStyle: { color: "#1e293b" },
  labelStyle: { color: "#0f172a", fontWeight: 600 },
};
const SERIES = [
  { key: "visits", name: "Visits", color: BRAND.visits },
  { key: "unique", name: "Unique visitors", color: BRAND.unique },
  { key: "newVisitors", name: "New visitors", color: BRAND.newVisitors },
] as const;

export function VisitorChart({ data, kind, caption }: { data: SeriesPoint[]; kind: ChartKind; caption: string }) {
  const common = (
    <>
      <CartesianGrid stroke="#e2e8f0" vertical={false} />
      <XAxis dataKey="label" tick={AXIS} tickLine={false} axisLine={{ stroke: "#cbd5e1" }} minTickGap={16} padding={{ left: 12, right: 24 }} />
      <YAxis allowDecimals={false} tick={AXIS} tickLine={false} axisLine={false} width={40} />
      <Tooltip {...TOOLTIP} />
      <Legend iconType="circle" wrapperStyle={{ fontSize: 13 }} itemSorter={null} />
    </>
  );
  return (
    <figure className="m-0" aria-label={caption}>
      <figcaption className="sr-only">{caption}</figcaption>
      <div className="h-[320px]" data-testid="visitor-chart">
        <ResponsiveContainer width="100%" height="100%">
          {kind === "bar" ? (
            <BarChart data={data} margin={{ top: 8, right: 16, left: 0, bottom: 0 }}>
              {common}
              {SERIES.map((s) => (
                <Bar key={s.key} dataKey={s.key} name={s.name} fill={s.color} radius={[4, 4, 0, 0]} maxBarSize={28} isAnimationActive={false} />
              ))}
            </BarChart>
          ) : (
            <LineChart data={data} margin={{ top: 8, right: 16, left: 0, bottom: 0 }}>
              {common}
              {SERIES.map((s) => (
                <Line key={s.key} type="monotone" dataKey={s.key} name={s.name} stroke={s.color} strokeWidth={2} dot={data.length <= 31} isAnimationActive={false} />
              ))}
            </LineChart>
          )}
        </ResponsiveContainer>
      </div>
    </figure>
  );
}

const PIE_COLORS: Record<string, string> = {
  new: BRAND.newVisitors,
  repeat: BRAND.returning,
  female: "#db2777",
  male: "#2563eb",
  unknown: BRAND.muted,
};

export function DonutChart({ slices, caption }: { slices: Slice[]; caption: string }) {
  return (
    <figure className="m-0" aria-label={caption}>
      <figcaption className="sr-only">{caption}</figcaption>
      <div className="flex flex-wrap items-center justify-center gap-x-6 gap-y-3">
        <div className="h-[160px] w-[160px] shrink-0">
          <ResponsiveContainer width="100%" height="100%">
            <PieChart>
              <Pie data={slices} dataKey="visits" nameKey="label" innerRadius={48} outerRadius={74} paddingAngle={2} isAnimationActive={false}>
                {slices.map((s) => (
                  <Cell key={s.key} fill={PIE_COLORS[s.key] ?? BRAND.muted} />
                ))}
              </Pie>
              <Tooltip {...TOOLTIP} />
            </PieChart>
          </ResponsiveContainer>
        </div>
        <ul className="m-0 min-w-[150px] flex-1 list-none space-y-2 p-0 text-sm">
          {slices.map((s) => (
            <li key={s.key} className="flex items-center gap-2">
              <span aria-hidden className="h-2.5 w-2.5 shrink-0 rounded-full" style={{ background: PIE_COLORS[s.key] ?? BRAND.muted }} />
              <span className="flex-1 text-slate-700">{s.label}</span>
              <span className="font-medium tabular-nums text-slate-900">{s.visits}</span>
              <span className="w-10 text-right tabular-nums text-slate-600">{formatShare(s.share)}</span>
            </li>
          ))}
        </ul>
      </div>
    </figure>
  );
}

export function WeekdayChart({ slices, caption }: { slices: Slice[]; caption: string }) {
  return (
    <figure className="m-0" aria-label={caption}>
      <figcaption className="sr-only">{caption}</figcaption>
      <div className="h-[180px]">
        <ResponsiveContainer width="100%" height="100%">
          <BarChart data={slices} margin={{ top: 4, right: 4, left: 0, bottom: 0 }}>
            <CartesianGrid stroke="#e2e8f0" vertical={false} />
            <XAxis dataKey="label" tick={AXIS} tickLine={false} axisLine={{ stroke: "#cbd5e1" }} />
            <YAxis allowDecimals={false} tick={AXIS} tickLine={false} axisLine={false} width={32} />
            <Tooltip {...TOOLTIP} />
            <Bar dataKey="visits" name="Visits" fill={BRAND.visits} radius={[4, 4, 0, 0]} maxBarSize={32} isAnimationActive={false} />
          </BarChart>
        </ResponsiveContainer>
      </div>
    </figure>
  );
}
