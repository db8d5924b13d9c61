import { StyleProvider } from "@ant-design/cssinjs";
import { QueryClientProvider } from "@tanstack/react-query";
import { App as AntApp, ConfigProvider } from "antd";
import enGB from "antd/locale/en_GB";
import { lazy, type ComponentType, type LazyExoticComponent } from "react";
import { Route, Routes } from "react-router-dom";

import { HomeRedirect, NotFoundPage, RequirePage } from "./auth/guards";
import AppLayout from "./layout/AppLayout";
import type { PageKey } from "./lib/nav";
import { queryClient } from "./lib/query";
import { theme } from "./theme";

// Every screen is its own chunk.
const ReportsPage = lazy(() => import("./pages/ReportsPage"));
const LivePage = lazy(() => import("./pages/LivePage"));
const VisitsPage = lazy(() => import("./pages/VisitsPage"));
const CustomersPage = lazy(() => import("./pages/CustomersPage"));
const CustomerDetailPage = lazy(() => import("./pages/CustomerDetailPage"));
const SitesPage = lazy(() => import("./pages/SitesPage"));
const SiteDetailPage = lazy(() => import("./pages/SiteDetailPage"));
const CamerasPage = lazy(() => import("./pages/CamerasPage"));
const StaffPage = lazy(() => import("./pages/StaffPage"));
const UsersPage = lazy(() => import("./pages/UsersPage"));
const ApiKeysPage = lazy(() => import("./pages/ApiKeysPage"));
const AuditPage = lazy(() => import("./pages/AuditPage"));
const TenantsPage = lazy(() => import("./pages/TenantsPage"));

function guarded(page: PageKey, Component: LazyExoticComponent<ComponentType>) {
  return (
    <RequirePage page={page}>
      <Component />
    </RequirePage>
  );
}

/** The signed-in application: Ant Design, the query cache, the layout and the pages. */
export default function Shell() {
  return (
    // antd's CSS goes into @layer antd, below Tailwind's utilities (see styles.css).
    <StyleProvider layer>
      <ConfigProvider theme={theme} locale={enGB}>
        <AntApp>
          <QueryClientProvider client={queryClient}>
            <Routes>
              <Route element={<AppLayout />}>
                <Route index element={<HomeRedirect />} />
                <Route path="reports" element={guarded("reports", ReportsPage)} />
                <Route path="live" element={guarded("live", LivePage)} />
                <Route path="visits" element={guarded("visits", VisitsPage)} />
                <Route path="customers" element={guarded("customers", CustomersPage)} />
                <Route path="customers/:customerId" element={guarded("customers", CustomerDetailPage)} />
                <Route path="sites" element={guarded("sites", SitesPage)} />
                <Route path="sites/:siteId" element={guarded("sites", SiteDetailPage)} />
                <Route path="cameras" element={guarded("cameras", CamerasPage)} />
                <Route path="staff" element={guarded("staff", StaffPage)} />
                <Route path="users" element={guarded("users", UsersPage)} />
                <Route path="api-keys" element={guarded("api-keys", ApiKeysPage)} />
                <Route path="audit" element={guarded("audit", AuditPage)} />
                <Route path="tenants" element={guarded("tenants", TenantsPage)} />
                <Route path="*" element={<NotFoundPage />} />
              </Route>
            </Routes>
          </QueryClientProvider>
        </AntApp>
      </ConfigProvider>
    </StyleProvider>
  );
}
