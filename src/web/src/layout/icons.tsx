import {
  ApartmentOutlined,
  AuditOutlined,
  BarChartOutlined,
  CameraOutlined,
  IdcardOutlined,
  KeyOutlined,
  ShopOutlined,
  TeamOutlined,
  ThunderboltOutlined,
  UnorderedListOutlined,
  UserOutlined,
} from "@ant-design/icons";
import type { ReactNode } from "react";

import type { PageKey } from "../lib/nav";

export const PAGE_ICONS: Record<PageKey, ReactNode> = {
  reports: <BarChartOutlined />,
  live: <ThunderboltOutlined />,
  visits: <UnorderedListOutlined />,
  customers: <UserOutlined />,
  sites: <ShopOutlined />,
  cameras: <CameraOutlined />,
  staff: <IdcardOutlined />,
  users: <TeamOutlined />,
  "api-keys": <KeyOutlined />,
  audit: <AuditOutlined />,
  tenants: <ApartmentOutlined />,
};
