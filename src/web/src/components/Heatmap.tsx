/**
 * Visits by local day (rows) and hour (columns): a table, so screen readers read it as one, with
 * the cell's shade for the eye and its number in the accessible name and the tooltip.
 */
import type { Heatmap as HeatmapData } from "../lib/reports";
import { plural } from "../lib/format";

const HOURS = Array.from({ length: 24 }, (_, hour) => hour);

function shade(visits: number, max: number): string {
  if (visits === 0 || max === 0) return "#f1f5f9";
  // teal-700 at the busiest hour, fading to a light tint; never fully transparent when non-zero
  const alpha = 0.15 + 0.85 * (visits / max);
  return `rgb(15 118 110 / ${alpha.toFixed(2)})`;
}

export function Heatmap({ data, caption }: { data: HeatmapData; caption: string }) {
  return (
    <div className="overflow-x-auto" data-testid="visitor-heatmap">
      <table className="w-full min-w-[640px] border-separate" style={{ borderSpacing: 2, tableLayout: "fixed" }}>
        <caption className="sr-only">{caption}</caption>
        <thead>
          <tr>
            <th scope="col" className="w-28 text-left text-xs font-medium text-slate-600">
              Day
            </th>
            {HOURS.map((hour) => (
              <th key={hour} scope="col" className="text-center text-[11px] font-normal text-slate-600 tabular-nums">
                {hour % 3 === 0 ? String(hour).padStart(2, "0") : <span className="sr-only">{String(hour).padStart(2, "0")}</span>}
              </th>
            ))}
            <th scope="col" className="w-14 pl-2 text-right text-xs font-medium text-slate-600">
              Total
            </th>
          </tr>
        </thead>
        <tbody>
          {data.days.map((day) => (
            <tr key={day.key}>
              <th scope="row" className="whitespace-nowrap pr-2 text-left text-xs font-medium text-slate-700">
                {day.label}
              </th>
              {HOURS.map((hour) => {
                const visits = day.hours[hour] ?? 0;
                const label = `${day.label}, ${String(hour).padStart(2, "0")}:00: ${plural(visits, "visit")}`;
                return (
                  <td
                    key={hour}
                    title={label}
                    aria-label={label}
                    className="h-6 rounded-sm"
                    style={{ background: shade(visits, data.max) }}
                  />
                );
              })}
              <td className="pl-2 text-right text-xs text-slate-700 tabular-nums">{day.total}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <p className="mt-2 mb-0 text-xs text-slate-600">Darker: more visits (busiest hour: {plural(data.max, "visit")}).</p>
    </div>
  );
}
