/* eslint-disable */
/**
 * generated — do not edit.
 * Source: src/appliance/contracts/schemas/*.json
 * Regenerate with `make contracts` (or `npm --prefix src/web run contracts`).
 */

export type { CustomerProfileV1 } from "./CustomerProfileV1";
export type { EventFaceDetectedV1, ModelInfo } from "./EventFaceDetectedV1";
export type { VisitRecordV1 } from "./VisitRecordV1";
