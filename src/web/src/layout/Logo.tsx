export function Logo({ compact = false, inverted = false }: { compact?: boolean; inverted?: boolean }) {
  return (
    <span className="flex items-center gap-2.5">
      <svg aria-hidden width="30" height="30" viewBox="0 0 32 32" className="shrink-0">
        <rect width="32" height="32" rx="8" fill={inverted ? "#ffffff" : "#0f766e"} />
        <path d="M8 22V12m6 10V8m6 14v-7m6 7V11" stroke={inverted ? "#0f766e" : "#fff"} strokeWidth="3" strokeLinecap="round" />
      </svg>
      {!compact && (
        <span className="leading-tight">
          <span className={`block text-[17px] font-semibold tracking-tight ${inverted ? "text-white" : "text-slate-900"}`}>Footfall</span>
          <span className={`block text-[11px] uppercase tracking-wider ${inverted ? "text-teal-100" : "text-slate-600"}`}>
            Visitor analytics
          </span>
        </span>
      )}
    </span>
  );
}
