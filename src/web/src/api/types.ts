import type { Schemas } from "./client";

export type Tenant = Schemas["Tenant"];
export type Site = Schemas["Site"];
export type Camera = Schemas["Camera"];
export type StaffMember = Schemas["StaffMember"];
export type StaffPhoto = Schemas["StaffPhoto"];
export type Customer = Schemas["Customer"];
export type User = Schemas["User"];
export type ApiKey = Schemas["ApiKey"];
export type ApiKeyCreated = Schemas["ApiKeyCreated"];
export type AuditEntry = Schemas["AuditEntry"];
export type Visit = Schemas["VisitView"];
export type VisitorReport = Schemas["VisitorReport"];
export type VisitorBucket = Schemas["VisitorBucket"];
export type DistributionReport = Schemas["DistributionReport"];
export type ErasureReport = Schemas["ErasureReport"];
export type MergeSuggestion = Schemas["MergeSuggestionView"];
export type CustomerFace = Schemas["CustomerFace"];
export type MergeCandidate = Schemas["MergeCandidate"];
export type Granularity = VisitorReport["granularity"];
export type DistributionKind = DistributionReport["kind"];

/** The live stream's "sighting" event (see GET /v1/events/stream). */
export interface SightingEvent {
  type?: string;
  event_id?: string;
  visit_id: string;
  customer_id: string;
  site_id: string;
  camera_id: string | null;
  is_new_customer: boolean;
  captured_at: string;
  snapshot_key: string | null;
  tenant_id?: string;
}
