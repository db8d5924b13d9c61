import dayjs from "dayjs";
import relativeTime from "dayjs/plugin/relativeTime";

dayjs.extend(relativeTime);

export function formatDateTime(iso: string | null | undefined): string {
  return iso ? dayjs(iso).format("D MMM YYYY, HH:mm") : "–";
}

export function formatTime(iso: string): string {
  return dayjs(iso).format("HH:mm:ss");
}

export function formatRelative(iso: string | null | undefined, now: dayjs.Dayjs = dayjs()): string {
  return iso ? dayjs(iso).from(now) : "never";
}

export function shortId(id: string): string {
  return id.slice(0, 8);
}

export function customerName(customer: { display_name?: string | null; customer_id: string }): string {
  return customer.display_name || `Visitor ${shortId(customer.customer_id)}`;
}

export function formatDuration(fromIso: string, toIso: string): string {
  const seconds = Math.max(0, dayjs(toIso).diff(dayjs(fromIso), "second"));
  if (seconds < 60) return `${seconds} s`;
  const minutes = Math.round(seconds / 60);
  if (minutes < 60) return `${minutes} min`;
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

/** How long a visit lasted; a single sighting has no duration. */
export function formatStay(fromIso: string, toIso: string, sightings: number): string | null {
  return sightings > 1 ? formatDuration(fromIso, toIso) : null;
}

export function plural(count: number, one: string, many = `${one}s`): string {
  return `${count} ${count === 1 ? one : many}`;
}

export function formatNumber(value: number): string {
  return new Intl.NumberFormat("en-GB").format(value);
}
