// Minimal HTTP(S) requests from Node for the e2e tests. Local Skiff serves https with a self-signed certificate,
// so certificate checks are off here (these requests only ever go to 127.0.0.1).
import http from "node:http";
import https from "node:https";
import { createHash } from "node:crypto";

export interface HttpResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

const agents = {
  "http:": new http.Agent({ keepAlive: false }),
  "https:": new https.Agent({ keepAlive: false, rejectUnauthorized: false }),
};

export interface RequestOptions {
  method?: string;
  headers?: Record<string, string>;
  /** A Buffer/string body, or a writer that streams the body (then it is sent chunked unless Content-Length is set). */
  body?: Buffer | string | ((req: http.ClientRequest) => void);
  /** Receives response body chunks instead of buffering them (then `body` is empty). */
  onData?: (chunk: Buffer) => void;
}

export function request(url: string, opts: RequestOptions = {}): Promise<HttpResponse> {
  const u = new URL(url);
  const lib = u.protocol === "https:" ? https : http;
  return new Promise((resolve, reject) => {
    const headers = { ...opts.headers };
    if (opts.body === undefined && !["GET", "HEAD"].includes(opts.method ?? "GET")) headers["content-length"] ??= "0";
    if (typeof opts.body === "string" || Buffer.isBuffer(opts.body)) headers["content-length"] ??= String(Buffer.byteLength(opts.body));
    const req = lib.request(u, { method: opts.method ?? "GET", headers, agent: agents[u.protocol as "http:" | "https:"] }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => (opts.onData ? opts.onData(c) : chunks.push(c)));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on("error", reject);
    });
    req.on("error", reject);
    if (typeof opts.body === "function") opts.body(req);
    else req.end(opts.body);
  });
}

/** GETs a URL and returns the sha256 digest and size of its body, streaming (never buffered). */
export async function digestOfGet(url: string, headers: Record<string, string> = {}): Promise<{ status: number; digest: string; size: number; headers: http.IncomingHttpHeaders }> {
  const hash = createHash("sha256");
  let size = 0;
  const res = await request(url, {
    headers,
    onData: (c) => {
      hash.update(c);
      size += c.byteLength;
    },
  });
  return { status: res.status, digest: `sha256:${hash.digest("hex")}`, size, headers: res.headers };
}
