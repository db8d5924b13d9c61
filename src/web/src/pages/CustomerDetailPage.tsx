import { DeleteOutlined, EditOutlined, MergeCellsOutlined } from "@ant-design/icons";
import { useQuery } from "@tanstack/react-query";
import { Alert, App, Button, Card, Checkbox, Input, InputNumber, Modal, Popconfirm, Select, Skeleton } from "antd";
import { useState } from "react";
import { Link, useNavigate, useParams } from "react-router-dom";

import { api, unwrap } from "../api/client";
import type { Customer, ErasureReport } from "../api/types";
import { useRole, useSession } from "../auth/useSession";
import { DetailPage } from "../components/DetailPage";
import { EmptyState } from "../components/EmptyState";
import { FaceCard } from "../components/FaceCard";
import { FormModal, type FieldSpec } from "../components/FormModal";
import { LoadMore } from "../components/LoadMore";
import { Pill, VisitorPill } from "../components/Pill";
import { ProblemAlert } from "../components/ProblemAlert";
import { Snapshot } from "../components/Snapshot";
import { formatSimilarity, LIKENESS_LABEL, likeness, riskySelection } from "../lib/duplicates";
import { customerName, formatAtSite, formatDateTime, formatGender, formatRelative, formatStay, plural } from "../lib/format";
import { useAction, useSubmit } from "../lib/mutation";
import { isAdmin } from "../lib/nav";
import { invalidate, queryClient, useTenantQuery } from "../lib/query";
import { useSites } from "../lib/sites";
import { useVisitPages } from "../lib/visits";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

interface EditForm {
  display_name?: string | null;
  gender?: "female" | "male" | null;
  age?: number | null;
  tags?: string[];
  notes?: string | null;
}

const GENDERS = [
  { value: "female", label: "Female" },
  { value: "male", label: "Male" },
];

const EDIT_FIELDS: readonly FieldSpec<EditForm>[] = [
  { name: "display_name", label: "Name", rules: [{ max: 200 }], input: <Input placeholder="e.g. a loyalty-card name" /> },
  [
    { name: "gender", label: "Gender", input: <Select allowClear placeholder="Unknown" options={GENDERS} /> },
    { name: "age", label: "Age", input: <InputNumber min={0} max={120} className="!w-full" /> },
  ],
  { name: "tags", label: "Tags", input: <Select mode="tags" placeholder="Add tags" tokenSeparators={[","]} /> },
  { name: "notes", label: "Notes", rules: [{ max: 2000 }], input: <Input.TextArea rows={3} /> },
];

function MergeDialog({ customer, open, onClose }: { customer: Customer; open: boolean; onClose: () => void }) {
  const { tenantId } = useSession();
  const { message } = App.useApp();
  const [search, setSearch] = useState("");
  const [selected, setSelected] = useState<string[]>([]);
  const { busy, error, submit } = useSubmit();
  // Found by name (or pasted ID): their similarity to this profile is asked for below.
  const found = useQuery({
    queryKey: ["tenant", tenantId, "customers", "merge-search", search],
    enabled: open && search.length > 0 && !UUID.test(search),
    queryFn: () => unwrap(api.GET("/v1/customers", { params: { query: { limit: 20, q: search } } })),
  });
  const searchedIds = UUID.test(search)
    ? [search.toLowerCase()]
    : (found.data?.items ?? []).map((c) => c.customer_id).filter((id) => id !== customer.customer_id);
  const candidates = useQuery({
    queryKey: ["tenant", tenantId, "customers", "merge-candidates", customer.customer_id, searchedIds.join(",")],
    enabled: open,
    queryFn: () =>
      unwrap(
        api.GET("/v1/customers/{customer_id}/merge-candidates", {
          params: { path: { customer_id: customer.customer_id }, query: searchedIds.length ? { ids: searchedIds, limit: 20 } : { limit: 10 } },
        }),
      ),
  });
  const list = (candidates.data ?? []).filter((c) => c.customer.customer_id !== customer.customer_id);
  const risky = riskySelection(list, selected);
  const toggle = (id: string, on: boolean) => setSelected((now) => (on ? [...now, id] : now.filter((x) => x !== id)));
  const merge = () =>
    submit(async () => {
      await unwrap(api.POST("/v1/customers/{customer_id}/merge", { params: { path: { customer_id: customer.customer_id } }, body: { source_ids: selected } }));
      await invalidate(tenantId, "customers", "visits");
      void message.success(`${selected.length} profile${selected.length > 1 ? "s" : ""} merged into ${customerName(customer)}`);
      setSelected([]);
      onClose();
    });
  return (
    <Modal
      open={open}
      title={`Merge into ${customerName(customer)}`}
      okText={risky.length ? "Merge anyway" : "Merge"}
      okButtonProps={{ disabled: !selected.length, danger: risky.length > 0 }}
      confirmLoading={busy}
      onOk={merge}
      onCancel={onClose}
      destroyOnHidden
      width={640}
    >
      <p className="text-slate-600">
        Choose profiles of the <strong>same person</strong>. Their visits, sightings and face samples move to this profile and the
        others are removed. This is recorded in the audit log; a split undoes it.
      </p>
      <ProblemAlert error={error} className="mb-3" />
      <Input.Search
        aria-label="Find a profile by name or ID"
        placeholder="Most alike are listed; search by name or paste a customer ID"
        allowClear
        onSearch={(v) => setSearch(v.trim())}
        className="mb-3"
      />
      {candidates.isLoading ? (
        <Skeleton active />
      ) : list.length === 0 ? (
        <EmptyState title="No other profiles to compare" hint="Profiles appear here once they have a face sample." />
      ) : (
        <ul aria-label="Profiles to merge" className="m-0 flex max-h-96 list-none flex-col gap-2 overflow-y-auto p-0">
          {list.map((c) => {
            const id = c.customer.customer_id;
            const kind = likeness(c);
            return (
              <li key={id} className="flex items-center justify-between gap-3 rounded-lg border border-slate-200 p-2">
                <Checkbox checked={selected.includes(id)} onChange={(e) => toggle(id, e.target.checked)} aria-label={`Merge ${customerName(c.customer)}`}>
                  <FaceCard face={c.customer} size={56} link={false} />
                </Checkbox>
                <div className="shrink-0 text-right">
                  <div className="font-medium">{formatSimilarity(c.similarity)}</div>
                  <div className={kind === "unlikely" ? "text-sm text-red-700" : "text-sm text-slate-600"}>{LIKENESS_LABEL[kind]}</div>
                </div>
              </li>
            );
          })}
        </ul>
      )}
      {risky.length > 0 && (
        <Alert
          className="mt-3"
          type="warning"
          showIcon
          message={`${plural(risky.length, "selected profile")} ${risky.length === 1 ? "is" : "are"} less alike than the uncertain threshold`}
          description="Recognition would call them different people. Merge only if you are sure from the faces: a wrong merge mixes two people's visits."
        />
      )}
    </Modal>
  );
}

function EraseDialog({ customer, open, onClose }: { customer: Customer; open: boolean; onClose: () => void }) {
  const { tenantId } = useSession();
  const navigate = useNavigate();
  const { modal } = App.useApp();
  const [typed, setTyped] = useState("");
  const { busy, error, submit } = useSubmit();
  const erase = () =>
    submit(async () => {
      const report: ErasureReport = await unwrap(
        api.DELETE("/v1/customers/{customer_id}", { params: { path: { customer_id: customer.customer_id } } }),
      );
      await invalidate(tenantId, "customers", "visits");
      onClose();
      navigate("/customers", { replace: true });
      modal.success({
        title: "Customer erased",
        content: (
          <ul className="mt-2 pl-5">
            <li>
              {plural(report.visits, "visit")} and {plural(report.sightings, "sighting")} deleted
            </li>
            <li>{plural(report.exemplars, "face sample")} deleted</li>
            <li>{plural(report.objects_deleted, "snapshot file")} deleted</li>
            {(report.objects_remaining > 0 || report.vectors_remaining > 0) && (
              <li className="text-red-700">
                Still present: {report.objects_remaining} files, {report.vectors_remaining} vectors — the purge job retries.
              </li>
            )}
          </ul>
        ),
      });
    });
  return (
    <Modal
      open={open}
      title={`Erase ${customerName(customer)}?`}
      okText="Erase permanently"
      okButtonProps={{ danger: true, disabled: typed.trim().toLowerCase() !== "erase" }}
      confirmLoading={busy}
      onOk={erase}
      onCancel={() => {
        setTyped("");
        onClose();
      }}
      destroyOnHidden
    >
      <Alert
        type="error"
        showIcon
        className="!mb-4"
        message="This cannot be undone"
        description="Every visit, sighting, face sample and snapshot of this person is deleted (right to erasure). Reports lose these visits."
      />
      <ProblemAlert error={error} className="mb-3" />
      <label htmlFor="erase-confirm" className="mb-1 block">
        Type <strong>erase</strong> to confirm
      </label>
      <Input id="erase-confirm" value={typed} onChange={(e) => setTyped(e.target.value)} autoComplete="off" />
    </Modal>
  );
}

/** The customer's visits, with "Split…": the chosen visits become a profile of their own (how a wrong merge is undone). */
function CustomerVisits({ customer, admin }: { customer: Customer; admin: boolean }) {
  const { tenantId } = useSession();
  const sites = useSites();
  const navigate = useNavigate();
  const { run, busy } = useAction();
  const [splitting, setSplitting] = useState(false);
  const [chosen, setChosen] = useState<string[]>([]);
  const visits = useVisitPages(["customer", customer.customer_id], { customer_id: customer.customer_id }, 24);
  const rows = visits.items;
  const stopSplitting = () => {
    setSplitting(false);
    setChosen([]);
  };
  const split = () =>
    run("split", async () => {
      const created = await unwrap(
        api.POST("/v1/customers/{customer_id}/split", { params: { path: { customer_id: customer.customer_id } }, body: { visit_ids: chosen } }),
      );
      await invalidate(tenantId, "customers", "visits");
      stopSplitting();
      navigate(`/customers/${created.customer_id}`);
    }, "Visits split off into a new profile");
  const cannotSplit = !chosen.length || chosen.length === rows.length;

  return (
    <Card
      title="Visits"
      extra={
        splitting ? (
          <div className="flex gap-2">
            <Button size="small" onClick={stopSplitting}>
              Cancel
            </Button>
            <Popconfirm
              title={`Split ${plural(chosen.length, "visit")} off?`}
              description="They become a new profile (recorded in the audit log)."
              okText="Split"
              disabled={cannotSplit}
              onConfirm={split}
            >
              <Button size="small" type="primary" disabled={cannotSplit} loading={busy === "split"}>
                Split off {chosen.length ? plural(chosen.length, "visit") : ""}
              </Button>
            </Popconfirm>
          </div>
        ) : (
          <div className="flex gap-3">
            {admin && rows.length > 1 && (
              <Button size="small" onClick={() => setSplitting(true)} title="Visits of someone else: make them a profile of their own">
                Split…
              </Button>
            )}
            <Link to={`/visits`}>All visits</Link>
          </div>
        )
      }
    >
      {splitting && (
        <Alert
          className="mb-3"
          type="info"
          showIcon
          message="Choose the visits that are someone else (for example after a wrong merge); they become a new profile."
        />
      )}
      <ProblemAlert error={visits.query.error} className="mb-4" />
      {visits.query.isLoading ? (
        <Skeleton active />
      ) : rows.length === 0 ? (
        <EmptyState title="No visits" hint="Visits older than the retention period may have been removed." />
      ) : (
        <ul className="m-0 grid list-none gap-3 p-0 sm:grid-cols-2" aria-label="Visits of this customer">
          {rows.map((v) => {
            const at = formatAtSite(v.first_seen, sites.zone(v.site_id));
            const stay = formatStay(v.first_seen, v.last_seen, v.sightings);
            return (
              <li key={v.visit_id} className="flex items-center gap-3 rounded-lg border border-slate-200 p-3">
                {splitting && (
                  <Checkbox
                    aria-label={`Split off the visit on ${at}`}
                    checked={chosen.includes(v.visit_id)}
                    onChange={(e) => setChosen((now) => (e.target.checked ? [...now, v.visit_id] : now.filter((id) => id !== v.visit_id)))}
                  />
                )}
                <Snapshot visitId={v.visit_id} size={64} label={`Snapshot of the visit on ${at}`} available={v.best_snapshot_key !== null} />
                <div className="min-w-0 text-sm">
                  <div className="font-medium text-slate-900">{at}</div>
                  <div className="text-slate-600">
                    {sites.name(v.site_id)}
                    {stay ? ` · stayed ${stay}` : ""}
                  </div>
                  <div className="mt-1">
                    <VisitorPill isNew={v.is_new_customer} newLabel="First visit" />
                    <span className="text-xs text-slate-600">{plural(v.sightings, "sighting")}</span>
                  </div>
                </div>
              </li>
            );
          })}
        </ul>
      )}
      <LoadMore query={visits.query} className="mt-4 flex justify-center" />
    </Card>
  );
}

export default function CustomerDetailPage() {
  const { customerId = "" } = useParams();
  const { tenantId } = useSession();
  const admin = isAdmin(useRole());
  const [dialog, setDialog] = useState<"edit" | "merge" | "erase" | null>(null);
  const close = () => setDialog(null);
  const customer = useTenantQuery(["customers", "one", customerId], () =>
    unwrap(api.GET("/v1/customers/{customer_id}", { params: { path: { customer_id: customerId } } })),
  );

  return (
    <DetailPage
      query={customer}
      list={{ to: "/customers", label: "Customers", back: "All customers" }}
      notFoundStatuses={[404, 422]}
      notFound={{ title: "Customer not found", subTitle: "The profile does not exist (it may have been merged or erased)." }}
      skeletonRows={8}
      header={(c) => ({
        title: customerName(c),
        subtitle: `${plural(c.visit_count, "visit")} · last seen ${formatRelative(c.last_seen)}`,
        extra: admin && (
          <>
            <Button icon={<EditOutlined />} onClick={() => setDialog("edit")}>
              Edit
            </Button>
            <Button icon={<MergeCellsOutlined />} onClick={() => setDialog("merge")}>
              Merge…
            </Button>
            <Button danger icon={<DeleteOutlined />} onClick={() => setDialog("erase")}>
              Erase…
            </Button>
          </>
        ),
      })}
      facts={(c) => ({
        title: "Profile",
        items: [
          ["Name", c.display_name || <span className="text-slate-600">Not named</span>],
          ["Gender", formatGender(c.gender) ?? "Unknown"],
          ["Age", c.age ? `about ${Math.round(c.age)}` : "Unknown"],
          ["First seen", formatDateTime(c.first_seen)],
          ["Last seen", formatDateTime(c.last_seen)],
          ["Face samples", c.exemplar_count],
          ["Tags", c.tags.length ? c.tags.map((t) => <Pill key={t}>{t}</Pill>) : "–"],
          ["Notes", c.notes || "–"],
          ["ID", <code className="text-xs break-all">{c.customer_id}</code>],
        ],
      })}
      after={(c) => (
        <>
          <FormModal<EditForm>
            open={dialog === "edit"}
            title="Edit profile"
            initialValues={{ display_name: c.display_name, gender: c.gender, age: c.age, tags: c.tags, notes: c.notes }}
            onClose={close}
            onSubmit={async (values) => {
              const body = {
                display_name: values.display_name || null,
                gender: values.gender ?? null,
                age: values.age ?? null,
                tags: values.tags ?? [],
                notes: values.notes || null,
              };
              const updated = await unwrap(api.PATCH("/v1/customers/{customer_id}", { params: { path: { customer_id: c.customer_id } }, body }));
              queryClient.setQueryData(["tenant", tenantId, "customers", "one", customerId], updated);
              await invalidate(tenantId, "customers");
            }}
            fields={EDIT_FIELDS}
          />
          <MergeDialog customer={c} open={dialog === "merge"} onClose={close} />
          <EraseDialog customer={c} open={dialog === "erase"} onClose={close} />
        </>
      )}
    >
      {(c) => <CustomerVisits customer={c} admin={admin} />}
    </DetailPage>
  );
}
