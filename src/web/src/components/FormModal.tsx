import { Form, Modal, type FormInstance } from "antd";
import { useEffect, useState, type ReactNode } from "react";

import { formFieldErrors } from "../api/problem";
import { ProblemAlert } from "./ProblemAlert";

interface Props<T> {
  open: boolean;
  title: ReactNode;
  okText?: string;
  /** Field names of the form; server errors for them are shown under the fields. */
  fields: readonly string[];
  initialValues?: Partial<T>;
  onSubmit: (values: T) => Promise<unknown>;
  onClose: () => void;
  children: ReactNode | ((form: FormInstance<T>) => ReactNode);
  width?: number;
}

/** A modal form that submits to the API and shows its problem details in place. */
export function FormModal<T extends object>({ open, title, okText = "Save", fields, initialValues, onSubmit, onClose, children, width }: Props<T>) {
  const [form] = Form.useForm<T>();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);

  // The form is rebuilt from initialValues at every opening (destroyOnHidden); the error is ours.
  useEffect(() => {
    if (open) setError(null);
  }, [open]);

  const submit = async () => {
    let values: T;
    try {
      values = await form.validateFields();
    } catch {
      return; // the form shows what is missing
    }
    setBusy(true);
    setError(null);
    try {
      await onSubmit(values);
      onClose();
    } catch (err) {
      const { fields: mapped } = formFieldErrors(err, fields);
      // eslint-disable-next-line @typescript-eslint/no-explicit-any
      if (mapped.length) form.setFields(mapped as any);
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <Modal
      open={open}
      title={title}
      okText={okText}
      onOk={submit}
      confirmLoading={busy}
      onCancel={onClose}
      destroyOnHidden
      width={width ?? 520}
      maskClosable={!busy}
    >
      <ProblemAlert error={error} className="mb-4" />
      <Form<T> form={form} layout="vertical" initialValues={initialValues} onFinish={submit} requiredMark="optional">
        {typeof children === "function" ? children(form) : children}
        <button type="submit" hidden aria-hidden tabIndex={-1} />
      </Form>
    </Modal>
  );
}
