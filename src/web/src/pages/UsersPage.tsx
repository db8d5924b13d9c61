import { DeleteOutlined, EditOutlined, PlusOutlined } from "@ant-design/icons";
import { Button, Card, Form, Input, Popconfirm, Radio, Select, Space, Switch, Table } from "antd";
import { useState } from "react";

import { api, unwrap } from "../api/client";
import type { Role } from "../api/session";
import type { User } from "../api/types";
import { useSession } from "../auth/useSession";
import { EmptyState } from "../components/EmptyState";
import { FormModal } from "../components/FormModal";
import { Pill, type Tone } from "../components/Pill";
import { PageHeader } from "../components/PageHeader";
import { ProblemAlert } from "../components/ProblemAlert";
import { formatDateTime } from "../lib/format";
import { useAction } from "../lib/mutation";
import { ROLE_LABELS } from "../lib/nav";
import { usePagedQuery } from "../lib/paging";
import { invalidate } from "../lib/query";
import { useSites } from "../lib/sites";

type TenantRole = "tenant_admin" | "site_manager";

interface UserForm {
  username: string;
  password?: string;
  role: TenantRole;
  site_ids?: string[];
  disabled?: boolean;
}

const ROLE_TONES: Record<string, Tone> = { tenant_admin: "returning", site_manager: "info", system_admin: "violet" };

export default function UsersPage() {
  const { tenantId, claims } = useSession();
  const sites = useSites();
  const [editing, setEditing] = useState<User | "new" | null>(null);
  const { run, busy } = useAction();
  const { query, items, pagination } = usePagedQuery(["users", "list"], (limit, offset) =>
    unwrap(api.GET("/v1/users", { params: { query: { limit, offset } } })),
  );
  const me = claims?.sub.replace(/^user:/, "");

  return (
    <>
      <PageHeader
        title="Users"
        subtitle="Who can sign in to this tenant. Site managers see only the sites assigned to them."
        extra={
          <Button type="primary" icon={<PlusOutlined />} onClick={() => setEditing("new")}>
            New user
          </Button>
        }
      />
      <ProblemAlert error={query.error} className="mb-4" onRetry={() => void query.refetch()} />
      <Card styles={{ body: { padding: 0 } }}>
        <Table<User>
          rowKey="id"
          loading={query.isLoading}
          dataSource={items}
          pagination={pagination}
          scroll={{ x: 800 }}
          locale={{ emptyText: <EmptyState title="No users yet" hint="Invite a tenant admin or a site manager." /> }}
          columns={[
            {
              title: "Username",
              dataIndex: "username",
              render: (u: string, user) => (
                <span className="font-medium">
                  {u} {user.id === me && <Pill tone="info">you</Pill>}
                </span>
              ),
            },
            {
              title: "Role",
              dataIndex: "role",
              render: (r: string) => <Pill tone={ROLE_TONES[r] ?? "neutral"}>{ROLE_LABELS[r as Role] ?? r}</Pill>,
            },
            {
              title: "Sites",
              dataIndex: "site_ids",
              render: (ids: string[], user) =>
                user.role === "site_manager"
                  ? ids.map((id) => <Pill key={id}>{sites.name(id)}</Pill>)
                  : <span className="text-slate-600">All sites</span>,
            },
            {
              title: "Status",
              dataIndex: "disabled",
              width: 110,
              render: (off: boolean) => (off ? <Pill tone="danger">Disabled</Pill> : <Pill tone="success">Active</Pill>),
            },
            { title: "Created", dataIndex: "created_at", render: formatDateTime, width: 180 },
            {
              title: "Actions",
              key: "actions",
              width: 110,
              render: (_, u) => (
                <Space>
                  <Button size="small" icon={<EditOutlined />} aria-label={`Edit ${u.username}`} onClick={() => setEditing(u)} />
                  <Popconfirm
                    title={`Delete user ${u.username}?`}
                    okText="Delete"
                    okButtonProps={{ danger: true }}
                    disabled={u.id === me}
                    onConfirm={() =>
                      run(`delete-${u.id}`, async () => {
                        await unwrap(api.DELETE("/v1/users/{user_id}", { params: { path: { user_id: u.id } } }));
                        await invalidate(tenantId, "users");
                      }, "User deleted")
                    }
                  >
                    <Button
                      size="small"
                      danger
                      icon={<DeleteOutlined />}
                      aria-label={`Delete ${u.username}`}
                      disabled={u.id === me}
                      loading={busy === `delete-${u.id}`}
                    />
                  </Popconfirm>
                </Space>
              ),
            },
          ]}
        />
      </Card>
      <FormModal<UserForm>
        open={editing !== null}
        title={editing === "new" ? "New user" : `Edit ${editing?.username ?? "user"}`}
        okText={editing === "new" ? "Create user" : "Save"}
        fields={["username", "password", "role", "site_ids", "disabled"]}
        initialValues={
          editing && editing !== "new"
            ? { username: editing.username, role: editing.role as TenantRole, site_ids: editing.site_ids, disabled: editing.disabled }
            : { role: "site_manager", site_ids: [] }
        }
        onClose={() => setEditing(null)}
        onSubmit={async (values) => {
          const siteIds = values.role === "site_manager" ? (values.site_ids ?? []) : [];
          if (editing === "new") {
            await unwrap(
              api.POST("/v1/users", { body: { username: values.username, password: values.password ?? "", role: values.role, site_ids: siteIds } }),
            );
          } else if (editing) {
            await unwrap(
              api.PATCH("/v1/users/{user_id}", {
                params: { path: { user_id: editing.id } },
                body: {
                  role: values.role,
                  site_ids: siteIds,
                  disabled: values.disabled ?? false,
                  ...(values.password ? { password: values.password } : {}),
                },
              }),
            );
          }
          await invalidate(tenantId, "users");
        }}
      >
        {(form) => (
          <>
            <Form.Item
              label="Username"
              name="username"
              rules={[
                { required: true, message: "Choose a username" },
                { min: 3, max: 150 },
                { pattern: /^[A-Za-z0-9_.@+-]+$/, message: "Letters, digits and _ . @ + - only" },
              ]}
            >
              <Input autoComplete="off" disabled={editing !== "new"} />
            </Form.Item>
            <Form.Item
              label={editing === "new" ? "Password" : "New password"}
              name="password"
              extra={editing === "new" ? "At least 8 characters." : "Leave empty to keep the current password."}
              rules={[{ required: editing === "new", message: "Set a password" }, { min: 8, message: "At least 8 characters" }]}
            >
              <Input.Password autoComplete="new-password" />
            </Form.Item>
            <Form.Item label="Role" name="role" rules={[{ required: true }]}>
              <Radio.Group
                optionType="button"
                options={[
                  { value: "site_manager", label: "Site manager" },
                  { value: "tenant_admin", label: "Tenant admin" },
                ]}
              />
            </Form.Item>
            <Form.Item noStyle shouldUpdate={(a, b) => a.role !== b.role}>
              {() =>
                form.getFieldValue("role") === "site_manager" && (
                  <Form.Item label="Sites" name="site_ids" rules={[{ required: true, type: "array", min: 1, message: "A site manager needs at least one site" }]}>
                    <Select mode="multiple" placeholder="Choose sites" options={sites.sites.map((s) => ({ value: s.id, label: s.name }))} optionFilterProp="label" />
                  </Form.Item>
                )
              }
            </Form.Item>
            {editing !== "new" && (
              <Form.Item label="Disabled" name="disabled" valuePropName="checked" extra="A disabled user cannot sign in.">
                <Switch />
              </Form.Item>
            )}
          </>
        )}
      </FormModal>
    </>
  );
}
