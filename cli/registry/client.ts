// PLACEHOLDER (engine branch): a minimal registry HTTP client WITHOUT auth, with the exact interface the real one
// (cli/registry/client.ts on the sources/auth branch: token auth, scopes, retries) exports. The engine codes against
// this interface only; at merge the real client replaces this file whole.
import { backoffMs } from "../push/plan";

export interface RegistryRequest {
  method: string;
  headers?: Record<string, string>;
  body?: () => Buffer | Uint8Array | string | null;
  scopes: { repo: string; actions: string[] }[];
  /** default true: 5xx/429/connection errors retried with backoff, body factory called again */
  retry?: boolean;
}

export interface RegistryClient {
  readonly origin: string;
  /** path starting /v2/ or an absolute/relative upload Location */
  request(target: string, req: RegistryRequest): Promise<Response>;
}

const ATTEMPTS = 5;

export function createRegistryClient(opts: { host: string; credentials: unknown | null; insecure?: boolean; userAgent?: string }): RegistryClient {
  const origin = `${opts.insecure ? "http" : "https"}://${opts.host}`;
  return {
    origin,
    async request(target, req) {
      const url = new URL(target, origin + "/v2/").toString();
      const headers = { ...(req.headers ?? {}), ...(opts.userAgent ? { "User-Agent": opts.userAgent } : {}) };
      for (let attempt = 0; ; attempt++) {
        const last = req.retry === false || attempt + 1 >= ATTEMPTS;
        try {
          const res = await fetch(url, { method: req.method, headers, body: req.body?.() ?? undefined, redirect: "manual" });
          if (last || (res.status < 500 && res.status !== 429)) return res;
          await res.body?.cancel();
        } catch (err) {
          if (last) throw err;
        }
        await new Promise((r) => setTimeout(r, backoffMs(attempt)));
      }
    },
  };
}
