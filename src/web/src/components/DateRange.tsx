import { DatePicker } from "antd";
import dayjs from "dayjs";

type Range = [dayjs.Dayjs, dayjs.Dayjs];

/** Computed at each render: a page left open overnight still offers today's ranges. */
function presets(): { label: string; value: Range }[] {
  const today = dayjs().startOf("day");
  return [
    { label: "Today", value: [today, today] },
    { label: "Last 7 days", value: [today.subtract(6, "day"), today] },
    { label: "Last 30 days", value: [today.subtract(29, "day"), today] },
    { label: "This month", value: [today.startOf("month"), today] },
    { label: "Last 12 months", value: [today.subtract(11, "month").startOf("month"), today] },
  ];
}

/** An inclusive range of local days as YYYY-MM-DD strings. */
export function DateRange({ from, to, onChange }: { from: string; to: string; onChange: (from: string, to: string) => void }) {
  return (
    <DatePicker.RangePicker
      aria-label="Date range"
      id={{ start: "range-from", end: "range-to" }}
      value={[dayjs(from), dayjs(to)]}
      allowClear={false}
      presets={presets()}
      format="D MMM YYYY"
      disabledDate={(d) => d.isAfter(dayjs().endOf("day"))}
      onChange={(range) => {
        if (range?.[0] && range[1]) onChange(range[0].format("YYYY-MM-DD"), range[1].format("YYYY-MM-DD"));
      }}
    />
  );
}
