import { ApartmentOutlined } from "@ant-design/icons";
import { Select } from "antd";
import { useQuery } from "@tanstack/react-query";
import { useLocation, useNavigate } from "react-router-dom";

import { api, session, unwrap } from "../api/client";
import { useSession } from "../auth/useSession";

/** system_admin: the tenant every tenant-scoped request acts in (X-Tenant-ID). */
export function TenantSwitcher() {
  const { tenantId } = useSession();
  const navigate = useNavigate();
  const location = useLocation();
  const tenants = useQuery({
    queryKey: ["platform", "tenants", "switcher"],
    queryFn: () => unwrap(api.GET("/v1/tenants", { params: { query: { limit: 500 } } })).then((p) => p.items),
  });
  return (
    <>
    <label htmlFor="tenant-switcher" className="sr-only">
      Tenant
    </label>
    <Select
      id="tenant-switcher"
      data-testid="tenant-switcher"
      className="w-44 sm:w-56"
      placeholder={
        <span className="text-slate-600">
          <ApartmentOutlined /> Choose a tenant
        </span>
      }
      value={tenantId ?? undefined}
      loading={tenants.isLoading}
      showSearch
      optionFilterProp="label"
      allowClear
      options={(tenants.data ?? []).map((t) => ({ value: t.id, label: t.name }))}
      onChange={(value: string | undefined) => {
        session.setTenant(value ?? null);
        if (value && location.pathname.startsWith("/tenants")) navigate("/reports");
      }}
    />
    </>
  );
}
