import { Typography } from "antd";
import { useEffect, type ReactNode } from "react";

export function PageHeader({
  title,
  subtitle,
  extra,
  breadcrumb,
}: {
  title: ReactNode;
  subtitle?: ReactNode;
  extra?: ReactNode;
  breadcrumb?: ReactNode;
}) {
  useEffect(() => {
    if (typeof title === "string") document.title = `${title} · Footfall`;
  }, [title]);
  return (
    <div className="mb-6 flex flex-wrap items-end justify-between gap-4">
      <div className="min-w-0">
        {breadcrumb && <div className="mb-1 text-sm">{breadcrumb}</div>}
        <Typography.Title level={1} className="!mb-0 !text-2xl !font-semibold">
          {title}
        </Typography.Title>
        {subtitle && <p className="mt-1 mb-0 text-[15px] text-slate-600">{subtitle}</p>}
      </div>
      {extra && <div className="flex flex-wrap items-center gap-2">{extra}</div>}
    </div>
  );
}
