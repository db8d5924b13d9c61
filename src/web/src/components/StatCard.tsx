import { Card, Skeleton } from "antd";
import type { ReactNode } from "react";

export function StatCard({ label, value, hint, loading, accent }: { label: string; value: ReactNode; hint?: ReactNode; loading?: boolean; accent?: string }) {
  return (
    <Card size="small" className="h-full" styles={{ body: { padding: 16 } }}>
      <div className="flex items-start gap-3">
        <span aria-hidden className="mt-1 h-9 w-1.5 shrink-0 rounded-full" style={{ background: accent ?? "#0f766e" }} />
        <div className="min-w-0">
          <div className="text-sm text-slate-600">{label}</div>
          {loading ? (
            <Skeleton.Input active size="small" className="!mt-1" />
          ) : (
            <div className="text-2xl font-semibold tabular-nums text-slate-900" data-testid={`stat-${label.toLowerCase().replace(/\W+/g, "-")}`}>
              {value}
            </div>
          )}
          {hint && !loading && <div className="mt-0.5 text-xs text-slate-600">{hint}</div>}
        </div>
      </div>
    </Card>
  );
}
