import { LoginOutlined } from "@ant-design/icons";
import { useQuery } from "@tanstack/react-query";
import { Button, Input, InputNumber } from "antd";
import { useState } from "react";
import { useNavigate } from "react-router-dom";

import { api, session, unwrap } from "../api/client";
import type { Tenant } from "../api/types";
import { useSession } from "../auth/useSession";
import { EmptyState } from "../components/EmptyState";
import { required } from "../components/FormModal";
import { ListPage, useEditor } from "../components/ListPage";
import { SearchBox } from "../components/SearchBox";
import { Pill } from "../components/Pill";
import { formatDateTime } from "../lib/format";
import { queryClient } from "../lib/query";

interface TenantForm {
  name: string;
  visit_gap_minutes: number;
}

export default function TenantsPage() {
  const { tenantId } = useSession();
  const navigate = useNavigate();
  const [q, setQ] = useState("");
  const editor = useEditor<Tenant>();
  const tenants = useQuery({
    queryKey: ["platform", "tenants", q],
    queryFn: () => unwrap(api.GET("/v1/tenants", { params: { query: { limit: 500, ...(q ? { q } : {}) } } })),
  });
  const path = (t: Tenant) => ({ params: { path: { tenant_id: t.id } } });
  const open = (tenant: Tenant) => {
    session.setTenant(tenant.id);
    navigate("/reports");
  };
  const remove = async (tenant: Tenant) => {
    await unwrap(api.DELETE("/v1/tenants/{tenant_id}", path(tenant)));
    if (tenant.id === tenantId) session.setTenant(null);
  };

  return (
    <ListPage<Tenant, TenantForm>
      title="Tenants"
      subtitle="Every retailer on this appliance. Open one to act inside it."
      list={{ query: tenants, items: tenants.data?.items ?? [], pagination: false }}
      refresh={() => queryClient.invalidateQueries({ queryKey: ["platform", "tenants"] })}
      scrollX={720}
      toolbar={<SearchBox label="Search tenants" onSearch={setQ} />}
      empty={
        <EmptyState title={q ? "No tenant matches" : "No tenants yet"} hint="A tenant is one retailer: its sites, cameras, customers and users." />
      }
      columns={[
        {
          title: "Name",
          dataIndex: "name",
          render: (name: string, t) => (
            <span className="font-medium">
              {name} {t.id === tenantId && <Pill tone="info">in use</Pill>}
            </span>
          ),
        },
        { title: "Visit gap", dataIndex: "visit_gap_minutes", render: (m: number) => `${m} min`, width: 120 },
        { title: "Created", dataIndex: "created_at", render: formatDateTime, width: 200 },
      ]}
      actions={{
        width: 260,
        leading: (t) => (
          <Button size="small" icon={<LoginOutlined />} onClick={() => open(t)}>
            Open
          </Button>
        ),
        confirmed: (t) => [
          {
            verb: "Delete",
            title: `Delete tenant ${t.name}?`,
            description: "Its sites, cameras, customers, visits and users are deleted too.",
            success: "Tenant deleted",
            action: () => remove(t),
          },
        ],
      }}
      editor={editor}
      form={{
        noun: "tenant",
        createText: "Create tenant",
        initialValues: editor.row ?? { visit_gap_minutes: 30 },
        create: (body) => unwrap(api.POST("/v1/tenants", { body })),
        update: (t, body) => unwrap(api.PATCH("/v1/tenants/{tenant_id}", { ...path(t), body })),
        fields: [
          { name: "name", label: "Name", rules: [required("Name the tenant"), { max: 200 }], input: <Input placeholder="e.g. Northwind Retail" /> },
          {
            name: "visit_gap_minutes",
            label: "Visit gap (minutes)",
            extra: "Sightings of one person closer together than this count as one visit.",
            rules: [{ required: true }],
            input: <InputNumber min={1} max={1440} className="!w-40" />,
          },
        ],
      }}
    />
  );
}
