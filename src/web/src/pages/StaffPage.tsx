import { CameraOutlined, UserOutlined } from "@ant-design/icons";
import { App, Button, Image, Input, Select, Skeleton, Upload } from "antd";
import { useState } from "react";

import { api, postBinary, unwrap } from "../api/client";
import { errorMessage } from "../api/problem";
import type { StaffMember, StaffPhoto } from "../api/types";
import { useSession } from "../auth/useSession";
import { EmptyState } from "../components/EmptyState";
import { required } from "../components/FormModal";
import { ListPage, useEditor } from "../components/ListPage";
import { Pill } from "../components/Pill";
import { SiteSelect } from "../components/SiteSelect";
import { formatDateTime, plural } from "../lib/format";
import { usePagedQuery } from "../lib/paging";
import { invalidate, useTenantQuery } from "../lib/query";
import { useSites } from "../lib/sites";

interface StaffForm {
  name: string;
  site_ids: string[];
}

const PHOTO_TYPES = ["image/jpeg", "image/png"];
const THUMB = 40;

/** The newest enrolled photo through a short-lived link; a placeholder when there is none or it fails to load. */
function StaffThumb({ staff }: { staff: StaffMember }) {
  const photoId = staff.latest_photo_id ?? null;
  const query = useTenantQuery(
    ["staff", "photo", staff.id, photoId],
    () =>
      unwrap(
        api.GET("/v1/staff/{staff_id}/photos/{photo_id}/snapshot", {
          params: { path: { staff_id: staff.id, photo_id: photoId ?? "" } },
        }),
      ),
    { staleTime: 60_000, retry: false, enabled: photoId !== null },
  );
  const [failedUrl, setFailedUrl] = useState<string | null>(null);
  if (photoId !== null && query.isLoading) return <Skeleton.Avatar active shape="square" size={THUMB} />;
  if (!query.data || failedUrl === query.data.url) {
    return (
      <div
        role="img"
        aria-label={`${staff.name}: no enrolled photo shown`}
        className="flex shrink-0 items-center justify-center rounded-lg bg-slate-100 text-slate-500"
        style={{ width: THUMB, height: THUMB }}
      >
        <UserOutlined style={{ fontSize: THUMB / 2.4 }} />
      </div>
    );
  }
  return (
    <Image
      src={query.data.url}
      alt={`Enrolled photo of ${staff.name}`}
      width={THUMB}
      height={THUMB}
      rootClassName="shrink-0"
      style={{ objectFit: "cover", borderRadius: 8 }}
      preview={{ mask: false }}
      onError={() => setFailedUrl(query.data.url)}
    />
  );
}

function PhotoCount({ staff }: { staff: StaffMember }) {
  const count = staff.photo_count ?? 0;
  if (count === 0) return <Pill tone="new">No photo: counted as a visitor</Pill>;
  return <Pill tone="success">{plural(count, "photo")} enrolled</Pill>;
}

function EnrolButton({ staff }: { staff: StaffMember }) {
  const { message } = App.useApp();
  const { tenantId } = useSession();
  const [busy, setBusy] = useState(false);
  return (
    <Upload
      accept={PHOTO_TYPES.join(",")}
      showUploadList={false}
      beforeUpload={(file) => {
        if (!PHOTO_TYPES.includes(file.type)) {
          void message.error("Choose a JPEG or PNG photo.");
          return Upload.LIST_IGNORE;
        }
        if (file.size > 5 * 1024 * 1024) {
          void message.error("The photo is larger than 5 MB.");
          return Upload.LIST_IGNORE;
        }
        return true;
      }}
      customRequest={async ({ file, onSuccess, onError }) => {
        const blob = file as File;
        setBusy(true);
        try {
          const photo = await postBinary<StaffPhoto>(`/v1/staff/${staff.id}/photos`, blob, blob.type);
          void message.success(`Photo enrolled for ${staff.name} (face score ${photo.det_score.toFixed(2)}).`);
          onSuccess?.(photo);
          await invalidate(tenantId, "staff");
        } catch (error) {
          void message.error(`Photo not enrolled: ${errorMessage(error)}`, 8);
          onError?.(error as Error);
        } finally {
          setBusy(false);
        }
      }}
    >
      <Button size="small" icon={<CameraOutlined />} loading={busy}>
        Enrol photo
      </Button>
    </Upload>
  );
}

export default function StaffPage() {
  const { tenantId } = useSession();
  const sites = useSites();
  const [siteId, setSiteId] = useState<string | null>(null);
  const editor = useEditor<StaffMember>();
  const list = usePagedQuery(["staff", "list", siteId], (limit, offset) =>
    unwrap(api.GET("/v1/staff", { params: { query: { limit, offset, ...(siteId ? { site_id: siteId } : {}) } } })),
  );
  const path = (m: StaffMember) => ({ params: { path: { staff_id: m.id } } });
  const siteOptions = sites.sites.map((s) => ({ value: s.id, label: s.name }));
  const body = (values: StaffForm) => ({ name: values.name, site_ids: values.site_ids ?? [] });

  return (
    <ListPage<StaffMember, StaffForm>
      title="Staff"
      subtitle="Employees are kept out of the visitor numbers: enrol a clear, front-facing photo of each."
      list={list}
      refresh={() => invalidate(tenantId, "staff")}
      scrollX={960}
      toolbar={<SiteSelect value={siteId} onChange={setSiteId} />}
      empty={<EmptyState title="No staff yet" hint="Add employees and enrol a photo so they are not counted as visitors." />}
      columns={[
        {
          title: "Name",
          dataIndex: "name",
          render: (n: string, m) => (
            <div className="flex items-center gap-3">
              <StaffThumb staff={m} />
              <span className="font-medium">{n}</span>
            </div>
          ),
        },
        { title: "Photos", key: "photos", width: 230, render: (_, m) => <PhotoCount staff={m} /> },
        {
          title: "Sites",
          dataIndex: "site_ids",
          render: (ids: string[]) =>
            ids.length ? ids.map((id) => <Pill key={id}>{sites.name(id)}</Pill>) : <span className="text-slate-600">All sites</span>,
        },
        { title: "Added", dataIndex: "created_at", render: formatDateTime, width: 180 },
      ]}
      actions={{
        width: 220,
        leading: (m) => <EnrolButton staff={m} />,
        confirmed: (m) => [
          {
            verb: "Remove",
            title: `Remove ${m.name}?`,
            description: "Their enrolled photos are deleted too.",
            success: "Staff member removed",
            action: () => unwrap(api.DELETE("/v1/staff/{staff_id}", path(m))),
          },
        ],
      }}
      editor={editor}
      form={{
        noun: "staff member",
        createText: "Add",
        initialValues: editor.row ?? { site_ids: siteId ? [siteId] : [] },
        create: (values) => unwrap(api.POST("/v1/staff", { body: body(values) })),
        update: (m, values) => unwrap(api.PATCH("/v1/staff/{staff_id}", { ...path(m), body: body(values) })),
        fields: [
          { name: "name", label: "Name", rules: [required("Enter the name"), { max: 200 }], input: <Input /> },
          {
            name: "site_ids",
            label: "Works at",
            extra: "Leave empty for every site.",
            input: <Select mode="multiple" allowClear placeholder="All sites" options={siteOptions} optionFilterProp="label" />,
          },
        ],
      }}
    />
  );
}
