// A counting HTTP proxy in front of the local Ceph RGW: both registries' S3 clients and every client that follows a
// presigned redirect talk to it instead of RGW, so the bench can say how many storage requests each registry
// operation costs. It forwards every request as it came (Host header included, so SigV4 signatures, which cover
// the host, still match) and counts it by method and by who sent it:
//   registry   signed with an Authorization header (the registry's own S3 client)
//   client     a presigned URL (X-Amz-Signature in the query): a docker/skopeo/Node client following a redirect
// LIST stands for bucket-level reads (ListObjects, ListMultipartUploads, ListParts), split off GET.
import http from "node:http";
import type { AddressInfo } from "node:net";

export const STORAGE_METHODS = ["GET", "HEAD", "PUT", "POST", "DELETE", "LIST"] as const;
export type StorageMethod = (typeof STORAGE_METHODS)[number];
export type Sender = "registry" | "client";

/** Counts by sender and method; `bytesIn` = request body bytes, `bytesOut` = response body bytes. */
export interface StorageCounts {
  registry: Record<StorageMethod, number>;
  client: Record<StorageMethod, number>;
  /** Finer names (e.g. "PUT part", "POST complete", "PUT copy"), both senders, for reading the raw JSON. */
  detail: Record<string, number>;
  bytesIn: number;
  bytesOut: number;
}

const zero = (): Record<StorageMethod, number> => Object.fromEntries(STORAGE_METHODS.map((m) => [m, 0])) as Record<StorageMethod, number>;
export const emptyCounts = (): StorageCounts => ({ registry: zero(), client: zero(), detail: {}, bytesIn: 0, bytesOut: 0 });

export function totalOf(c: StorageCounts, who?: Sender): number {
  const sum = (r: Record<StorageMethod, number>) => STORAGE_METHODS.reduce((n, m) => n + r[m], 0);
  return who ? sum(c[who]) : sum(c.registry) + sum(c.client);
}

/** b - a, field by field (a snapshot difference). */
export function diffCounts(a: StorageCounts, b: StorageCounts): StorageCounts {
  const d = emptyCounts();
  for (const who of ["registry", "client"] as const) for (const m of STORAGE_METHODS) d[who][m] = b[who][m] - a[who][m];
  for (const k of Object.keys(b.detail)) {
    const v = b.detail[k] - (a.detail[k] ?? 0);
    if (v) d.detail[k] = v;
  }
  d.bytesIn = b.bytesIn - a.bytesIn;
  d.bytesOut = b.bytesOut - a.bytesOut;
  return d;
}

/** Divides every count by n (per-operation averages over n repetitions). */
export function scaleCounts(c: StorageCounts, n: number): StorageCounts {
  const d = emptyCounts();
  for (const who of ["registry", "client"] as const) for (const m of STORAGE_METHODS) d[who][m] = c[who][m] / n;
  for (const [k, v] of Object.entries(c.detail)) d.detail[k] = v / n;
  d.bytesIn = c.bytesIn / n;
  d.bytesOut = c.bytesOut / n;
  return d;
}

/** Which S3 call a request is, from its method, path and query (path style: /bucket/key). */
export function classify(method: string, rawUrl: string, headers: http.IncomingHttpHeaders): { who: Sender; method: StorageMethod; detail: string } {
  const url = new URL(rawUrl, "http://x");
  const q = url.searchParams;
  const who: Sender = q.has("X-Amz-Signature") || q.has("x-amz-signature") ? "client" : "registry";
  const key = url.pathname.replace(/^\/[^/]*\/?/, ""); // drop the bucket
  let m = method.toUpperCase() as StorageMethod;
  let detail = m as string;
  if (m === "GET" && (key === "" || q.has("uploads") || q.has("uploadId"))) {
    m = "LIST";
    detail = q.has("uploadId") ? "LIST parts" : q.has("uploads") ? "LIST uploads" : "LIST objects";
  } else if (m === "PUT") detail = q.has("partNumber") ? (headers["x-amz-copy-source"] ? "PUT part copy" : "PUT part") : headers["x-amz-copy-source"] ? "PUT copy" : "PUT object";
  else if (m === "POST") detail = q.has("uploads") ? "POST create multipart" : q.has("uploadId") ? "POST complete multipart" : q.has("delete") ? "POST delete objects" : "POST";
  else if (m === "DELETE") detail = q.has("uploadId") ? "DELETE abort multipart" : "DELETE object";
  if (!(STORAGE_METHODS as readonly string[]).includes(m)) m = "GET"; // OPTIONS and the like: none expected
  return { who, method: m, detail: `${who} ${detail}` };
}

export interface CountingProxy {
  /** http://127.0.0.1:<port>: what the registries use as their S3 endpoint. */
  endpoint: string;
  /** A copy of the counts so far (take one before and after an operation, then diffCounts). */
  snapshot(): StorageCounts;
  /** Requests currently in flight (an operation's count is only final when this is 0). */
  inFlight(): number;
  stop(): Promise<void>;
}

export async function startCountingProxy(upstream: string): Promise<CountingProxy> {
  const target = new URL(upstream);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
  const counts = emptyCounts();
  let inFlight = 0;
  const server = http.createServer((req, res) => {
    const c = classify(req.method ?? "GET", req.url ?? "/", req.headers);
    counts[c.who][c.method]++;
    counts.detail[c.detail] = (counts.detail[c.detail] ?? 0) + 1;
    inFlight++;
    let done = false;
    const finish = () => {
      if (!done) {
        done = true;
        inFlight--;
      }
    };
    // `expect` is never signed; Node's server already answered 100-continue, so RGW must not wait for it again.
    const { expect: _expect, ...headers } = req.headers;
    const up = http.request({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers, agent }, (ur) => {
      res.writeHead(ur.statusCode ?? 502, ur.statusMessage, ur.rawHeaders);
      ur.on("data", (d: Buffer) => (counts.bytesOut += d.byteLength));
      ur.pipe(res);
      ur.on("end", finish);
      ur.on("error", finish);
    });
    up.on("error", (err) => {
      finish();
      if (!res.headersSent) res.writeHead(502, { "content-type": "text/plain" });
      res.end(`counting proxy: ${err.message}`);
    });
    req.on("data", (d: Buffer) => (counts.bytesIn += d.byteLength));
    req.pipe(up);
    res.on("close", finish);
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve, reject) => server.once("error", reject).listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    snapshot: () => structuredClone(counts),
    inFlight: () => inFlight,
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      agent.destroy();
    },
  };
}
