import { BarChartOutlined, UnorderedListOutlined } from "@ant-design/icons";
import { Breadcrumb, Button, Card, Descriptions, Result, Skeleton, Table } from "antd";
import { Link, useParams } from "react-router-dom";

import { api, unwrap } from "../api/client";
import { ApiError } from "../api/problem";
import type { Camera } from "../api/types";
import { EmptyState } from "../components/EmptyState";
import { Pill } from "../components/Pill";
import { PageHeader } from "../components/PageHeader";
import { ProblemAlert } from "../components/ProblemAlert";
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

  if (site.error instanceof ApiError && (site.error.status === 404 || site.error.status === 403 || site.error.status === 422)) {
    return (
      <Result
        status="404"
        title="Site not found"
        subTitle="This site does not exist, or it is not one of the sites you can see."
        extra={
          <Link to="/sites">
            <Button type="primary">All sites</Button>
          </Link>
        }
      />
    );
  }
  if (site.error) return <ProblemAlert error={site.error} onRetry={() => void site.refetch()} />;
  if (!site.data) return <Skeleton active paragraph={{ rows: 6 }} />;

  const s = site.data;
  return (
    <>
      <PageHeader
        breadcrumb={<Breadcrumb items={[{ title: <Link to="/sites">Sites</Link> }, { title: s.name }]} />}
        title={s.name}
        subtitle={s.address || undefined}
        extra={
          <>
            <Link to={`/reports?site=${s.id}`}>
              <Button icon={<BarChartOutlined />}>Reports</Button>
            </Link>
            <Link to={`/visits?site=${s.id}`}>
              <Button icon={<UnorderedListOutlined />}>Visits</Button>
            </Link>
          </>
        }
      />
      <div className="grid gap-6 lg:grid-cols-[minmax(0,1fr)_minmax(0,2fr)]">
        <Card title="Details">
          <Descriptions column={1} size="small">
            <Descriptions.Item label="Time zone">{s.timezone}</Descriptions.Item>
            <Descriptions.Item label="Address">{s.address || "–"}</Descriptions.Item>
            <Descriptions.Item label="Created">{formatDateTime(s.created_at)}</Descriptions.Item>
            <Descriptions.Item label="Updated">{formatDateTime(s.updated_at)}</Descriptions.Item>
            <Descriptions.Item label="Site ID">
              <code className="text-xs">{s.id}</code>
            </Descriptions.Item>
          </Descriptions>
        </Card>
        <Card title="Cameras" styles={{ body: { padding: 0 } }} extra={<Link to="/cameras">Manage cameras</Link>}>
          <ProblemAlert error={cameras.error} className="m-4" />
          <Table<Camera>
            rowKey="id"
            loading={cameras.isLoading}
            dataSource={cameras.data?.items ?? []}
            pagination={false}
            scroll={{ x: 480 }}
            locale={{ emptyText: <EmptyState title="No cameras at this site" hint="Add one on the Cameras page." /> }}
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
      </div>
    </>
  );
}
