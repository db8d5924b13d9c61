import { Input, Switch } from "antd";
import { useState } from "react";
import { Link } from "react-router-dom";

import { api, unwrap } from "../api/client";
import type { Camera } from "../api/types";
import { useSession } from "../auth/useSession";
import { EmptyState } from "../components/EmptyState";
import { required, type FieldSpec } from "../components/FormModal";
import { ListPage, useEditor } from "../components/ListPage";
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
  const editor = useEditor<Camera>();
  const { run, busy } = useAction();
  const list = usePagedQuery(["cameras", "list", siteId], (limit, offset) =>
    unwrap(api.GET("/v1/cameras", { params: { query: { limit, offset, ...(siteId ? { site_id: siteId } : {}) } } })),
  );
  const noSites = sites.isSuccess && sites.sites.length === 0;
  const refresh = () => invalidate(tenantId, "cameras");
  const path = (c: Camera) => ({ params: { path: { camera_id: c.id } } });
  const fields: FieldSpec<CameraForm>[] = [
    {
      name: "site_id",
      label: "Site",
      rules: [required("Choose the site")],
      input: <SiteSelect allowAll={false} className="w-full" disabled={!editor.isNew} hiddenLabel={null} />,
    },
    { name: "name", label: "Name", rules: [required("Name the camera"), { max: 200 }], input: <Input placeholder="e.g. Entrance" /> },
    {
      name: "source",
      label: "Source",
      rules: [required("Where the video comes from"), { max: 1024 }],
      extra: "rtsp://10.0.0.20:554/stream1, a USB index such as 0, or a video file path.",
      input: <Input placeholder="rtsp://…" />,
    },
    { name: "enabled", label: "Enabled", valuePropName: "checked", input: <Switch /> },
  ];

  return (
    <ListPage<Camera, CameraForm>
      title="Cameras"
      subtitle="What each site's edge worker watches: an RTSP URL, a USB index or a video file."
      list={list}
      refresh={refresh}
      scrollX={760}
      toolbar={<SiteSelect value={siteId} onChange={setSiteId} />}
      empty={
        noSites ? (
          <EmptyState title="Add a site first" hint="Cameras belong to a site." action={<Link to="/sites">Go to sites</Link>} />
        ) : (
          <EmptyState title="No cameras yet" hint="Register the cameras the edge worker reads." />
        )
      }
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
                  await unwrap(api.PATCH("/v1/cameras/{camera_id}", { ...path(c), body: { enabled: checked } }));
                  await refresh();
                }, checked ? "Camera enabled" : "Camera disabled")
              }
            />
          ),
        },
        { title: "Updated", dataIndex: "updated_at", render: formatDateTime, width: 180 },
      ]}
      actions={{
        width: 110,
        confirmed: (c) => [
          { verb: "Remove", title: `Remove camera ${c.name}?`, success: "Camera removed", action: () => unwrap(api.DELETE("/v1/cameras/{camera_id}", path(c))) },
        ],
      }}
      editor={editor}
      form={{
        noun: "camera",
        createText: "Add camera",
        createDisabled: noSites,
        fields,
        initialValues: editor.row ?? { enabled: true, site_id: siteId ?? sites.sites[0]?.id },
        create: (body) => unwrap(api.POST("/v1/cameras", { body })),
        update: (c, { site_id: _site, ...body }) => unwrap(api.PATCH("/v1/cameras/{camera_id}", { ...path(c), body })),
      }}
    />
  );
}
