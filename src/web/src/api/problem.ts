/**
 * RFC 9457 problem details, as every API error is answered, turned into one error type the UI
 * can show: a title, the `detail` sentence and per-field messages for forms.
 */

export interface FieldError {
  field: string;
  message: string;
}

export interface Problem {
  type?: string;
  title: string;
  status: number;
  detail: string;
  instance?: string;
  request_id?: string;
  errors?: FieldError[];
}

export class ApiError extends Error {
  readonly status: number;
  readonly title: string;
  readonly detail: string;
  readonly fieldErrors: FieldError[];
  readonly requestId: string | undefined;

  constructor(problem: Problem) {
    super(problem.detail || problem.title);
    this.name = "ApiError";
    this.status = problem.status;
    this.title = problem.title;
    this.detail = problem.detail;
    this.fieldErrors = problem.errors ?? [];
    this.requestId = problem.request_id;
  }
}

const REASONS: Record<number, string> = {
  400: "Bad request",
  401: "Not signed in",
  403: "Not allowed",
  404: "Not found",
  409: "Conflict",
  413: "Too large",
  415: "Unsupported media type",
  422: "Invalid input",
  429: "Too many requests",
  500: "Server error",
  502: "Server unavailable",
  503: "Server unavailable",
  504: "Server did not answer",
};

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function parseFieldErrors(value: unknown): FieldError[] {
  if (!Array.isArray(value)) return [];
  return value.flatMap((item) =>
    isRecord(item) && typeof item.message === "string"
      ? [{ field: typeof item.field === "string" ? item.field : "body", message: item.message }]
      : [],
  );
}

/** Any error body (problem JSON, other JSON, text, nothing) as an ApiError for `status`. */
export function problemFromBody(status: number, body: unknown, statusText = ""): ApiError {
  const reason = REASONS[status] ?? (statusText || `HTTP ${status}`);
  if (isRecord(body)) {
    const title = typeof body.title === "string" && body.title ? body.title : reason;
    const detail =
      typeof body.detail === "string" && body.detail
        ? body.detail
        : typeof body.message === "string"
          ? body.message
          : title;
    return new ApiError({
      title,
      status: typeof body.status === "number" ? body.status : status,
      detail,
      errors: parseFieldErrors(body.errors),
      request_id: typeof body.request_id === "string" ? body.request_id : undefined,
    });
  }
  const text = typeof body === "string" ? body.trim() : "";
  // An HTML error page from a proxy is no message for a person.
  const detail = text && !text.startsWith("<") && text.length < 300 ? text : reason;
  return new ApiError({ title: reason, status, detail });
}

export async function problemFromResponse(response: Response): Promise<ApiError> {
  let text = "";
  try {
    text = await response.text();
  } catch {
    // body already used or the connection dropped: the status still says enough
  }
  let body: unknown = text;
  if (text) {
    try {
      body = JSON.parse(text);
    } catch {
      body = text;
    }
  }
  return problemFromBody(response.status, body, response.statusText);
}

/** A one-line message for any thrown value (ApiError, network failure, bug). */
export function errorMessage(error: unknown): string {
  if (error instanceof ApiError) return error.detail || error.title;
  if (error instanceof TypeError) return "The appliance cannot be reached. Check the network and try again.";
  if (error instanceof Error) return error.message;
  return String(error);
}

/**
 * Field errors in the shape Ant Design's `form.setFields` takes. Server field names may be
 * dotted or indexed (`site_ids[0]`, `body.name`); the form field is the first plain name.
 */
export function formFieldErrors(
  error: unknown,
  known: readonly string[],
): { fields: { name: string; errors: string[] }[]; rest: FieldError[] } {
  const fields = new Map<string, string[]>();
  const rest: FieldError[] = [];
  if (error instanceof ApiError) {
    for (const item of error.fieldErrors) {
      const name = item.field.replace(/^(body|data)\./, "").split(/[.[]/, 1)[0] ?? "";
      if (known.includes(name)) fields.set(name, [...(fields.get(name) ?? []), item.message]);
      else rest.push(item);
    }
  }
  return { fields: [...fields.entries()].map(([name, errors]) => ({ name, errors })), rest };
}
