import { Select } from "antd";
import { useId } from "react";

import { useSites } from "../lib/sites";

/**
 * Pick one site, or "All sites" (value null) when `allowAll`. Outside a form it labels itself
 * with a visually hidden <label> (`hiddenLabel`); inside a Form.Item pass `hiddenLabel={null}`,
 * the item's label names it.
 */
export function SiteSelect({
  value,
  onChange,
  allowAll = true,
  className,
  id,
  hiddenLabel = "Site",
  disabled,
}: {
  /** Optional inside a Form.Item, which provides value, onChange and id. */
  value?: string | null;
  onChange?: (value: string | null) => void;
  allowAll?: boolean;
  className?: string;
  id?: string;
  hiddenLabel?: string | null;
  disabled?: boolean;
}) {
  const { sites, isLoading } = useSites();
  const ownId = useId();
  const inputId = id ?? ownId;
  const options = [
    ...(allowAll ? [{ value: "", label: "All sites" }] : []),
    ...sites.map((s) => ({ value: s.id, label: s.name })),
  ];
  return (
    <>
      {hiddenLabel && (
        <label htmlFor={inputId} className="sr-only">
          {hiddenLabel}
        </label>
      )}
      <Select
        id={inputId}
        className={className ?? "min-w-48"}
        loading={isLoading}
        value={value ?? (allowAll ? "" : undefined)}
        placeholder="Choose a site"
        options={options}
        showSearch
        optionFilterProp="label"
        disabled={disabled}
        onChange={(v: string) => onChange?.(v || null)}
      />
    </>
  );
}
