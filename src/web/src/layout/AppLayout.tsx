import { DownOutlined, LogoutOutlined, MenuFoldOutlined, MenuUnfoldOutlined, UserOutlined } from "@ant-design/icons";
import { Avatar, Button, Drawer, Dropdown, Grid, Layout, Menu, Spin, type MenuProps } from "antd";
import { Suspense, useEffect, useMemo, useState } from "react";
import { Link, Outlet, useLocation, useNavigate } from "react-router-dom";

import { session } from "../api/client";
import { useSession } from "../auth/useSession";
import { PAGES, ROLE_LABELS, pageForPath, visiblePages } from "../lib/nav";
import { queryClient } from "../lib/query";
import { PAGE_ICONS } from "./icons";
import { Logo } from "./Logo";
import { TenantSwitcher } from "./TenantSwitcher";

const GROUPS = ["Insights", "Setup", "Administration"] as const;

export function PageFallback() {
  return (
    <div className="flex min-h-[40vh] items-center justify-center" role="status" aria-live="polite">
      <Spin size="large" tip="Loading…">
        <div className="h-16 w-32" />
      </Spin>
    </div>
  );
}

export default function AppLayout() {
  const state = useSession();
  const role = state.claims?.role;
  const location = useLocation();
  const navigate = useNavigate();
  const [collapsed, setCollapsed] = useState<boolean | null>(null);
  const [narrow, setNarrow] = useState(false);
  const isCollapsed = collapsed ?? narrow;
  // Phones get the navigation in a drawer over the page; a permanent strip would take a fifth
  // of a 390 px screen.
  const phone = Grid.useBreakpoint().md === false;
  const [drawerOpen, setDrawerOpen] = useState(false);
  useEffect(() => setDrawerOpen(false), [location.pathname, phone]);

  const [expandedItems, collapsedItems]: MenuProps["items"][] = useMemo(() => {
    const pages = visiblePages(role, state.tenantId !== null);
    const groups = GROUPS.map((group) => pages.filter((p) => p.group === group)).filter((g) => g.length > 0);
    // Expanded: real links (middle-click, copy address). Collapsed: the label is hidden inside the
    // item, and focusing a link there would scroll the icon out of view, so the item itself
    // navigates (Menu onClick below).
    const item = (p: (typeof pages)[number], collapsed: boolean) => ({
      key: p.key,
      icon: PAGE_ICONS[p.key],
      label: collapsed ? p.label : <Link to={p.path}>{p.label}</Link>,
      title: p.label,
    });
    // Collapsed (icons only, tablet width): no group titles, dividers between the groups.
    return [
      groups.map((g) => ({
        type: "group" as const,
        key: g[0]?.group ?? "",
        label: g[0]?.group,
        children: g.map((p) => item(p, false)),
      })),
      groups.flatMap((g, i) => [...(i ? [{ type: "divider" as const, key: `divider-${i}` }] : []), ...g.map((p) => item(p, true))]),
    ];
  }, [role, state.tenantId]);

  const selected = pageForPath(location.pathname)?.key;
  const signOut = () => {
    session.logout();
    queryClient.clear();
    navigate("/login", { replace: true });
  };
  const userMenu: MenuProps = {
    items: [
      { key: "who", label: <span className="text-slate-600">Signed in as {state.username}</span>, disabled: true },
      { type: "divider" },
      { key: "logout", icon: <LogoutOutlined />, label: "Sign out", danger: true },
    ],
    onClick: ({ key }) => key === "logout" && signOut(),
  };

  return (
    <Layout className="min-h-screen">
      <a href="#main" className="skip-link">
        Skip to content
      </a>
      <Layout.Header className="app-header sticky top-0 z-20 flex items-center gap-3 !px-4 md:!px-6">
        {phone ? (
          <Button
            type="text"
            aria-label="Open navigation"
            aria-expanded={drawerOpen}
            icon={<MenuUnfoldOutlined />}
            onClick={() => setDrawerOpen(true)}
          />
        ) : (
          <Button
            type="text"
            aria-label={isCollapsed ? "Expand navigation" : "Collapse navigation"}
            icon={isCollapsed ? <MenuUnfoldOutlined /> : <MenuFoldOutlined />}
            onClick={() => setCollapsed(!isCollapsed)}
          />
        )}
        <Link to="/" className="mr-auto flex items-center">
          <Logo />
        </Link>
        {role === "system_admin" && <TenantSwitcher />}
        <Dropdown menu={userMenu} trigger={["click"]} placement="bottomRight">
          <Button type="text" className="!h-10 !px-2" data-testid="user-menu" aria-label={`${state.username ?? ""} ${role ? ROLE_LABELS[role] : ""}, account menu`}>
            <span className="flex items-center gap-2">
              <Avatar size="small" icon={<UserOutlined aria-hidden />} className="!bg-teal-700" aria-hidden />
              <span className="hidden text-left leading-tight md:block">
                <span className="block text-sm font-medium text-slate-900">{state.username}</span>{" "}
                <span className="block text-xs text-slate-600">{role ? ROLE_LABELS[role] : ""}</span>
              </span>
              <DownOutlined aria-hidden className="text-xs text-slate-600" />
            </span>
          </Button>
        </Dropdown>
      </Layout.Header>
      <Drawer
        open={phone && drawerOpen}
        onClose={() => setDrawerOpen(false)}
        placement="left"
        width={264}
        title={<Logo />}
        styles={{ body: { padding: 0 } }}
      >
        <nav aria-label="Main">
          <Menu
            mode="inline"
            selectedKeys={selected ? [selected] : []}
            items={expandedItems}
            className="app-menu"
            inlineIndent={20}
            onClick={() => setDrawerOpen(false)}
          />
        </nav>
      </Drawer>
      <Layout hasSider={!phone}>
        {!phone && (
          <Layout.Sider
            width={232}
            collapsedWidth={72}
            collapsed={isCollapsed}
            breakpoint="lg"
            onBreakpoint={(broken) => {
              setNarrow(broken);
              setCollapsed(null);
            }}
            trigger={null}
            theme="light"
            className="app-sider"
          >
            <nav aria-label="Main">
              <Menu
                mode="inline"
                selectedKeys={selected ? [selected] : []}
                items={isCollapsed ? collapsedItems : expandedItems}
                className="app-menu"
                inlineIndent={20}
                onClick={({ key }) => {
                  const page = PAGES.find((p) => p.key === key);
                  if (isCollapsed && page) navigate(page.path);
                }}
              />
            </nav>
          </Layout.Sider>
        )}
        <Layout.Content id="main" tabIndex={-1} className="app-content min-w-0 p-4 md:p-8">
          <div className="mx-auto max-w-[1400px]">
            <Suspense fallback={<PageFallback />}>
              <Outlet />
            </Suspense>
          </div>
        </Layout.Content>
      </Layout>
    </Layout>
  );
}
