// Errors a push ends with: what failed (the blob or manifest) and what the registry said (its OCI error code and
// message), never a URL's query (presigned URLs and upload states carry signatures there).

export class PushError extends Error {
  override name = "PushError";
  constructor(
    message: string,
    /** The registry's OCI error code, when it sent one. */
    readonly code: string | null = null,
    readonly status: number | null = null,
  ) {
    super(message);
  }
}

/** The push was interrupted (Ctrl-C): resume state is kept. */
export class Interrupted extends Error {
  override name = "Interrupted";
  constructor() {
    super("interrupted");
  }
}

export interface OciErrorInfo {
  status: number;
  code: string | null;
  /** "CODE: message" or "HTTP 500", for error messages. */
  text: string;
}

/** Reads an error answer's body (OCI JSON errors, or an S3 XML error), at most 64 KiB of it. */
export async function describeError(res: Response): Promise<OciErrorInfo> {
  let body = "";
  try {
    body = (await res.text()).slice(0, 65536);
  } catch {
    /* the body is lost; the status still says something */
  }
  try {
    const first = (JSON.parse(body) as { errors?: { code?: unknown; message?: unknown }[] }).errors?.[0];
    if (first && typeof first.code === "string") {
      const msg = typeof first.message === "string" && first.message ? `: ${first.message}` : "";
      return { status: res.status, code: first.code, text: `${first.code}${msg} (HTTP ${res.status})` };
    }
  } catch {
    /* not JSON */
  }
  const s3 = /<Code>([^<]{1,100})<\/Code>/.exec(body);
  if (s3) return { status: res.status, code: s3[1], text: `${s3[1]} (HTTP ${res.status})` };
  return { status: res.status, code: null, text: `HTTP ${res.status}${res.statusText ? " " + res.statusText : ""}` };
}

/** A URL without its query, safe to print. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.origin}${u.pathname}`;
  } catch {
    return url.split("?")[0];
  }
}

/** A thrown error's message with its cause's (fetch says only "fetch failed"; the cause says why). */
export function errorText(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = err.cause instanceof Error ? err.cause.message : null;
  return cause && !err.message.includes(cause) ? `${err.message}: ${cause}` : err.message;
}
