// Registry errors for messages: status, the OCI error code and message from the JSON body, never a header or secret.

export class RegistryError extends Error {
  override name = "RegistryError";
  constructor(
    message: string,
    /** HTTP status; 0 when no answer came (connection errors) */
    readonly status: number,
    /** first OCI error code of the body ("BLOB_UNKNOWN", "DENIED"...), if any */
    readonly code?: string,
  ) {
    super(message);
  }
}

/** The OCI error body's first code and message ({"errors":[{"code","message"}]}), or a short text body. */
export async function readErrorBody(res: Response): Promise<{ code?: string; message?: string }> {
  let text: string;
  try {
    text = await res.text();
  } catch {
    return {};
  }
  try {
    const body = JSON.parse(text) as { errors?: { code?: unknown; message?: unknown }[]; error?: unknown; details?: unknown };
    const first = Array.isArray(body.errors) ? body.errors[0] : undefined;
    if (first) {
      return {
        code: typeof first.code === "string" ? first.code : undefined,
        message: typeof first.message === "string" ? first.message.slice(0, 500) : undefined,
      };
    }
    // Token servers: {"error": "...", "details": "..."}
    if (typeof body.error === "string") return { message: [body.error, typeof body.details === "string" ? body.details : ""].filter(Boolean).join(": ").slice(0, 500) };
  } catch {
    // not JSON
  }
  const plain = text.replace(/\s+/g, " ").trim();
  return plain && !plain.startsWith("<") ? { message: plain.slice(0, 200) } : {};
}

/** A RegistryError for a response that is not what was wanted; `what` names the operation ("PUT manifest team/app:v1"). */
export async function errorFromResponse(res: Response, what: string): Promise<RegistryError> {
  const { code, message } = await readErrorBody(res);
  const detail = [code, message].filter(Boolean).join(": ");
  return new RegistryError(`${what}: ${res.status} ${res.statusText || ""}`.trimEnd() + (detail ? ` (${detail})` : ""), res.status, code);
}
