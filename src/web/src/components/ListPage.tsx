/**
 * The one list-page pattern: a header (title, subtitle, "New …" button), a card with the filters,
 * the table (loading, empty and error states, paging), per-row actions (edit, confirmed delete
 * and the like) and the create/edit dialog built from a field list. Pages pass configuration;
 * what is allowed stays the API's to say.
 */
import { DeleteOutlined, EditOutlined, PlusOutlined } from "@ant-design/icons";
import { Button, Card, Popconfirm, Space, Table, type TablePaginationConfig, type TableProps } from "antd";
import type { ColumnsType } from "antd/es/table";
import { useState, type ReactNode } from "react";

import { useAction } from "../lib/mutation";
import { FormModal, type FieldSpec } from "./FormModal";
import { PageHeader } from "./PageHeader";
import { ProblemAlert } from "./ProblemAlert";

/** A list's rows and the state of the query behind them (usePagedQuery's result fits). */
export interface ListData<T> {
  query: { error: unknown; isLoading: boolean; refetch: () => unknown };
  items: readonly T[];
  pagination: TablePaginationConfig | false;
}

/** A row action behind a confirmation ("Delete site Main Street?"). */
export interface Confirmed {
  /** The confirm button's text and the first word of the row button's accessible name. */
  verb: string;
  title: string;
  description?: string;
  /** The row button's icon (a bin unless given) and whether it is red (yes unless false). */
  icon?: ReactNode;
  danger?: boolean;
  disabled?: boolean;
  action: () => Promise<unknown>;
  /** Toasted when the action succeeded (its error is toasted otherwise). */
  success: string;
}

export interface RowActions<T> {
  width: number;
  /** The row's name in the buttons' accessible names ("Edit Entrance"); its `name` unless given. */
  name?: (row: T) => string;
  /** Buttons before the edit button (e.g. "Open"). */
  leading?: (row: T) => ReactNode;
  /** After the edit button (there is one when the form can update a row). */
  confirmed?: (row: T) => readonly Confirmed[];
}

/** Which row the create/edit dialog is open for: `isNew` for a new one. */
export function useEditor<T>() {
  const [editing, setEditing] = useState<T | "new" | null>(null);
  return {
    open: editing !== null,
    isNew: editing === "new",
    row: editing === "new" ? null : editing,
    create: () => setEditing("new"),
    edit: (row: T) => setEditing(row),
    close: () => setEditing(null),
  };
}

export type Editor<T> = ReturnType<typeof useEditor<T>>;

/** The create/edit dialog. */
export interface ListForm<T, F> {
  /** "camera": the "New camera" button and dialog, the "Edit camera" dialog. */
  noun: string;
  editTitle?: (row: T) => string;
  /** The dialog's OK button for a new row ("Add camera"); an edit's is "Save". */
  createText: string;
  /** No "New …" button (a role that may not create), or a disabled one (nothing to attach a row to yet). */
  canCreate?: boolean;
  createDisabled?: boolean;
  fields: readonly FieldSpec<F>[];
  initialValues: Partial<F>;
  create: (values: F) => Promise<unknown>;
  /** Rows can be edited (an edit button on each). */
  update?: (row: T, values: F) => Promise<unknown>;
}

const nameOf = (row: object): string => String((row as { name?: unknown }).name ?? "");

function ConfirmButton({ confirm, name, after }: { confirm: Confirmed; name: string; after?: (() => Promise<unknown>) | undefined }) {
  const { run, busy } = useAction();
  const { verb, title, description, icon, danger = true, disabled, action, success } = confirm;
  const confirmed = async () => {
    await action();
    await after?.();
  };
  return (
    <Popconfirm
      title={title}
      description={description}
      okText={verb}
      okButtonProps={{ danger: true }}
      disabled={disabled}
      onConfirm={() => run("confirm", confirmed, success)}
    >
      <Button
        size="small"
        danger={danger}
        icon={icon ?? <DeleteOutlined />}
        aria-label={`${verb} ${name}`}
        disabled={disabled}
        loading={busy === "confirm"}
      />
    </Popconfirm>
  );
}

export interface ListTableProps<T> {
  list: ListData<T>;
  /** The rows' key field: `id` unless given. */
  rowKey?: keyof T & string;
  columns: ColumnsType<T>;
  /** What an empty list says (for this filter). */
  empty: ReactNode;
  /** The table's minimum width before it scrolls sideways. */
  scrollX?: number | undefined;
  /** Filters above the table. */
  toolbar?: ReactNode;
  /** Shows the list's error inside, under the filters (ListPage shows it above the card otherwise). */
  inlineError?: boolean;
  /** A "Retry" button on the error (default). */
  retry?: boolean;
  /** A paragraph between the filters and the table. */
  intro?: ReactNode;
  /** Below the table (e.g. "Load more"). */
  footer?: ReactNode;
  onRow?: TableProps<T>["onRow"];
}

/** The list itself, for a card of its own or a tab: filters, error, table, footer. */
export function ListTable<T extends object>(props: ListTableProps<T>) {
  const { list, rowKey = "id" as keyof T & string, columns, empty, scrollX, toolbar, inlineError, retry = true, intro, footer, onRow } = props;
  return (
    <>
      {toolbar && <div className="flex flex-wrap items-center gap-3 border-b border-slate-100 p-4">{toolbar}</div>}
      {inlineError && <ProblemAlert error={list.query.error} className="m-4" onRetry={retry ? () => void list.query.refetch() : undefined} />}
      {intro}
      <Table<T>
        rowKey={rowKey}
        loading={list.query.isLoading}
        dataSource={list.items}
        pagination={list.pagination}
        scroll={scrollX === undefined ? undefined : { x: scrollX }}
        onRow={onRow}
        locale={{ emptyText: empty }}
        columns={columns}
      />
      {footer}
    </>
  );
}

export interface ListPageProps<T, F> extends ListTableProps<T> {
  title: string;
  subtitle: ReactNode;
  /** Header buttons (when there is no "New …" button). */
  headerExtra?: ReactNode;
  /** Refetches what shows the rows, after any change made here (a confirmed action, the form). */
  refresh?: () => Promise<unknown>;
  actions?: RowActions<T> | undefined;
  /** The create/edit dialog; `editor` says which row it is open for. */
  form?: ListForm<T, F>;
  editor?: Editor<T>;
  /** Dialogs of the page's own. */
  children?: ReactNode;
}

export function ListPage<T extends object, F extends object = T>(props: ListPageProps<T, F>) {
  const { title, subtitle, headerExtra, refresh, actions, form, editor, children, columns, ...table } = props;
  const name = actions?.name ?? nameOf;
  const canEdit = Boolean(form?.update && editor);
  const actionsColumn: ColumnsType<T>[number] = {
    title: "Actions",
    key: "actions",
    width: actions?.width,
    render: (_: unknown, row: T) => (
      <Space>
        {actions?.leading?.(row)}
        {canEdit && <Button size="small" icon={<EditOutlined />} aria-label={`Edit ${name(row)}`} onClick={() => editor?.edit(row)} />}
        {actions?.confirmed?.(row).map((c) => <ConfirmButton key={c.verb} confirm={c} name={name(row)} after={refresh} />)}
      </Space>
    ),
  };
  const create =
    form && editor && form.canCreate !== false ? (
      <Button type="primary" icon={<PlusOutlined />} onClick={editor.create} disabled={form.createDisabled}>
        New {form.noun}
      </Button>
    ) : null;
  const submit = async (values: F) => {
    const row = editor?.row;
    if (row && form?.update) await form.update(row, values);
    else await form?.create(values);
    await refresh?.();
  };
  return (
    <>
      <PageHeader title={title} subtitle={subtitle} extra={create ?? headerExtra} />
      {!table.inlineError && <ProblemAlert error={table.list.query.error} className="mb-4" onRetry={() => void table.list.query.refetch()} />}
      <Card styles={{ body: { padding: 0 } }}>
        <ListTable<T> {...table} columns={actions ? [...columns, actionsColumn] : columns} />
      </Card>
      {form && editor && (
        <FormModal<F>
          open={editor.open}
          title={editor.isNew ? `New ${form.noun}` : editor.row && form.editTitle ? form.editTitle(editor.row) : `Edit ${form.noun}`}
          okText={editor.isNew ? form.createText : "Save"}
          fields={form.fields}
          initialValues={form.initialValues}
          onSubmit={submit}
          onClose={editor.close}
        />
      )}
      {children}
    </>
  );
}
