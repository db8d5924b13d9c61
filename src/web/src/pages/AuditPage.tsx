import { useState } from "react";

import { api, unwrap } from "../api/client";
import type { Role } from "../api/session";
import type { AuditEntry } from "../api/types";
import { EmptyState } from "../components/EmptyState";
import { ListPage } from "../components/ListPage";
import { Pill } from "../components/Pill";
import { SearchBox } from "../components/SearchBox";
import { formatDateTime } from "../lib/format";
import { ROLE_LABELS } from "../lib/nav";
import { usePagedQuery } from "../lib/paging";
import { useTenantQuery } from "../lib/query";

/** "user:<id>" / "apikey:<id>" as a name people recognise. */
function useActorNames() {
  const users = useTenantQuery(["users", "all"], () => unwrap(api.GET("/v1/users", { params: { query: { limit: 500 } } })));
  const keys = useTenantQuery(["api-keys", "all"], () => unwrap(api.GET("/v1/api-keys", { params: { query: { limit: 500 } } })));
  return (actor: string): { name: string; kind: string } => {
    const [kind, id] = actor.split(":", 2);
    if (kind === "user") {
      const user = users.data?.items.find((u) => u.id === id);
      return { name: user?.username ?? "Platform operator", kind: "user" };
    }
    if (kind === "apikey") {
      const key = keys.data?.items.find((k) => k.id === id);
      return { name: key?.name ?? `API key ${id?.slice(0, 8) ?? ""}`, kind: "API key" };
    }
    return { name: actor, kind: "" };
  };
}

export default function AuditPage() {
  const actorName = useActorNames();
  const [action, setAction] = useState("");
  const list = usePagedQuery(["audit", "list", action], (limit, offset) =>
    unwrap(api.GET("/v1/audit", { params: { query: { limit, offset, ...(action ? { action } : {}) } } })),
  );
  return (
    <ListPage<AuditEntry>
      title="Audit log"
      subtitle="Changes, exports, merges and erasures in this tenant: who, what and when."
      list={list}
      scrollX={900}
      toolbar={<SearchBox label="Filter by action" placeholder="Action, e.g. visits.export" onSearch={setAction} />}
      empty={<EmptyState title="Nothing recorded yet" />}
      columns={[
        { title: "When", dataIndex: "created_at", render: formatDateTime, width: 180 },
        {
          title: "Who",
          dataIndex: "actor",
          render: (actor: string, e) => (
            <span title={actor}>
              <span className="font-medium">{actorName(actor).name}</span>{" "}
              <span className="text-xs text-slate-600">{ROLE_LABELS[e.actor_role as Role] ?? e.actor_role}</span>
            </span>
          ),
        },
        { title: "Action", dataIndex: "action", render: (a: string) => <Pill>{a}</Pill> },
        {
          title: "Target",
          key: "target",
          render: (_, e) => (
            <span>
              {e.target_type} {e.target_id && <code className="text-xs">{e.target_id.slice(0, 8)}</code>}
            </span>
          ),
        },
        {
          title: "Details",
          dataIndex: "details",
          render: (d: Record<string, unknown>) => {
            const text = Object.entries(d)
              .map(([k, v]) => `${k}: ${typeof v === "string" ? v : JSON.stringify(v)}`)
              .join(" · ");
            return <span className="text-xs break-all text-slate-700">{text || "–"}</span>;
          },
        },
      ]}
    />
  );
}
