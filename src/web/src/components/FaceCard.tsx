import { Link } from "react-router-dom";

import type { CustomerFace } from "../api/types";
import { customerName, formatRelative, plural } from "../lib/format";
import { Snapshot } from "./Snapshot";

/** A profile at a glance: its best snapshot, name, visit count and last visit. */
export function FaceCard({ face, size = 72, link = true }: { face: CustomerFace; size?: number; link?: boolean }) {
  const name = customerName(face);
  return (
    <div className="flex min-w-0 items-center gap-3">
      <Snapshot
        visitId={face.snapshot_visit_id ?? "none"}
        available={face.snapshot_visit_id != null}
        size={size}
        label={`Best snapshot of ${name}`}
      />
      <div className="min-w-0">
        <div className="truncate font-medium">{link ? <Link to={`/customers/${face.customer_id}`}>{name}</Link> : name}</div>
        <div className="text-sm text-slate-600">
          {plural(face.visit_count, "visit")} · last {formatRelative(face.last_seen)}
        </div>
      </div>
    </div>
  );
}
