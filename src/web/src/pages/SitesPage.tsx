import { Button, Input, Select } from "antd";
import { useMemo, useState } from "react";
import { Link } from "react-router-dom";

import { api, unwrap } from "../api/client";
import type { Site } from "../api/types";
import { useRole, useSession } from "../auth/useSession";
import { EmptyState } from "../components/EmptyState";
import { required } from "../components/FormModal";
import { ListPage, useEditor } from "../components/ListPage";
import { SearchBox } from "../components/SearchBox";
import { formatDateTime } from "../lib/format";
import { isAdmin } from "../lib/nav";
import { usePagedQuery } from "../lib/paging";
import { invalidate } from "../lib/query";
import { timeZones } from "../lib/sites";

interface SiteForm {
  name: string;
  timezone: string;
  address?: string | null;
}

export default function SitesPage() {
  const { tenantId } = useSession();
  const admin = isAdmin(useRole());
  const [q, setQ] = useState("");
  const editor = useEditor<Site>();
  const zones = useMemo(() => timeZones().map((z) => ({ value: z, label: z.replace(/_/g, " ") })), []);
  const browserZone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  const list = usePagedQuery(["sites", "list", q], (limit, offset) =>
    unwrap(api.GET("/v1/sites", { params: { query: { limit, offset, ...(q ? { q } : {}) } } })),
  );
  const path = (s: Site) => ({ params: { path: { site_id: s.id } } });
  const body = (values: SiteForm) => ({ ...values, address: values.address || null });
  const addFirst = admin && !q && (
    <Button type="primary" onClick={editor.create}>
      Add a site
    </Button>
  );

  return (
    <ListPage<Site, SiteForm>
      title="Sites"
      subtitle={admin ? "Stores and their local time zone: reports bucket visits by it." : "The stores you manage."}
      list={list}
      refresh={() => invalidate(tenantId, "sites", "cameras")}
      scrollX={760}
      toolbar={<SearchBox label="Search sites" onSearch={setQ} />}
      empty={
        <EmptyState
          title={q ? "No site matches" : "No sites yet"}
          hint={admin ? "Add the first store, then its cameras." : "Ask an administrator to assign you a site."}
          action={addFirst || undefined}
        />
      }
      columns={[
        {
          title: "Name",
          dataIndex: "name",
          render: (name: string, s) => (
            <Link to={`/sites/${s.id}`} className="font-medium">
              {name}
            </Link>
          ),
        },
        { title: "Time zone", dataIndex: "timezone", width: 200 },
        { title: "Address", dataIndex: "address", render: (a: string | null) => a || <span className="text-slate-500">–</span> },
        { title: "Created", dataIndex: "created_at", render: formatDateTime, width: 190 },
      ]}
      actions={
        admin
          ? {
              width: 110,
              confirmed: (s) => [
                {
                  verb: "Delete",
                  title: `Delete site ${s.name}?`,
                  description: "Its cameras and visits are deleted too.",
                  success: "Site deleted",
                  action: () => unwrap(api.DELETE("/v1/sites/{site_id}", path(s))),
                },
              ],
            }
          : undefined
      }
      editor={editor}
      form={{
        noun: "site",
        createText: "Create site",
        canCreate: admin,
        initialValues: editor.row ?? { timezone: browserZone },
        create: (values) => unwrap(api.POST("/v1/sites", { body: body(values) })),
        update: (s, values) => unwrap(api.PATCH("/v1/sites/{site_id}", { ...path(s), body: body(values) })),
        fields: [
          { name: "name", label: "Name", rules: [required("Name the site"), { max: 200 }], input: <Input placeholder="e.g. Flagship, Main Street" /> },
          {
            name: "timezone",
            label: "Time zone",
            rules: [required("Choose the site's time zone")],
            extra: "Hours, days and weekdays in reports are this zone's.",
            input: <Select showSearch options={zones} optionFilterProp="label" placeholder="Search a city, e.g. Berlin" />,
          },
          { name: "address", label: "Address", rules: [{ max: 500 }], input: <Input.TextArea rows={2} placeholder="Street, city" /> },
        ],
      }}
    />
  );
}
