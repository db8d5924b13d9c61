import { StopOutlined } from "@ant-design/icons";
import { Alert, Button, Input, Modal, Select, Typography } from "antd";
import { useState } from "react";

import { api, unwrap } from "../api/client";
import type { ApiKey, ApiKeyCreated } from "../api/types";
import { useSession } from "../auth/useSession";
import { EmptyState } from "../components/EmptyState";
import { required } from "../components/FormModal";
import { ListPage, useEditor } from "../components/ListPage";
import { Pill } from "../components/Pill";
import { SiteSelect } from "../components/SiteSelect";
import { formatDateTime, formatRelative } from "../lib/format";
import { usePagedQuery } from "../lib/paging";
import { invalidate } from "../lib/query";
import { useCameras, useSites } from "../lib/sites";

interface KeyForm {
  name: string;
  site_id: string;
  camera_id?: string | null;
}

export default function ApiKeysPage() {
  const { tenantId } = useSession();
  const sites = useSites();
  const cameras = useCameras();
  const editor = useEditor<ApiKey>();
  const [created, setCreated] = useState<ApiKeyCreated | null>(null);
  const list = usePagedQuery(["api-keys", "list"], (limit, offset) => unwrap(api.GET("/v1/api-keys", { params: { query: { limit, offset } } })));
  const path = (k: ApiKey) => ({ params: { path: { key_id: k.id } } });

  return (
    <ListPage<ApiKey, KeyForm>
      title="API keys"
      subtitle="Edge workers sign in with a key bound to one site (and optionally one camera)."
      list={list}
      refresh={() => invalidate(tenantId, "api-keys")}
      scrollX={860}
      empty={<EmptyState title="No API keys yet" hint="Create one for each edge worker (Mac mini) that sends faces." />}
      columns={[
        { title: "Name", dataIndex: "name", render: (n: string) => <span className="font-medium">{n}</span> },
        { title: "Site", dataIndex: "site_id", render: (id: string) => sites.name(id) },
        {
          title: "Camera",
          dataIndex: "camera_id",
          render: (id: string | null) => (id ? (cameras.byId.get(id)?.name ?? "Unknown camera") : <span className="text-slate-600">Any</span>),
        },
        { title: "Created", dataIndex: "created_at", render: formatDateTime, width: 180 },
        { title: "Last used", dataIndex: "last_used_at", render: (t: string | null) => formatRelative(t), width: 140 },
        {
          title: "Status",
          dataIndex: "revoked_at",
          width: 110,
          render: (revoked: string | null) => (revoked ? <Pill tone="danger">Revoked</Pill> : <Pill tone="success">Active</Pill>),
        },
      ]}
      actions={{
        width: 130,
        confirmed: (k) => [
          {
            verb: "Revoke",
            title: `Revoke ${k.name}?`,
            description: "Workers using it are signed out at their next request.",
            icon: <StopOutlined />,
            danger: false,
            disabled: k.revoked_at !== null,
            action: () => unwrap(api.PATCH("/v1/api-keys/{key_id}", { ...path(k), body: { revoked: true } })),
            success: "Key revoked",
          },
          { verb: "Delete", title: `Delete ${k.name}?`, action: () => unwrap(api.DELETE("/v1/api-keys/{key_id}", path(k))), success: "Key deleted" },
        ],
      }}
      editor={editor}
      form={{
        noun: "API key",
        createText: "Create key",
        createDisabled: sites.isSuccess && !sites.sites.length,
        initialValues: { name: "edge worker", site_id: sites.sites[0]?.id },
        create: async (values) => {
          const body = { name: values.name, site_id: values.site_id, camera_id: values.camera_id || null };
          setCreated(await unwrap(api.POST("/v1/api-keys", { body })));
        },
        fields: [
          { name: "name", label: "Name", rules: [required("Name the key"), { max: 200 }], input: <Input placeholder="e.g. Mac mini, back office" /> },
          {
            name: "site_id",
            label: "Site",
            rules: [required("Choose the site")],
            input: (form) => (
              <SiteSelect allowAll={false} className="w-full" hiddenLabel={null} onChange={(v) => form.setFieldsValue({ site_id: v ?? "", camera_id: null })} />
            ),
          },
          {
            name: "camera_id",
            label: "Camera",
            extra: "Optional: bind the key to a single camera.",
            dependsOn: ["site_id"],
            input: (form) => (
              <Select
                allowClear
                placeholder="Any camera of the site"
                options={cameras.cameras.filter((c) => c.site_id === form.getFieldValue("site_id")).map((c) => ({ value: c.id, label: c.name }))}
              />
            ),
          },
        ],
      }}
    >
      <Modal
        open={created !== null}
        title="Copy the new API key"
        onCancel={() => setCreated(null)}
        footer={
          <Button type="primary" onClick={() => setCreated(null)}>
            I have stored it
          </Button>
        }
        maskClosable={false}
      >
        <Alert
          type="warning"
          showIcon
          className="!mb-4"
          message="This is the only time the key is shown."
          description="Store it in the edge worker's configuration now; the appliance keeps only a hash of it."
        />
        <Typography.Paragraph
          copyable={{ text: created?.api_key ?? "", tooltips: ["Copy", "Copied"] }}
          className="!mb-0 rounded-lg bg-slate-50 p-3 font-mono text-sm break-all"
          data-testid="api-key-secret"
        >
          {created?.api_key}
        </Typography.Paragraph>
      </Modal>
    </ListPage>
  );
}
