import { Button, Card, Popconfirm, Select, Tabs } from "antd";
import { useState } from "react";
import { Link, useNavigate } from "react-router-dom";

import { api, unwrap } from "../api/client";
import type { Customer, MergeSuggestion } from "../api/types";
import { useRole, useSession } from "../auth/useSession";
import { EmptyState } from "../components/EmptyState";
import { FaceCard } from "../components/FaceCard";
import { ListTable } from "../components/ListPage";
import { Pill } from "../components/Pill";
import { PageHeader } from "../components/PageHeader";
import { SearchBox } from "../components/SearchBox";
import { formatSimilarity } from "../lib/duplicates";
import { customerName, formatDateTime, formatDemographics, formatRelative, shortId } from "../lib/format";
import { useAction } from "../lib/mutation";
import { isAdmin } from "../lib/nav";
import { usePagedQuery } from "../lib/paging";
import { invalidate } from "../lib/query";

type Gender = "female" | "male";

function CustomerTable() {
  const navigate = useNavigate();
  const [q, setQ] = useState("");
  const [gender, setGender] = useState<Gender | null>(null);
  const list = usePagedQuery(["customers", "list", q, gender], (limit, offset) =>
    unwrap(api.GET("/v1/customers", { params: { query: { limit, offset, ...(q ? { q } : {}), ...(gender ? { gender } : {}) } } })),
  );
  const toolbar = (
    <>
      <SearchBox label="Search customers by name" onSearch={setQ} />
      <label htmlFor="customer-gender" className="sr-only">
        Gender
      </label>
      <Select<Gender | "">
        id="customer-gender"
        className="w-40"
        value={gender ?? ""}
        onChange={(v) => setGender(v || null)}
        options={[
          { value: "", label: "Any gender" },
          { value: "female", label: "Female" },
          { value: "male", label: "Male" },
        ]}
      />
    </>
  );
  return (
    <ListTable<Customer>
      list={list}
      rowKey="customer_id"
      scrollX={860}
      toolbar={toolbar}
      inlineError
      onRow={(c) => ({ onClick: () => navigate(`/customers/${c.customer_id}`), className: "cursor-pointer" })}
      empty={
        <EmptyState title={q || gender ? "No customer matches" : "No customers yet"} hint="Customers appear when the cameras see a face for the first time." />
      }
      columns={[
        {
          title: "Customer",
          key: "name",
          render: (_, c) => (
            <Link to={`/customers/${c.customer_id}`} className="font-medium" onClick={(e) => e.stopPropagation()}>
              {customerName(c)}
            </Link>
          ),
        },
        { title: "Visits", dataIndex: "visit_count", width: 90, align: "right" },
        { title: "First seen", dataIndex: "first_seen", render: formatDateTime, width: 180 },
        { title: "Last seen", dataIndex: "last_seen", render: (t: string | null) => formatRelative(t), width: 140 },
        { title: "Gender / age", key: "demo", width: 130, render: (_, c) => formatDemographics(c) },
        { title: "Tags", dataIndex: "tags", render: (tags: string[]) => tags.map((t) => <Pill key={t}>{t}</Pill>) },
      ]}
    />
  );
}

function Suggestions() {
  const { tenantId } = useSession();
  const admin = isAdmin(useRole());
  const { run, busy } = useAction();
  const list = usePagedQuery(["customers", "suggestions"], (limit, offset) =>
    unwrap(api.GET("/v1/customers/merge-suggestions", { params: { query: { limit, offset, status: "open" } } })),
  );
  const face = (s: MergeSuggestion, which: "customer" | "candidate") => {
    const known = s[which];
    const id = which === "customer" ? s.customer_id : s.candidate_id;
    return known ? <FaceCard face={known} /> : <Link to={`/customers/${id}`}>Visitor {shortId(id)}</Link>;
  };
  const decide = (s: MergeSuggestion, decision: "accept" | "dismiss") =>
    unwrap(api.POST(`/v1/customers/merge-suggestions/{suggestion_id}/${decision}`, { params: { path: { suggestion_id: s.id } } }));
  return (
    <ListTable<MergeSuggestion>
      list={list}
      scrollX={860}
      inlineError
      retry={false}
      intro={
        <p className="m-0 px-4 pt-4 text-slate-600">
          A face that looked like an existing customer, but not enough to be sure, became a new profile. Compare the two faces:
          the same person → merge them (audited; a split undoes it); someone else → dismiss, and the pair is not suggested again.
        </p>
      }
      empty={<EmptyState title="No possible duplicates" hint="Uncertain face matches land here for a decision." />}
      columns={[
        { title: "New profile", key: "customer", render: (_, s) => face(s, "customer") },
        { title: "Looks like", key: "candidate", render: (_, s) => face(s, "candidate") },
        {
          title: "Similarity",
          dataIndex: "similarity",
          width: 120,
          render: (v: number) => <span title="Cosine similarity of the two faces' embeddings">{formatSimilarity(v)}</span>,
        },
        { title: "Found", dataIndex: "created_at", render: formatDateTime, width: 170 },
        {
          title: "Decision",
          key: "actions",
          width: 230,
          render: (_, s) =>
            admin ? (
              <div className="flex gap-2">
                <Popconfirm
                  title="Merge these two profiles?"
                  description="The new profile's visits move to the one it looks like."
                  okText="Merge"
                  onConfirm={() =>
                    run(`merge-${s.id}`, async () => {
                      await decide(s, "accept");
                      await invalidate(tenantId, "customers", "visits");
                    }, "Profiles merged")
                  }
                >
                  <Button size="small" type="primary" loading={busy === `merge-${s.id}`}>
                    Same person
                  </Button>
                </Popconfirm>
                <Button
                  size="small"
                  loading={busy === `dismiss-${s.id}`}
                  onClick={() =>
                    run(`dismiss-${s.id}`, async () => {
                      await decide(s, "dismiss");
                      await invalidate(tenantId, "customers");
                    }, "Suggestion dismissed")
                  }
                >
                  Different people
                </Button>
              </div>
            ) : (
              <span className="text-slate-600">An administrator decides</span>
            ),
        },
      ]}
    />
  );
}

export default function CustomersPage() {
  return (
    <>
      <PageHeader title="Customers" subtitle="Everyone the cameras have recognised, without staff. Open one for visits and snapshots." />
      <Card styles={{ body: { padding: 0 } }}>
        <Tabs
          className="customers-tabs"
          tabBarStyle={{ padding: "0 16px", marginBottom: 0 }}
          items={[
            { key: "all", label: "All customers", children: <CustomerTable /> },
            { key: "suggestions", label: "Possible duplicates", children: <Suggestions /> },
          ]}
        />
      </Card>
    </>
  );
}
