// Request-rate tests: a fixed number of keep-alive clients send one request after another to one URL for a fixed
// time; every latency is recorded. Node's own http(s) agents, so HEAD works (Debian's wrk 4.1 hangs on HEAD
// responses) and both registries meet the same client. The client shares the 2 cores with the registry under test.
import http from "node:http";
import https from "node:https";
import { percentile } from "./stats";

export interface LoadResult {
  requests: number;
  errors: number;
  /** Warm-up requests (one per connection, not measured) that failed or timed out. */
  warmupErrors: number;
  rps: number;
  p50ms: number;
  p99ms: number;
}

export interface LoadSpec {
  url: string;
  method: "GET" | "HEAD";
  headers: Record<string, string>;
  connections: number;
  seconds: number;
  /** Statuses that count as answered (default 200 only; e.g. 307 for a registry that redirects blob HEADs). */
  okStatuses?: number[];
}

export async function runLoad(spec: LoadSpec): Promise<LoadResult> {
  const isHttps = spec.url.startsWith("https:");
  const lib = isHttps ? https : http;
  const agent = isHttps
    ? new https.Agent({ keepAlive: true, maxSockets: spec.connections, rejectUnauthorized: false })
    : new http.Agent({ keepAlive: true, maxSockets: spec.connections });
  const one = (record: boolean, latencies: number[], fail: () => void) =>
    new Promise<void>((resolve) => {
      const t0 = performance.now();
      const req = lib.request(spec.url, { method: spec.method, headers: spec.headers, agent }, (res) => {
        res.resume();
        res.on("end", () => {
          if (!(spec.okStatuses ?? [200]).includes(res.statusCode ?? 0)) fail();
          if (record) latencies.push(performance.now() - t0);
          resolve();
        });
      });
      req.on("error", () => {
        fail();
        resolve();
      });
      // A request that never gets an answer (seen under wrangler dev at 32 clients) counts as an error, not a hang.
      req.setTimeout(30_000, () => req.destroy(new Error("no answer in 30 s")));
      req.end();
    });
  // Warm-up: open every connection (TLS handshakes are not what is measured).
  let warmupErrors = 0;
  await Promise.all(Array.from({ length: spec.connections }, () => one(false, [], () => warmupErrors++)));
  const latencies: number[] = [];
  let errors = 0;
  const deadline = performance.now() + spec.seconds * 1000;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: spec.connections }, async () => {
      while (performance.now() < deadline) await one(true, latencies, () => errors++);
    }),
  );
  const elapsed = (performance.now() - t0) / 1000;
  agent.destroy();
  latencies.sort((a, b) => a - b);
  return { requests: latencies.length, errors, warmupErrors, rps: latencies.length / elapsed, p50ms: percentile(latencies, 50), p99ms: percentile(latencies, 99) };
}
