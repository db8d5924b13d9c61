import dayjs from "dayjs";
import relativeTime from "dayjs/plugin/relativeTime";

dayjs.extend(relativeTime);

const dateTimeFormats = new Map<string, Intl.DateTimeFormat>();

function zoned(options: Intl.DateTimeFormatOptions, timeZone: string | undefined): Intl.DateTimeFormat {
  const key = `${JSON.stringify(options)}|${timeZone ?? ""}`;
  let format = dateTimeFormats.get(key);
  if (!format) {
    format = new Intl.DateTimeFormat("en-GB", { ...options, timeZone, timeZoneName: "short" });
    dateTimeFormats.set(key, format);
  }
  return format;
}

const DATE_TIME: Intl.DateTimeFormatOptions = { day: "numeric", month: "short", year: "numeric", hour: "2-digit", minute: "2-digit" };

/**
 * A moment at a site, in the site's zone with the zone named. One rule for every page: what
 * happened at a site is shown in its zone (as Reports count it); the browser's zone only where no
 * site applies (`formatDateTime`).
 */
export function formatAtSite(iso: string | null | undefined, timeZone: string | undefined): string {
  return iso ? zoned(DATE_TIME, timeZone).format(new Date(iso)) : "–";
}

/** A moment with no site (an account created, an audit entry): the browser's zone, named. */
export function formatDateTime(iso: string | null | undefined): string {
  return formatAtSite(iso, undefined);
}

export function formatTime(iso: string, timeZone?: string): string {
  return zoned({ hour: "2-digit", minute: "2-digit", second: "2-digit" }, timeZone).format(new Date(iso));
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

/** "Female", "Male" (null when unknown). */
export function formatGender(gender: string | null | undefined): string | null {
  return gender ? `${gender[0]?.toUpperCase() ?? ""}${gender.slice(1)}` : null;
}

/** A face's estimated gender and age, e.g. "Female, 34" ("–" when neither is known). */
export function formatDemographics(person: { gender?: string | null; age?: number | null }): string {
  return [formatGender(person.gender), person.age ? Math.round(person.age) : null].filter(Boolean).join(", ") || "–";
}
