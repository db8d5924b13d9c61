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

/**
 * A dialog's submit: `busy` while it runs, its error kept to be shown in the dialog (a
 * ProblemAlert) rather than toasted. Resolves true when the action succeeded.
 */
export function useSubmit() {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const submit = async (action: () => Promise<unknown>, onError?: (error: unknown) => void): Promise<boolean> => {
    setBusy(true);
    setError(null);
    try {
      await action();
      return true;
    } catch (err) {
      onError?.(err);
      setError(err);
      return false;
    } finally {
      setBusy(false);
    }
  };
  return { busy, error, setError, submit };
}
