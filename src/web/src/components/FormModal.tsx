import { Form, Modal, type FormInstance } from "antd";
import type { Rule } from "antd/es/form";
import { useEffect, type ReactNode } from "react";

import { formFieldErrors } from "../api/problem";
import { useSubmit } from "../lib/mutation";
import { ProblemAlert } from "./ProblemAlert";

/** One form field: its Form.Item settings and the input it holds. */
export interface Field<T> {
  name: keyof T & string;
  label: ReactNode;
  rules?: Rule[];
  extra?: ReactNode;
  /** "checked" for a Switch. */
  valuePropName?: string;
  /** The input; a function when it reads other fields (it is re-rendered when `dependsOn` change). */
  input: ReactNode | ((form: FormInstance<T>) => ReactNode);
  /** Fields whose changes re-render this one (and re-check `when`). */
  dependsOn?: readonly (keyof T & string)[];
  /** Shown only while this holds for the form's current values. */
  when?: (values: Partial<T>) => boolean;
}

/** A field, or a row of fields side by side. */
export type FieldSpec<T> = Field<T> | readonly Field<T>[];

/** A required field's rule with the message shown when it is empty. */
export const required = (message: string): Rule => ({ required: true, message });

const isRow = <T,>(spec: FieldSpec<T>): spec is readonly Field<T>[] => Array.isArray(spec);
const fieldsOf = <T,>(specs: readonly FieldSpec<T>[]): Field<T>[] => specs.flatMap((spec) => (isRow(spec) ? spec : [spec]));

function FieldItem<T>({ field, form }: { field: Field<T>; form: FormInstance<T> }) {
  const { name, label, rules, extra, valuePropName, input } = field;
  const item = () => (
    <Form.Item label={label} name={name as string} rules={rules} extra={extra} {...(valuePropName ? { valuePropName } : {})}>
      {typeof input === "function" ? input(form) : input}
    </Form.Item>
  );
  const { dependsOn, when } = field;
  if (!dependsOn) return item();
  return (
    <Form.Item noStyle shouldUpdate={(a: T, b: T) => dependsOn.some((key) => a[key] !== b[key])}>
      {() => (when && !when(form.getFieldsValue(true) as Partial<T>) ? null : item())}
    </Form.Item>
  );
}

interface Props<T> {
  open: boolean;
  title: ReactNode;
  okText?: string;
  /** The form's fields, in order; server errors for them are shown under the fields. */
  fields: readonly FieldSpec<T>[];
  initialValues?: Partial<T>;
  onSubmit: (values: T) => Promise<unknown>;
  onClose: () => void;
  width?: number;
}

/** A modal form built from a field list that submits to the API and shows its problem details in place. */
export function FormModal<T extends object>({ open, title, okText = "Save", fields, initialValues, onSubmit, onClose, width }: Props<T>) {
  const [form] = Form.useForm<T>();
  const { busy, error, setError, submit } = useSubmit();

  // The form is rebuilt from initialValues at every opening (destroyOnHidden); the error is ours.
  useEffect(() => {
    if (open) setError(null);
  }, [open, setError]);

  const save = async () => {
    let values: T;
    try {
      values = await form.validateFields();
    } catch {
      return; // the form shows what is missing
    }
    const done = await submit(
      () => onSubmit(values),
      (err) => {
        const { fields: mapped } = formFieldErrors(err, fieldsOf(fields).map((f) => f.name));
        // eslint-disable-next-line @typescript-eslint/no-explicit-any
        if (mapped.length) form.setFields(mapped as any);
      },
    );
    if (done) onClose();
  };

  return (
    <Modal
      open={open}
      title={title}
      okText={okText}
      onOk={save}
      confirmLoading={busy}
      onCancel={onClose}
      destroyOnHidden
      width={width ?? 520}
      maskClosable={!busy}
    >
      <ProblemAlert error={error} className="mb-4" />
      <Form<T> form={form} layout="vertical" initialValues={initialValues} onFinish={save} requiredMark="optional">
        {fields.map((spec) =>
          isRow(spec) ? (
            <div key={spec.map((f) => f.name).join()} className="grid grid-cols-2 gap-4">
              {spec.map((f) => (
                <FieldItem key={f.name} field={f} form={form} />
              ))}
            </div>
          ) : (
            <FieldItem key={spec.name} field={spec} form={form} />
          ),
        )}
        <button type="submit" hidden aria-hidden tabIndex={-1} />
      </Form>
    </Modal>
  );
}
