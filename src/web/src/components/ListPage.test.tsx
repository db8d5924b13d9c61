/** The list-page pattern in a DOM: rows, empty state, the create/edit dialog from its fields, a confirmed delete. */
import { cleanup, fireEvent, render, screen, waitFor, within } from "@testing-library/react";
import { App as AntApp, Input } from "antd";
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";

import { ApiError } from "../api/problem";
import { required } from "./FormModal";
import { ListPage, useEditor } from "./ListPage";

interface Thing {
  id: string;
  name: string;
}

beforeAll(() => {
  // antd's responsive helpers ask for media queries; jsdom has none.
  window.matchMedia ??= (query: string) =>
    ({ matches: false, media: query, onchange: null, addListener: () => {}, removeListener: () => {}, addEventListener: () => {}, removeEventListener: () => {}, dispatchEvent: () => false }) as MediaQueryList;
});

afterEach(cleanup);

function Things({ items, create, update, remove, refresh }: {
  items: Thing[];
  create: (values: { name: string }) => Promise<unknown>;
  update: (row: Thing, values: { name: string }) => Promise<unknown>;
  remove: (row: Thing) => Promise<unknown>;
  refresh: () => Promise<unknown>;
}) {
  const editor = useEditor<Thing>();
  return (
    <AntApp>
      <ListPage<Thing, { name: string }>
        title="Things"
        subtitle="What there is."
        list={{ query: { error: null, isLoading: false, refetch: () => undefined }, items, pagination: false }}
        refresh={refresh}
        empty="Nothing yet"
        columns={[{ title: "Name", dataIndex: "name" }]}
        actions={{ width: 110, confirmed: (t) => [{ verb: "Delete", title: `Delete ${t.name}?`, success: "Deleted", action: () => remove(t) }] }}
        editor={editor}
        form={{
          noun: "thing",
          createText: "Add thing",
          initialValues: editor.row ?? {},
          create,
          update,
          fields: [{ name: "name", label: "Name", rules: [required("Name the thing")], input: <Input /> }],
        }}
      />
    </AntApp>
  );
}

function setup(items: Thing[] = [{ id: "1", name: "Entrance" }]) {
  const calls = {
    create: vi.fn(async (_values: { name: string }) => undefined as unknown),
    update: vi.fn(async (_row: Thing, _values: { name: string }) => undefined as unknown),
    remove: vi.fn(async (_row: Thing) => undefined as unknown),
    refresh: vi.fn(async () => undefined as unknown),
  };
  render(<Things items={items} {...calls} />);
  return calls;
}

// Ant Design in jsdom is slow on a busy machine: a generous per-test limit.
describe("ListPage", { timeout: 30_000 }, () => {
  it("shows the rows with their edit and delete buttons named after the row, or the empty state", () => {
    setup();
    expect(screen.getByRole("heading", { name: "Things" })).toBeTruthy();
    expect(screen.getByText("Entrance")).toBeTruthy();
    expect(screen.getByRole("button", { name: "Edit Entrance" })).toBeTruthy();
    expect(screen.getByRole("button", { name: "Delete Entrance" })).toBeTruthy();
    cleanup();
    setup([]);
    expect(screen.getByText("Nothing yet")).toBeTruthy();
  });

  it("creates from the field list: a missing field is said, then the row is created and the list refreshed", async () => {
    const calls = setup();
    fireEvent.click(screen.getByRole("button", { name: /New thing/ }));
    const dialog = await screen.findByRole("dialog");
    fireEvent.click(within(dialog).getByRole("button", { name: "Add thing" }));
    expect(await within(dialog).findByText("Name the thing")).toBeTruthy();
    expect(calls.create).not.toHaveBeenCalled();
    fireEvent.change(within(dialog).getByLabelText("Name"), { target: { value: "Back door" } });
    fireEvent.click(within(dialog).getByRole("button", { name: "Add thing" }));
    await waitFor(() => expect(calls.create).toHaveBeenCalledWith({ name: "Back door" }));
    await waitFor(() => expect(calls.refresh).toHaveBeenCalledTimes(1));
  });

  it("edits a row in the same dialog and shows the API's field error under the field", async () => {
    const calls = setup();
    calls.update.mockRejectedValueOnce(
      new ApiError({ type: "about:blank", title: "Invalid input", status: 422, detail: "bad name", errors: [{ field: "name", message: "already taken" }] }),
    );
    fireEvent.click(screen.getByRole("button", { name: "Edit Entrance" }));
    const dialog = await screen.findByRole("dialog");
    expect(within(dialog).getByText("Edit thing")).toBeTruthy();
    expect((within(dialog).getByLabelText("Name") as HTMLInputElement).value).toBe("Entrance");
    fireEvent.click(within(dialog).getByRole("button", { name: "Save" }));
    expect((await within(dialog).findAllByText("already taken")).length).toBeGreaterThan(0);
    expect(calls.update).toHaveBeenCalledWith({ id: "1", name: "Entrance" }, { name: "Entrance" });
    expect(calls.refresh).not.toHaveBeenCalled();
  });

  it("deletes only after the confirmation, then refreshes", async () => {
    const calls = setup();
    fireEvent.click(screen.getByRole("button", { name: "Delete Entrance" }));
    expect(await screen.findByText("Delete Entrance?")).toBeTruthy();
    expect(calls.remove).not.toHaveBeenCalled();
    fireEvent.click(screen.getByRole("button", { name: "Delete" }));
    await waitFor(() => expect(calls.remove).toHaveBeenCalledWith({ id: "1", name: "Entrance" }));
    await waitFor(() => expect(calls.refresh).toHaveBeenCalledTimes(1));
  });
});
