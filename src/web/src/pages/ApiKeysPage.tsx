import { DeleteOutlined, PlusOutlined, StopOutlined } from "@ant-design/icons";
import { Alert, Button, Card, Form, Input, Modal, Popconfirm, Select, Space, Table, Typography } from "antd";
import { useState } from "react";

import { api, unwrap } from "../api/client";
import type { ApiKey, ApiKeyCreated } from "../api/types";
import { useSession } from "../auth/useSession";
import { EmptyState } from "../components/EmptyState";
import { FormModal } from "../components/FormModal";
import { Pill } from "../components/Pill";
import { PageHeader } from "../components/PageHeader";
import { ProblemAlert } from "../components/ProblemAlert";
import { SiteSelect } from "../components/SiteSelect";
import { formatDateTime, formatRelative } from "../lib/format";
import { useAction } from "../lib/mutation";
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
  const [creating, setCreating] = useState(false);
  const [created, setCreated] = useState<ApiKeyCreated | null>(null);
  const { run, busy } = useAction();
  const { query, items, pagination } = usePagedQuery(["api-keys", "list"], (limit, offset) =>
    unwrap(api.GET("/v1/api-keys", { params: { query: { limit, offset } } })),
  );

  return (
    <>
      <PageHeader
        title="API keys"
        subtitle="Edge workers sign in with a key bound to one site (and optionally one camera)."
        extra={
          <Button type="primary" icon={<PlusOutlined />} onClick={() => setCreating(true)} disabled={sites.isSuccess && !sites.sites.length}>
            New API key
          </Button>
        }
      />
      <ProblemAlert error={query.error} className="mb-4" onRetry={() => void query.refetch()} />
      <Card styles={{ body: { padding: 0 } }}>
        <Table<ApiKey>
          rowKey="id"
          loading={query.isLoading}
          dataSource={items}
          pagination={pagination}
          scroll={{ x: 860 }}
          locale={{ emptyText: <EmptyState title="No API keys yet" hint="Create one for each edge worker (Mac mini) that sends faces." /> }}
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
            {
              title: "Actions",
              key: "actions",
              width: 130,
              render: (_, k) => (
                <Space>
                  <Popconfirm
                    title={`Revoke ${k.name}?`}
                    description="Workers using it are signed out at their next request."
                    okText="Revoke"
                    okButtonProps={{ danger: true }}
                    disabled={k.revoked_at !== null}
                    onConfirm={() =>
                      run(`revoke-${k.id}`, async () => {
                        await unwrap(api.PATCH("/v1/api-keys/{key_id}", { params: { path: { key_id: k.id } }, body: { revoked: true } }));
                        await invalidate(tenantId, "api-keys");
                      }, "Key revoked")
                    }
                  >
                    <Button
                      size="small"
                      icon={<StopOutlined />}
                      disabled={k.revoked_at !== null}
                      loading={busy === `revoke-${k.id}`}
                      aria-label={`Revoke ${k.name}`}
                    />
                  </Popconfirm>
                  <Popconfirm
                    title={`Delete ${k.name}?`}
                    okText="Delete"
                    okButtonProps={{ danger: true }}
                    onConfirm={() =>
                      run(`delete-${k.id}`, async () => {
                        await unwrap(api.DELETE("/v1/api-keys/{key_id}", { params: { path: { key_id: k.id } } }));
                        await invalidate(tenantId, "api-keys");
                      }, "Key deleted")
                    }
                  >
                    <Button size="small" danger icon={<DeleteOutlined />} loading={busy === `delete-${k.id}`} aria-label={`Delete ${k.name}`} />
                  </Popconfirm>
                </Space>
              ),
            },
          ]}
        />
      </Card>
      <FormModal<KeyForm>
        open={creating}
        title="New API key"
        okText="Create key"
        fields={["name", "site_id", "camera_id"]}
        initialValues={{ name: "edge worker", site_id: sites.sites[0]?.id }}
        onClose={() => setCreating(false)}
        onSubmit={async (values) => {
          const key = await unwrap(
            api.POST("/v1/api-keys", { body: { name: values.name, site_id: values.site_id, camera_id: values.camera_id || null } }),
          );
          setCreated(key);
          await invalidate(tenantId, "api-keys");
        }}
      >
        {(form) => (
          <>
            <Form.Item label="Name" name="name" rules={[{ required: true, message: "Name the key" }, { max: 200 }]}>
              <Input placeholder="e.g. Mac mini, back office" />
            </Form.Item>
            <Form.Item label="Site" name="site_id" rules={[{ required: true, message: "Choose the site" }]}>
              <SiteSelect allowAll={false} className="w-full" hiddenLabel={null} onChange={(v) => form.setFieldsValue({ site_id: v ?? "", camera_id: null })} />
            </Form.Item>
            <Form.Item noStyle shouldUpdate={(a, b) => a.site_id !== b.site_id}>
              {() => (
                <Form.Item label="Camera" name="camera_id" extra="Optional: bind the key to a single camera.">
                  <Select
                    allowClear
                    placeholder="Any camera of the site"
                    options={cameras.cameras.filter((c) => c.site_id === form.getFieldValue("site_id")).map((c) => ({ value: c.id, label: c.name }))}
                  />
                </Form.Item>
              )}
            </Form.Item>
          </>
        )}
      </FormModal>
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
    </>
  );
}
