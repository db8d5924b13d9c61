import { DeleteOutlined, EditOutlined, PlusOutlined } from "@ant-design/icons";
import { Button, Card, Form, Input, Popconfirm, Space, Switch, Table } from "antd";
import { useState } from "react";
import { Link } from "react-router-dom";

import { api, unwrap } from "../api/client";
import type { Camera } from "../api/types";
import { useSession } from "../auth/useSession";
import { EmptyState } from "../components/EmptyState";
import { FormModal } from "../components/FormModal";
import { PageHeader } from "../components/PageHeader";
import { ProblemAlert } from "../components/ProblemAlert";
import { SiteSelect } from "../components/SiteSelect";
import { formatDateTime } from "../lib/format";
import { useAction } from "../lib/mutation";
import { usePagedQuery } from "../lib/paging";
import { invalidate } from "../lib/query";
import { useSites } from "../lib/sites";

interface CameraForm {
  site_id: string;
  name: string;
  source: string;
  enabled: boolean;
}

export default function CamerasPage() {
  const { tenantId } = useSession();
  const sites = useSites();
  const [siteId, setSiteId] = useState<string | null>(null);
  const [editing, setEditing] = useState<Camera | "new" | null>(null);
  const { run, busy } = useAction();
  const { query, items, pagination, resetPage } = usePagedQuery(["cameras", "list", siteId], (limit, offset) =>
    unwrap(api.GET("/v1/cameras", { params: { query: { limit, offset, ...(siteId ? { site_id: siteId } : {}) } } })),
  );
  const noSites = sites.isSuccess && sites.sites.length === 0;

  return (
    <>
      <PageHeader
        title="Cameras"
        subtitle="What each site's edge worker watches: an RTSP URL, a USB index or a video file."
        extra={
          <Button type="primary" icon={<PlusOutlined />} onClick={() => setEditing("new")} disabled={noSites}>
            New camera
          </Button>
        }
      />
      <ProblemAlert error={query.error} className="mb-4" onRetry={() => void query.refetch()} />
      <Card styles={{ body: { padding: 0 } }}>
        <div className="flex flex-wrap items-center gap-3 border-b border-slate-100 p-4">
          <SiteSelect
            value={siteId}
            onChange={(v) => {
              setSiteId(v);
              resetPage();
            }}
          />
        </div>
        <Table<Camera>
          rowKey="id"
          loading={query.isLoading}
          dataSource={items}
          pagination={pagination}
          scroll={{ x: 760 }}
          locale={{
            emptyText: noSites ? (
              <EmptyState title="Add a site first" hint="Cameras belong to a site." action={<Link to="/sites">Go to sites</Link>} />
            ) : (
              <EmptyState title="No cameras yet" hint="Register the cameras the edge worker reads." />
            ),
          }}
          columns={[
            { title: "Name", dataIndex: "name", render: (n: string) => <span className="font-medium">{n}</span> },
            { title: "Site", dataIndex: "site_id", render: (id: string) => <Link to={`/sites/${id}`}>{sites.name(id)}</Link> },
            { title: "Source", dataIndex: "source", render: (v: string) => <code className="text-xs break-all">{v}</code> },
            {
              title: "Enabled",
              dataIndex: "enabled",
              width: 100,
              render: (on: boolean, c) => (
                <Switch
                  size="small"
                  checked={on}
                  aria-label={`${c.name} enabled`}
                  loading={busy === `toggle-${c.id}`}
                  onChange={(checked) =>
                    run(`toggle-${c.id}`, async () => {
                      await unwrap(api.PATCH("/v1/cameras/{camera_id}", { params: { path: { camera_id: c.id } }, body: { enabled: checked } }));
                      await invalidate(tenantId, "cameras");
                    }, checked ? "Camera enabled" : "Camera disabled")
                  }
                />
              ),
            },
            { title: "Updated", dataIndex: "updated_at", render: formatDateTime, width: 180 },
            {
              title: "Actions",
              key: "actions",
              width: 110,
              render: (_, c) => (
                <Space>
                  <Button size="small" icon={<EditOutlined />} aria-label={`Edit ${c.name}`} onClick={() => setEditing(c)} />
                  <Popconfirm
                    title={`Remove camera ${c.name}?`}
                    okText="Remove"
                    okButtonProps={{ danger: true }}
                    onConfirm={() =>
                      run(`delete-${c.id}`, async () => {
                        await unwrap(api.DELETE("/v1/cameras/{camera_id}", { params: { path: { camera_id: c.id } } }));
                        await invalidate(tenantId, "cameras");
                      }, "Camera removed")
                    }
                  >
                    <Button size="small" danger icon={<DeleteOutlined />} aria-label={`Remove ${c.name}`} loading={busy === `delete-${c.id}`} />
                  </Popconfirm>
                </Space>
              ),
            },
          ]}
        />
      </Card>
      <FormModal<CameraForm>
        open={editing !== null}
        title={editing === "new" ? "New camera" : "Edit camera"}
        okText={editing === "new" ? "Add camera" : "Save"}
        fields={["site_id", "name", "source", "enabled"]}
        initialValues={editing && editing !== "new" ? editing : { enabled: true, site_id: siteId ?? sites.sites[0]?.id }}
        onClose={() => setEditing(null)}
        onSubmit={async (values) => {
          if (editing === "new") await unwrap(api.POST("/v1/cameras", { body: values }));
          else if (editing) {
            const { site_id: _site, ...changes } = values;
            await unwrap(api.PATCH("/v1/cameras/{camera_id}", { params: { path: { camera_id: editing.id } }, body: changes }));
          }
          await invalidate(tenantId, "cameras");
        }}
      >
        <Form.Item label="Site" name="site_id" rules={[{ required: true, message: "Choose the site" }]}>
          <SiteSelect allowAll={false} className="w-full" disabled={editing !== "new"} hiddenLabel={null} />
        </Form.Item>
        <Form.Item label="Name" name="name" rules={[{ required: true, message: "Name the camera" }, { max: 200 }]}>
          <Input placeholder="e.g. Entrance" />
        </Form.Item>
        <Form.Item
          label="Source"
          name="source"
          rules={[{ required: true, message: "Where the video comes from" }, { max: 1024 }]}
          extra="rtsp://10.0.0.20:554/stream1, a USB index such as 0, or a video file path."
        >
          <Input placeholder="rtsp://…" />
        </Form.Item>
        <Form.Item label="Enabled" name="enabled" valuePropName="checked">
          <Switch />
        </Form.Item>
      </FormModal>
    </>
  );
}
