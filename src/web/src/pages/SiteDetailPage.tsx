import { BarChartOutlined, UnorderedListOutlined } from "@ant-design/icons";
import { Button, Card } from "antd";
import { Link, useParams } from "react-router-dom";

import { api, unwrap } from "../api/client";
import type { Camera } from "../api/types";
import { DetailPage } from "../components/DetailPage";
import { EmptyState } from "../components/EmptyState";
import { ListTable } from "../components/ListPage";
import { Pill } from "../components/Pill";
import { formatDateTime } from "../lib/format";
import { useTenantQuery } from "../lib/query";

export default function SiteDetailPage() {
  const { siteId = "" } = useParams();
  const site = useTenantQuery(["sites", "one", siteId], () =>
    unwrap(api.GET("/v1/sites/{site_id}", { params: { path: { site_id: siteId } } })),
  );
  const cameras = useTenantQuery(["cameras", "site", siteId], () =>
    unwrap(api.GET("/v1/cameras", { params: { query: { site_id: siteId, limit: 500 } } })),
    { enabled: site.isSuccess },
  );

  return (
    <DetailPage
      query={site}
      list={{ to: "/sites", label: "Sites", back: "All sites" }}
      notFoundStatuses={[404, 403, 422]}
      notFound={{ title: "Site not found", subTitle: "This site does not exist, or it is not one of the sites you can see." }}
      skeletonRows={6}
      header={(s) => ({
        title: s.name,
        subtitle: s.address || undefined,
        extra: (
          <>
            <Link to={`/reports?site=${s.id}`}>
              <Button icon={<BarChartOutlined />}>Reports</Button>
            </Link>
            <Link to={`/visits?site=${s.id}`}>
              <Button icon={<UnorderedListOutlined />}>Visits</Button>
            </Link>
          </>
        ),
      })}
      facts={(s) => ({
        title: "Details",
        items: [
          ["Time zone", s.timezone],
          ["Address", s.address || "–"],
          ["Created", formatDateTime(s.created_at)],
          ["Updated", formatDateTime(s.updated_at)],
          ["Site ID", <code className="text-xs">{s.id}</code>],
        ],
      })}
    >
      {() => (
        <Card title="Cameras" styles={{ body: { padding: 0 } }} extra={<Link to="/cameras">Manage cameras</Link>}>
          <ListTable<Camera>
            list={{ query: cameras, items: cameras.data?.items ?? [], pagination: false }}
            scrollX={480}
            inlineError
            retry={false}
            empty={<EmptyState title="No cameras at this site" hint="Add one on the Cameras page." />}
            columns={[
              { title: "Name", dataIndex: "name" },
              { title: "Source", dataIndex: "source", render: (v: string) => <code className="text-xs">{v}</code> },
              {
                title: "Status",
                dataIndex: "enabled",
                render: (on: boolean) => (on ? <Pill tone="success">Enabled</Pill> : <Pill>Disabled</Pill>),
              },
            ]}
          />
        </Card>
      )}
    </DetailPage>
  );
}
