import { Input, Radio, Select, Switch } from "antd";

import { api, unwrap } from "../api/client";
import type { Role } from "../api/session";
import type { User } from "../api/types";
import { useSession } from "../auth/useSession";
import { EmptyState } from "../components/EmptyState";
import { required, type FieldSpec } from "../components/FormModal";
import { ListPage, useEditor } from "../components/ListPage";
import { Pill, type Tone } from "../components/Pill";
import { formatDateTime } from "../lib/format";
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
const ROLES = [
  { value: "site_manager", label: "Site manager" },
  { value: "tenant_admin", label: "Tenant admin" },
];

export default function UsersPage() {
  const { tenantId, claims } = useSession();
  const sites = useSites();
  const editor = useEditor<User>();
  const list = usePagedQuery(["users", "list"], (limit, offset) => unwrap(api.GET("/v1/users", { params: { query: { limit, offset } } })));
  const me = claims?.sub.replace(/^user:/, "");
  const isNew = editor.isNew;
  const siteIds = (values: UserForm) => (values.role === "site_manager" ? (values.site_ids ?? []) : []);
  const path = (u: User) => ({ params: { path: { user_id: u.id } } });
  const fields: FieldSpec<UserForm>[] = [
    {
      name: "username",
      label: "Username",
      rules: [
        required("Choose a username"),
        { min: 3, max: 150 },
        { pattern: /^[A-Za-z0-9_.@+-]+$/, message: "Letters, digits and _ . @ + - only" },
      ],
      input: <Input autoComplete="off" disabled={!isNew} />,
    },
    {
      name: "password",
      label: isNew ? "Password" : "New password",
      extra: isNew ? "At least 8 characters." : "Leave empty to keep the current password.",
      rules: [{ required: isNew, message: "Set a password" }, { min: 8, message: "At least 8 characters" }],
      input: <Input.Password autoComplete="new-password" />,
    },
    { name: "role", label: "Role", rules: [{ required: true }], input: <Radio.Group optionType="button" options={ROLES} /> },
    {
      name: "site_ids",
      label: "Sites",
      rules: [{ required: true, type: "array", min: 1, message: "A site manager needs at least one site" }],
      dependsOn: ["role"],
      when: (v) => v.role === "site_manager",
      input: <Select mode="multiple" placeholder="Choose sites" options={sites.sites.map((s) => ({ value: s.id, label: s.name }))} optionFilterProp="label" />,
    },
  ];
  if (!isNew) fields.push({ name: "disabled", label: "Disabled", valuePropName: "checked", extra: "A disabled user cannot sign in.", input: <Switch /> });
  const row = editor.row;

  return (
    <ListPage<User, UserForm>
      title="Users"
      subtitle="Who can sign in to this tenant. Site managers see only the sites assigned to them."
      list={list}
      refresh={() => invalidate(tenantId, "users")}
      scrollX={800}
      empty={<EmptyState title="No users yet" hint="Invite a tenant admin or a site manager." />}
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
            user.role === "site_manager" ? ids.map((id) => <Pill key={id}>{sites.name(id)}</Pill>) : <span className="text-slate-600">All sites</span>,
        },
        {
          title: "Status",
          dataIndex: "disabled",
          width: 110,
          render: (off: boolean) => (off ? <Pill tone="danger">Disabled</Pill> : <Pill tone="success">Active</Pill>),
        },
        { title: "Created", dataIndex: "created_at", render: formatDateTime, width: 180 },
      ]}
      actions={{
        width: 110,
        name: (u) => u.username,
        confirmed: (u) => [
          {
            verb: "Delete",
            title: `Delete user ${u.username}?`,
            disabled: u.id === me,
            success: "User deleted",
            action: () => unwrap(api.DELETE("/v1/users/{user_id}", path(u))),
          },
        ],
      }}
      editor={editor}
      form={{
        noun: "user",
        editTitle: (u) => `Edit ${u.username}`,
        createText: "Create user",
        fields,
        initialValues: row
          ? { username: row.username, role: row.role as TenantRole, site_ids: row.site_ids, disabled: row.disabled }
          : { role: "site_manager", site_ids: [] },
        create: (values) => {
          const body = { username: values.username, password: values.password ?? "", role: values.role, site_ids: siteIds(values) };
          return unwrap(api.POST("/v1/users", { body }));
        },
        update: (u, values) => {
          const password = values.password ? { password: values.password } : {};
          const body = { role: values.role, site_ids: siteIds(values), disabled: values.disabled ?? false, ...password };
          return unwrap(api.PATCH("/v1/users/{user_id}", { ...path(u), body }));
        },
      }}
    />
  );
}
