import type { ThemeConfig } from "antd";

/** Brand: deep teal on cool greys; text colours dark enough for WCAG AA on white. */
export const BRAND = {
  primary: "#0f766e",
  visits: "#0f766e",
  unique: "#4f46e5",
  newVisitors: "#d97706",
  returning: "#4f46e5",
  muted: "#94a3b8",
} as const;

export const theme: ThemeConfig = {
  token: {
    colorPrimary: BRAND.primary,
    colorInfo: BRAND.primary,
    colorLink: "#0f5f59",
    colorSuccess: "#15803d",
    colorWarning: "#b45309",
    colorError: "#b91c1c",
    colorTextSecondary: "rgba(15, 23, 42, 0.68)",
    colorTextTertiary: "rgba(15, 23, 42, 0.6)",
    colorTextDescription: "rgba(15, 23, 42, 0.64)",
    colorTextPlaceholder: "rgba(15, 23, 42, 0.5)",
    colorBgLayout: "#f4f6f8",
    borderRadius: 8,
    fontFamily:
      "Inter, ui-sans-serif, system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, 'Noto Sans', sans-serif",
    fontSize: 14,
  },
  components: {
    Layout: { headerBg: "#ffffff", headerHeight: 64, siderBg: "#ffffff", bodyBg: "#f4f6f8" },
    Menu: {
      itemBg: "transparent",
      itemSelectedBg: "#e6f4f1",
      itemSelectedColor: "#0b5e57",
      itemColor: "#334155",
      groupTitleColor: "#475569",
      itemHeight: 40,
      itemMarginInline: 8,
    },
    Table: { headerBg: "#f8fafc", headerColor: "#334155" },
    Card: { headerFontSize: 15 },
  },
};
