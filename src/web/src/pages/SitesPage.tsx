import { DeleteOutlined, EditOutlined, PlusOutlined } from "@ant-design/icons";
import { Button, Card, Form, Input, Popconfirm, Select, Space, Table } from "antd";
import { useMemo, useState } from "react";
import { Link } from "react-router-dom";

import { api, unwrap } from "../api/client";
import type { Site } from "../api/types";
import { useRole, useSession } from "../auth/useSession";
import { EmptyState } from "../components/EmptyState";
import { FormModal } from "../components/FormModal";
import { PageHeader } from "../components/PageHeader";
import { ProblemAlert } from "../components/ProblemAlert";
import { formatDateTime } from "../lib/format";
import { useAction } from "../lib/mutation";
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
  const role = useRole();
  const { tenantId } = useSession();
  const admin = isAdmin(role);
  const [q, setQ] = useState("");
  const [editing, setEditing] = useState<Site | "new" | null>(null);
  const { run, busy } = useAction();
  const zones = useMemo(() => timeZones().map((z) => ({ value: z, label: z.replace(/_/g, " ") })), []);
  const browserZone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  const { query, items, pagination } = usePagedQuery(["sites", "list", q], (limit, offset) =>
    unwrap(api.GET("/v1/sites", { params: { query: { limit, offset, ...(q ? { q } : {}) } } })),
  );

  return (
    <>
      <PageHeader
        title="Sites"
        subtitle={admin ? "Stores and their local time zone: reports bucket visits by it." : "The stores you manage."}
        extra={
          admin && (
            <Button type="primary" icon={<PlusOutlined />} onClick={() => setEditing("new")}>
              New site
            </Button>
          )
        }
      />
      <ProblemAlert error={query.error} className="mb-4" onRetry={() => void query.refetch()} />
      <Card styles={{ body: { padding: 0 } }}>
        <div className="border-b border-slate-100 p-4">
          <Input.Search aria-label="Search sites" placeholder="Search by name" allowClear onSearch={setQ} className="max-w-xs" />
        </div>
        <Table<Site>
          rowKey="id"
          loading={query.isLoading}
          dataSource={items}
          pagination={pagination}
          scroll={{ x: 760 }}
          locale={{
            emptyText: (
              <EmptyState
                title={q ? "No site matches" : "No sites yet"}
                hint={admin ? "Add the first store, then its cameras." : "Ask an administrator to assign you a site."}
                action={
                  admin && !q ? (
                    <Button type="primary" onClick={() => setEditing("new")}>
                      Add a site
                    </Button>
                  ) : undefined
                }
              />
            ),
          }}
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
            ...(admin
              ? [
                  {
                    title: "Actions",
                    key: "actions",
                    width: 110,
                    render: (_: unknown, s: Site) => (
                      <Space>
                        <Button size="small" icon={<EditOutlined />} aria-label={`Edit ${s.name}`} onClick={() => setEditing(s)} />
                        <Popconfirm
                          title={`Delete site ${s.name}?`}
                          description="Its cameras and visits are deleted too."
                          okText="Delete"
                          okButtonProps={{ danger: true }}
                          onConfirm={() =>
                            run(`delete-${s.id}`, async () => {
                              await unwrap(api.DELETE("/v1/sites/{site_id}", { params: { path: { site_id: s.id } } }));
                              await invalidate(tenantId, "sites", "cameras");
                            }, "Site deleted")
                          }
                        >
                          <Button size="small" danger icon={<DeleteOutlined />} aria-label={`Delete ${s.name}`} loading={busy === `delete-${s.id}`} />
                        </Popconfirm>
                      </Space>
                    ),
                  },
                ]
              : []),
          ]}
        />
      </Card>
      <FormModal<SiteForm>
        open={editing !== null}
        title={editing === "new" ? "New site" : "Edit site"}
        okText={editing === "new" ? "Create site" : "Save"}
        fields={["name", "timezone", "address"]}
        initialValues={editing && editing !== "new" ? editing : { timezone: browserZone }}
        onClose={() => setEditing(null)}
        onSubmit={async (values) => {
          const body = { ...values, address: values.address || null };
          if (editing === "new") await unwrap(api.POST("/v1/sites", { body }));
          else if (editing) await unwrap(api.PATCH("/v1/sites/{site_id}", { params: { path: { site_id: editing.id } }, body }));
          await invalidate(tenantId, "sites");
        }}
      >
        <Form.Item label="Name" name="name" rules={[{ required: true, message: "Name the site" }, { max: 200 }]}>
          <Input placeholder="e.g. Flagship, Main Street" />
        </Form.Item>
        <Form.Item
          label="Time zone"
          name="timezone"
          rules={[{ required: true, message: "Choose the site's time zone" }]}
          extra="Hours, days and weekdays in reports are this zone's."
        >
          <Select showSearch options={zones} optionFilterProp="label" placeholder="Search a city, e.g. Berlin" />
        </Form.Item>
        <Form.Item label="Address" name="address" rules={[{ max: 500 }]}>
          <Input.TextArea rows={2} placeholder="Street, city" />
        </Form.Item>
      </FormModal>
    </>
  );
}
