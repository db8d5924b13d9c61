import { App } from "antd";
import { useState } from "react";

import { errorMessage } from "../api/problem";

/** Run an action, toast success or the API's problem detail; `busy` while it runs. */
export function useAction() {
  const { message } = App.useApp();
  const [busy, setBusy] = useState<string | null>(null);
  const run = async <T,>(id: string, action: () => Promise<T>, success?: string): Promise<T | undefined> => {
    setBusy(id);
    try {
      const result = await action();
      if (success) void message.success(success);
      return result;
    } catch (error) {
      void message.error(errorMessage(error), 6);
      return undefined;
    } finally {
      setBusy(null);
    }
  };
  return { run, busy };
}
