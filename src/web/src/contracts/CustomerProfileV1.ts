/* eslint-disable */
/**
 * generated — do not edit.
 * Source: src/appliance/contracts/schemas/CustomerProfile.v1.json
 * Regenerate with `make contracts` (or `npm --prefix src/web run contracts`).
 */

/**
 * A customer known to one tenant: a face identity (its exemplar embeddings stay server-side) plus the staff-editable fields. Produced by the API; read and partly edited by the dashboard.
 */
export interface CustomerProfileV1 {
  /**
   * Identifier of the customer.
   */
  customer_id: string;
  /**
   * Tenant that owns the customer. Customers are never shared or matched across tenants.
   */
  tenant_id: string;
  /**
   * Capture time of the customer's first sighting, RFC 3339 date-time with an explicit offset.
   */
  first_seen: string;
  /**
   * Capture time of the customer's latest sighting, RFC 3339 date-time with an explicit offset; never before first_seen.
   */
  last_seen: string;
  /**
   * Number of visits recorded for the customer, across all of the tenant's sites.
   */
  visit_count: number;
  /**
   * Name given by staff, or null. Free text, at most 200 characters; render it escaped.
   */
  display_name?: string | null;
  /**
   * Estimated gender, or null when unknown.
   */
  gender?: "female" | "male" | null;
  /**
   * Estimated age in years, 0..120, or null when unknown.
   */
  age?: number | null;
  /**
   * Staff notes, or null. Free text, at most 2000 characters; render it escaped.
   */
  notes?: string | null;
  /**
   * Number of face embeddings (exemplars) stored for matching this customer.
   */
  exemplar_count?: number;
  /**
   * Staff-assigned labels, e.g. `vip`. Each 1..64 characters, at most 50 tags.
   *
   * @maxItems 50
   */
  tags?: string[];
}
