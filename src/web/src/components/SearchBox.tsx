import { Input } from "antd";

/** A list's search field: named for screen readers, trimmed, cleared with its × button. */
export function SearchBox({ label, placeholder = "Search by name", onSearch }: { label: string; placeholder?: string; onSearch: (value: string) => void }) {
  return <Input.Search aria-label={label} placeholder={placeholder} allowClear className="max-w-xs" onSearch={(v) => onSearch(v.trim())} />;
}
