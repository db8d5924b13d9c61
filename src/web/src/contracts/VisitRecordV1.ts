/* eslint-disable */
/**
 * generated — do not edit.
 * Source: src/appliance/contracts/schemas/VisitRecord.v1.json
 * Regenerate with `make contracts` (or `npm --prefix src/web run contracts`).
 */

/**
 * One visit of one customer to one site: consecutive sightings of the same customer with no gap longer than the configured visit timeout. Produced by the API; read by the dashboard and exports.
 */
export interface VisitRecordV1 {
  /**
   * Identifier of the visit.
   */
  visit_id: string;
  /**
   * Tenant that owns the visit.
   */
  tenant_id: string;
  /**
   * Site where the visit took place.
   */
  site_id: string;
  /**
   * Customer who visited.
   */
  customer_id: string;
  /**
   * Capture time of the first sighting of the visit, RFC 3339 date-time with an explicit offset.
   */
  first_seen: string;
  /**
   * Capture time of the latest sighting of the visit, RFC 3339 date-time with an explicit offset; never before first_seen.
   */
  last_seen: string;
  /**
   * Number of face events merged into this visit.
   */
  sightings: number;
  /**
   * True when this visit created the customer (first time the face was seen by this tenant); false for a returning customer.
   */
  is_new_customer: boolean;
  /**
   * Object-store key of the best-quality face crop of the visit, or null when no snapshot was kept.
   */
  best_snapshot_key?: string | null;
  /**
   * Estimated gender aggregated over the visit's sightings, or null when unknown.
   */
  gender?: "female" | "male" | null;
  /**
   * Estimated age in years aggregated over the visit's sightings, 0..120, or null when unknown.
   */
  age?: number | null;
}
