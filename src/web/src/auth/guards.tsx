import { Button, Result } from "antd";
import type { ReactNode } from "react";
import { Link, Navigate } from "react-router-dom";

import { TenantRequired } from "../components/TenantRequired";
import { canOpen, homePath, pageByKey, type PageKey } from "../lib/nav";
import { useSession } from "./useSession";

/** The page's role rule (same table as the sidebar), and a tenant for tenant pages. */
export function RequirePage({ page, children }: { page: PageKey; children: ReactNode }) {
  const { claims, tenantId } = useSession();
  const nav = pageByKey(page);
  if (!canOpen(nav, claims?.role)) {
    return (
      <Result
        status="403"
        title="You do not have access to this page"
        subTitle={`${nav.label} is for ${nav.roles.includes("tenant_admin") ? "administrators" : "platform administrators"}.`}
        extra={
          <Link to={homePath(claims?.role, tenantId !== null)}>
            <Button type="primary">Back to the dashboard</Button>
          </Link>
        }
      />
    );
  }
  if (nav.tenantScoped && tenantId === null) return <TenantRequired />;
  return <>{children}</>;
}

export function HomeRedirect() {
  const { claims, tenantId } = useSession();
  return <Navigate to={homePath(claims?.role, tenantId !== null)} replace />;
}

export function NotFoundPage() {
  return (
    <Result
      status="404"
      title="Page not found"
      subTitle="The address does not match any page of the dashboard."
      extra={
        <Link to="/">
          <Button type="primary">Back to the dashboard</Button>
        </Link>
      }
    />
  );
}
