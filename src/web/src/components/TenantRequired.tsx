import { Button, Empty } from "antd";
import { Link } from "react-router-dom";

/** What a system_admin sees on a tenant page before choosing a tenant. */
export function TenantRequired() {
  return (
    <div className="flex min-h-[50vh] items-center justify-center">
      <Empty
        description={
          <div className="max-w-sm">
            <div className="text-base font-medium text-slate-800">Choose a tenant first</div>
            <div className="text-slate-600">
              Platform admins act inside one tenant at a time. Pick it with the tenant switcher in the header, or open it
              from the tenant list.
            </div>
          </div>
        }
      >
        <Link to="/tenants">
          <Button type="primary">Go to tenants</Button>
        </Link>
      </Empty>
    </div>
  );
}
