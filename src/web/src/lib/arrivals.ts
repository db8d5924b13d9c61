import type { SightingEvent } from "../api/types";

export interface Arrival {
  visitId: string;
  customerId: string;
  siteId: string;
  cameraId: string | null;
  isNew: boolean;
  firstAt: string;
  lastAt: string;
  sightings: number;
  hasSnapshot: boolean;
  /** Changes with every sighting that brings a snapshot: the thumbnail is fetched again. */
  snapshotVersion: string;
}

/** Fold one sighting into the list: a known visit moves to the top, updated; at most `limit`. */
export function addSighting(list: readonly Arrival[], event: SightingEvent, limit = 100): Arrival[] {
  const existing = list.find((a) => a.visitId === event.visit_id);
  const rest = list.filter((a) => a.visitId !== event.visit_id);
  const version = event.snapshot_key ? (event.event_id ?? event.captured_at) : "";
  const arrival: Arrival = existing
    ? {
        ...existing,
        cameraId: event.camera_id ?? existing.cameraId,
        lastAt: Date.parse(event.captured_at) > Date.parse(existing.lastAt) ? event.captured_at : existing.lastAt,
        sightings: existing.sightings + 1,
        hasSnapshot: existing.hasSnapshot || event.snapshot_key !== null,
        snapshotVersion: version || existing.snapshotVersion,
      }
    : {
        visitId: event.visit_id,
        customerId: event.customer_id,
        siteId: event.site_id,
        cameraId: event.camera_id,
        isNew: event.is_new_customer,
        firstAt: event.captured_at,
        lastAt: event.captured_at,
        sightings: 1,
        hasSnapshot: event.snapshot_key !== null,
        snapshotVersion: version,
      };
  return [arrival, ...rest].slice(0, limit);
}
