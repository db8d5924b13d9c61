import { StyleProvider } from "@ant-design/cssinjs";
import { QueryClientProvider } from "@tanstack/react-query";
import { App as AntApp, ConfigProvider } from "antd";
import enGB from "antd/locale/en_GB";
import { lazy, type ComponentType, type LazyExoticComponent } from "react";
import { Route, Routes } from "react-router-dom";

import { HomeRedirect, NotFoundPage, RequirePage } from "./auth/guards";
import AppLayout from "./layout/AppLayout";
import { PAGES, type PageKey } from "./lib/nav";
import { queryClient } from "./lib/query";
import { theme } from "./theme";

type Screen = LazyExoticComponent<ComponentType>;

// Every screen is its own chunk; the routes are the sidebar's pages (nav.ts) plus two detail pages.
const SCREENS: Record<PageKey, Screen> = {
  reports: lazy(() => import("./pages/ReportsPage")),
  live: lazy(() => import("./pages/LivePage")),
  visits: lazy(() => import("./pages/VisitsPage")),
  customers: lazy(() => import("./pages/CustomersPage")),
  sites: lazy(() => import("./pages/SitesPage")),
  cameras: lazy(() => import("./pages/CamerasPage")),
  staff: lazy(() => import("./pages/StaffPage")),
  users: lazy(() => import("./pages/UsersPage")),
  "api-keys": lazy(() => import("./pages/ApiKeysPage")),
  audit: lazy(() => import("./pages/AuditPage")),
  tenants: lazy(() => import("./pages/TenantsPage")),
};
const DETAILS: readonly { page: PageKey; path: string; screen: Screen }[] = [
  { page: "customers", path: "customers/:customerId", screen: lazy(() => import("./pages/CustomerDetailPage")) },
  { page: "sites", path: "sites/:siteId", screen: lazy(() => import("./pages/SiteDetailPage")) },
];

function guarded(page: PageKey, Component: Screen) {
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
                {PAGES.map(({ key, path }) => (
                  <Route key={key} path={path.slice(1)} element={guarded(key, SCREENS[key])} />
                ))}
                {DETAILS.map(({ page, path, screen }) => (
                  <Route key={path} path={path} element={guarded(page, screen)} />
                ))}
                <Route path="*" element={<NotFoundPage />} />
              </Route>
            </Routes>
          </QueryClientProvider>
        </AntApp>
      </ConfigProvider>
    </StyleProvider>
  );
}
