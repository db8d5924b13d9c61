import { Tag } from "antd";
import type { ReactNode } from "react";

/** Tags in colours with WCAG AA contrast (antd's preset tag colours fall short). */
const TONES = {
  new: "bg-amber-50 text-amber-900 border-amber-300",
  returning: "bg-indigo-50 text-indigo-800 border-indigo-200",
  success: "bg-green-50 text-green-800 border-green-200",
  danger: "bg-red-50 text-red-800 border-red-200",
  info: "bg-teal-50 text-teal-800 border-teal-200",
  violet: "bg-violet-50 text-violet-800 border-violet-200",
  neutral: "bg-slate-100 text-slate-700 border-slate-200",
} as const;

export type Tone = keyof typeof TONES;

export function Pill({ tone = "neutral", children }: { tone?: Tone; children: ReactNode }) {
  return <Tag className={`${TONES[tone]} font-medium`}>{children}</Tag>;
}

export function VisitorPill({ isNew, newLabel = "New" }: { isNew: boolean; newLabel?: string }) {
  return isNew ? <Pill tone="new">{newLabel}</Pill> : <Pill tone="returning">Returning</Pill>;
}
