/** Who sees which page: one table for the sidebar and the route guards. */
import type { Role } from "../api/session";

export type PageKey =
  | "reports"
  | "live"
  | "visits"
  | "customers"
  | "sites"
  | "cameras"
  | "staff"
  | "users"
  | "api-keys"
  | "audit"
  | "tenants";

export interface NavPage {
  key: PageKey;
  path: string;
  label: string;
  group: "Insights" | "Setup" | "Administration";
  roles: readonly Role[];
  /** Needs a tenant to act in (a system_admin must pick one first). */
  tenantScoped: boolean;
}

const MANAGERS: readonly Role[] = ["system_admin", "tenant_admin", "site_manager"];
const ADMINS: readonly Role[] = ["system_admin", "tenant_admin"];

export const PAGES: readonly NavPage[] = [
  { key: "reports", path: "/reports", label: "Reports", group: "Insights", roles: MANAGERS, tenantScoped: true },
  { key: "live", path: "/live", label: "Live monitor", group: "Insights", roles: MANAGERS, tenantScoped: true },
  { key: "visits", path: "/visits", label: "Visits", group: "Insights", roles: MANAGERS, tenantScoped: true },
  { key: "customers", path: "/customers", label: "Customers", group: "Insights", roles: MANAGERS, tenantScoped: true },
  { key: "sites", path: "/sites", label: "Sites", group: "Setup", roles: MANAGERS, tenantScoped: true },
  { key: "cameras", path: "/cameras", label: "Cameras", group: "Setup", roles: MANAGERS, tenantScoped: true },
  { key: "staff", path: "/staff", label: "Staff", group: "Setup", roles: MANAGERS, tenantScoped: true },
  { key: "users", path: "/users", label: "Users", group: "Administration", roles: ADMINS, tenantScoped: true },
  { key: "api-keys", path: "/api-keys", label: "API keys", group: "Administration", roles: ADMINS, tenantScoped: true },
  { key: "audit", path: "/audit", label: "Audit log", group: "Administration", roles: ADMINS, tenantScoped: true },
  { key: "tenants", path: "/tenants", label: "Tenants", group: "Administration", roles: ["system_admin"], tenantScoped: false },
];

export function pageByKey(key: PageKey): NavPage {
  const page = PAGES.find((p) => p.key === key);
  if (!page) throw new Error(`unknown page ${key}`);
  return page;
}

export function canOpen(page: NavPage, role: Role | undefined): boolean {
  return role !== undefined && page.roles.includes(role);
}

/** The pages of the sidebar, in order; tenant pages only once a tenant is chosen. */
export function visiblePages(role: Role | undefined, hasTenant: boolean): NavPage[] {
  return PAGES.filter((p) => canOpen(p, role) && (hasTenant || !p.tenantScoped));
}

/** Where a user lands after signing in. */
export function homePath(role: Role | undefined, hasTenant: boolean): string {
  if (role === "system_admin" && !hasTenant) return "/tenants";
  return "/reports";
}

/** The page a pathname belongs to (for the selected sidebar item). */
export function pageForPath(pathname: string): NavPage | undefined {
  return PAGES.find((p) => pathname === p.path || pathname.startsWith(`${p.path}/`));
}

export const ROLE_LABELS: Record<Role, string> = {
  system_admin: "Platform admin",
  tenant_admin: "Tenant admin",
  site_manager: "Site manager",
  worker: "Edge worker",
};

export function isAdmin(role: Role | undefined): boolean {
  return role === "system_admin" || role === "tenant_admin";
}
