import { Alert } from "antd";

import { ApiError, errorMessage } from "../api/problem";

/** An API problem (title, detail, field errors) or any other error, as an alert. */
export function ProblemAlert({ error, className, onRetry }: { error: unknown; className?: string; onRetry?: () => void }) {
  if (!error) return null;
  const title = error instanceof ApiError ? error.title : "Something went wrong";
  // Field errors that only repeat the detail sentence add nothing.
  const fieldErrors = error instanceof ApiError ? error.fieldErrors.filter((f) => f.message !== error.detail) : [];
  return (
    <Alert
      type="error"
      showIcon
      className={className}
      message={title}
      description={
        <div>
          <div>{errorMessage(error)}</div>
          {fieldErrors.length > 0 && (
            <ul className="mt-1 mb-0 pl-5">
              {fieldErrors.map((f) => (
                <li key={`${f.field}:${f.message}`}>
                  <strong>{f.field}</strong>: {f.message}
                </li>
              ))}
            </ul>
          )}
          {error instanceof ApiError && error.requestId && (
            <div className="mt-1 text-xs text-slate-600">Request ID {error.requestId}</div>
          )}
        </div>
      }
      action={
        onRetry ? (
          <button type="button" className="cursor-pointer text-sm font-medium text-teal-800 underline" onClick={onRetry}>
            Retry
          </button>
        ) : undefined
      }
    />
  );
}
