// One HTTP exchange over node:http/https, answered as a fetch Response: node's http gives what fetch does not
// here, TLS verification off per host (local registries with self-signed certificates), never following redirects,
// and keep-alive agents shared by all requests.
import http from "node:http";
import https from "node:https";
import { Readable } from "node:stream";

export interface Exchange {
  url: URL;
  method: string;
  headers: Record<string, string>;
  body: Buffer | null;
  /** https without certificate verification (local or --insecure registries) */
  skipTlsVerify?: boolean;
}

/** A connection went wrong before a complete answer arrived (refused, reset, timed out, TLS). */
export class ConnectionError extends Error {
  override name = "ConnectionError";
  constructor(
    message: string,
    readonly code: string | undefined,
  ) {
    super(message);
  }
}

const IDLE_TIMEOUT_MS = 120_000; // no byte either way for this long: the connection is dead
const httpAgent = new http.Agent({ keepAlive: true });
const httpsAgent = new https.Agent({ keepAlive: true });
const httpsAgentNoVerify = new https.Agent({ keepAlive: true, rejectUnauthorized: false });

const NULL_BODY_STATUS = new Set([101, 204, 205, 304]);

export function send(x: Exchange): Promise<Response> {
  const isHttps = x.url.protocol === "https:";
  const lib = isHttps ? https : http;
  const agent = isHttps ? (x.skipTlsVerify ? httpsAgentNoVerify : httpsAgent) : httpAgent;
  const headers: Record<string, string> = { ...x.headers };
  if (x.body) headers["Content-Length"] = String(x.body.byteLength);
  else if (!["GET", "HEAD", "DELETE", "OPTIONS"].includes(x.method)) headers["Content-Length"] = "0";
  return new Promise((resolve, reject) => {
    const req = lib.request(x.url, { method: x.method, headers, agent }, (res) => {
      const out = new Headers();
      for (const [name, value] of Object.entries(res.headers)) {
        if (value === undefined) continue;
        for (const v of Array.isArray(value) ? value : [value]) out.append(name, v);
      }
      const status = res.statusCode ?? 0;
      if (x.method === "HEAD" || NULL_BODY_STATUS.has(status)) {
        res.resume();
        resolve(new Response(null, { status, statusText: res.statusMessage, headers: out }));
        return;
      }
      // A body that dies mid-way errors the web stream, which is what a reader of the Response sees.
      res.on("aborted", () => res.destroy(new ConnectionError("the connection closed in the middle of the answer", "ECONNRESET")));
      const body = Readable.toWeb(res) as unknown as ReadableStream<Uint8Array>;
      resolve(new Response(body, { status, statusText: res.statusMessage, headers: out }));
    });
    req.setTimeout(IDLE_TIMEOUT_MS, () => req.destroy(new ConnectionError(`no answer for ${IDLE_TIMEOUT_MS / 1000} s`, "ETIMEDOUT")));
    req.on("error", (err: NodeJS.ErrnoException) => {
      reject(err instanceof ConnectionError ? err : new ConnectionError(err.message, err.code));
    });
    req.end(x.body ?? undefined);
  });
}
