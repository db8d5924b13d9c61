import { DeleteOutlined, EditOutlined, LoginOutlined, PlusOutlined } from "@ant-design/icons";
import { useQuery } from "@tanstack/react-query";
import { Button, Card, Form, Input, InputNumber, Popconfirm, Space, Table } from "antd";
import { useState } from "react";
import { useNavigate } from "react-router-dom";

import { api, session, unwrap } from "../api/client";
import type { Tenant } from "../api/types";
import { useSession } from "../auth/useSession";
import { EmptyState } from "../components/EmptyState";
import { FormModal } from "../components/FormModal";
import { Pill } from "../components/Pill";
import { PageHeader } from "../components/PageHeader";
import { ProblemAlert } from "../components/ProblemAlert";
import { formatDateTime } from "../lib/format";
import { useAction } from "../lib/mutation";
import { queryClient } from "../lib/query";

interface TenantForm {
  name: string;
  visit_gap_minutes: number;
}

export default function TenantsPage() {
  const { tenantId } = useSession();
  const navigate = useNavigate();
  const [q, setQ] = useState("");
  const [editing, setEditing] = useState<Tenant | "new" | null>(null);
  const { run, busy } = useAction();
  const tenants = useQuery({
    queryKey: ["platform", "tenants", q],
    queryFn: () => unwrap(api.GET("/v1/tenants", { params: { query: { limit: 500, ...(q ? { q } : {}) } } })),
  });
  const refresh = () => queryClient.invalidateQueries({ queryKey: ["platform", "tenants"] });

  const open = (tenant: Tenant) => {
    session.setTenant(tenant.id);
    navigate("/reports");
  };

  return (
    <>
      <PageHeader
        title="Tenants"
        subtitle="Every retailer on this appliance. Open one to act inside it."
        extra={
          <Button type="primary" icon={<PlusOutlined />} onClick={() => setEditing("new")}>
            New tenant
          </Button>
        }
      />
      <ProblemAlert error={tenants.error} className="mb-4" onRetry={() => void tenants.refetch()} />
      <Card styles={{ body: { padding: 0 } }}>
        <div className="border-b border-slate-100 p-4">
          <Input.Search aria-label="Search tenants" placeholder="Search by name" allowClear onSearch={setQ} className="max-w-xs" />
        </div>
        <Table<Tenant>
          rowKey="id"
          loading={tenants.isLoading}
          dataSource={tenants.data?.items ?? []}
          pagination={false}
          scroll={{ x: 720 }}
          locale={{
            emptyText: (
              <EmptyState
                title={q ? "No tenant matches" : "No tenants yet"}
                hint="A tenant is one retailer: its sites, cameras, customers and users."
              />
            ),
          }}
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
            {
              title: "Actions",
              key: "actions",
              width: 260,
              render: (_, t) => (
                <Space>
                  <Button size="small" icon={<LoginOutlined />} onClick={() => open(t)}>
                    Open
                  </Button>
                  <Button size="small" icon={<EditOutlined />} aria-label={`Edit ${t.name}`} onClick={() => setEditing(t)} />
                  <Popconfirm
                    title={`Delete tenant ${t.name}?`}
                    description="Its sites, cameras, customers, visits and users are deleted too."
                    okText="Delete"
                    okButtonProps={{ danger: true }}
                    onConfirm={() =>
                      run(`delete-${t.id}`, async () => {
                        await unwrap(api.DELETE("/v1/tenants/{tenant_id}", { params: { path: { tenant_id: t.id } } }));
                        if (t.id === tenantId) session.setTenant(null);
                        await refresh();
                      }, "Tenant deleted")
                    }
                  >
                    <Button size="small" danger icon={<DeleteOutlined />} aria-label={`Delete ${t.name}`} loading={busy === `delete-${t.id}`} />
                  </Popconfirm>
                </Space>
              ),
            },
          ]}
        />
      </Card>
      <FormModal<TenantForm>
        open={editing !== null}
        title={editing === "new" ? "New tenant" : "Edit tenant"}
        okText={editing === "new" ? "Create tenant" : "Save"}
        fields={["name", "visit_gap_minutes"]}
        initialValues={editing && editing !== "new" ? editing : { visit_gap_minutes: 30 }}
        onClose={() => setEditing(null)}
        onSubmit={async (values) => {
          if (editing === "new") await unwrap(api.POST("/v1/tenants", { body: values }));
          else if (editing) await unwrap(api.PATCH("/v1/tenants/{tenant_id}", { params: { path: { tenant_id: editing.id } }, body: values }));
          await refresh();
        }}
      >
        <Form.Item label="Name" name="name" rules={[{ required: true, message: "Name the tenant" }, { max: 200 }]}>
          <Input placeholder="e.g. Northwind Retail" />
        </Form.Item>
        <Form.Item
          label="Visit gap (minutes)"
          name="visit_gap_minutes"
          extra="Sightings of one person closer together than this count as one visit."
          rules={[{ required: true }]}
        >
          <InputNumber min={1} max={1440} className="!w-40" />
        </Form.Item>
      </FormModal>
    </>
  );
}
