import { Empty } from "antd";
import type { ReactNode } from "react";

export function EmptyState({ title, hint, action }: { title: string; hint?: ReactNode; action?: ReactNode }) {
  return (
    <Empty
      image={Empty.PRESENTED_IMAGE_SIMPLE}
      description={
        <div className="mx-auto max-w-md">
          <div className="font-medium text-slate-800">{title}</div>
          {hint && <div className="mt-1 text-slate-600">{hint}</div>}
        </div>
      }
    >
      {action}
    </Empty>
  );
}
