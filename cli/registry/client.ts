// The registry HTTP client the push engine uses: speaks docker's auth flow (anonymous, Basic, or Bearer tokens from
// the registry's token server), retries what is worth retrying, and picks http or https as docker does.
import type { Credentials } from "../auth/credentials";
import { parseChallenges } from "./challenge";
import { errorFromResponse, RegistryError } from "./errors";
import { basicHeader, TokenCache, type BearerChallenge } from "./tokens";
import { ConnectionError, send } from "./transport";

export { RegistryError, errorFromResponse } from "./errors";

export interface RegistryRequest {
  method: string;
  headers?: Record<string, string>;
  body?: () => Buffer | Uint8Array | string | null;
  /** repositories and actions this request needs, e.g. [{repo: "team/app", actions: ["pull","push"]}, {repo: "other", actions: ["pull"]}] */
  scopes: { repo: string; actions: string[] }[];
  /** retry 5xx, 429 and connection errors with backoff (default true; the body factory is called again) */
  retry?: boolean;
}

export interface RegistryClient {
  /**
   * "https://host:port" (or http). For a local or --insecure registry it is settled at the first request: https
   * without certificate checks if the registry speaks TLS, else plain http (as docker does).
   */
  readonly origin: string;
  /** path starting with /v2/, or an absolute URL on the registry's origin (an upload Location, maybe relative: resolve it) */
  request(target: string, req: RegistryRequest): Promise<Response>;
}

export interface RegistryClientOptions {
  /** "ghcr.io", "127.0.0.1:5000", "docker.io" */
  host: string;
  credentials: Credentials | null;
  /** no certificate checks, and plain http when the registry does not speak TLS (local hosts are always so) */
  insecure?: boolean;
  userAgent?: string;
  /** first retry delay (doubles each time); tests shorten it */
  retryBaseMs?: number;
}

const MAX_ATTEMPTS = 5;
const MAX_REDIRECTS = 5;

/** docker's rule: these registries are reached over plain http without configuration. */
export function isLocalHost(host: string): boolean {
  const name = host.startsWith("[") ? host.slice(0, host.indexOf("]") + 1) : host.replace(/:\d+$/, "");
  return name === "localhost" || name === "127.0.0.1" || name === "[::1]";
}

type AuthMode = { kind: "unknown" } | { kind: "none" } | { kind: "basic" } | ({ kind: "bearer" } & BearerChallenge);

export function createRegistryClient(opts: RegistryClientOptions): RegistryClient {
  return new Client(opts);
}

class Client implements RegistryClient {
  private scheme: "http" | "https";
  /** https without certificate verification: local/--insecure registries that answered TLS only */
  private skipTlsVerify = false;
  private readonly apiHost: string;
  private auth: AuthMode = { kind: "unknown" };
  private ping: Promise<void> | null = null;
  private readonly tokens: TokenCache;
  private readonly userAgent: string;
  private readonly retryBaseMs: number;
  private readonly plain: boolean;

  constructor(private readonly opts: RegistryClientOptions) {
    // Docker Hub's API lives at registry-1.docker.io.
    this.apiHost = opts.host === "docker.io" || opts.host === "index.docker.io" ? "registry-1.docker.io" : opts.host;
    this.plain = Boolean(opts.insecure) || isLocalHost(this.apiHost);
    this.scheme = "https"; // a plain (local/insecure) registry may turn out to be http: discover()
    this.userAgent = opts.userAgent ?? "skiff";
    this.retryBaseMs = opts.retryBaseMs ?? 500;
    this.tokens = new TokenCache(opts.credentials, (url, init) => this.exchange(url, init.method, init.headers, () => init.body, true, "getting a token"), this.userAgent);
  }

  get origin(): string {
    return `${this.scheme}://${this.apiHost}`;
  }

  async request(target: string, req: RegistryRequest): Promise<Response> {
    await this.discover();
    const url = this.resolve(target);
    const sameOrigin = url.origin === this.origin;
    const scopes = scopeStrings(req.scopes);
    const what = `${req.method} ${url.pathname}`;
    const body = () => toBuffer(req.body?.());
    let reauthenticated = false;
    let freshToken: string | undefined;
    for (;;) {
      const headers: Record<string, string> = { "User-Agent": this.userAgent, ...(req.headers ?? {}) };
      if (sameOrigin) {
        const authorization = freshToken ? `Bearer ${freshToken}` : await this.authorization(scopes);
        if (authorization) headers.Authorization = authorization;
      }
      const res = await this.exchange(url, req.method, headers, body, req.retry !== false, what);
      if (res.status !== 401 || reauthenticated || !sameOrigin) return res;
      // 401: learn (again) how this registry wants to be spoken to, get a fresh token, and try once more.
      const challenge = this.learn(res);
      await res.body?.cancel().catch(() => {});
      if (!challenge) return new Response(null, { status: 401, statusText: res.statusText, headers: res.headers });
      reauthenticated = true;
      if (this.auth.kind === "bearer") freshToken = await this.tokens.get(this.auth, mergeChallengeScope(scopes, challenge));
    }
  }

  /** One request with retries and redirects (bodiless requests only); what the caller sees after the last try. */
  private async exchange(url: URL, method: string, headers: Record<string, string>, body: () => Buffer | null, retry: boolean, what: string): Promise<Response> {
    for (let attempt = 1; ; attempt++) {
      let res: Response;
      try {
        res = await this.followRedirects(url, method, headers, body());
      } catch (err) {
        if (!(err instanceof ConnectionError)) throw err;
        if (!retry || attempt >= MAX_ATTEMPTS) {
          throw new RegistryError(`${what} on ${url.origin}: ${err.message}${err.code ? ` (${err.code})` : ""}${attempt > 1 ? ` after ${attempt} attempts` : ""}`, 0);
        }
        await sleep(this.backoff(attempt));
        continue;
      }
      if (!(res.status >= 500 || res.status === 429) || !retry) return res;
      if (attempt >= MAX_ATTEMPTS) {
        const err = await errorFromResponse(res, `${what} on ${url.origin}`);
        err.message += ` after ${attempt} attempts`;
        throw err;
      }
      await res.body?.cancel().catch(() => {});
      await sleep(retryAfterMs(res) ?? this.backoff(attempt));
    }
  }

  private async followRedirects(url: URL, method: string, headers: Record<string, string>, body: Buffer | null): Promise<Response> {
    let current = url;
    let h = headers;
    for (let hops = 0; ; hops++) {
      const res = await send({ url: current, method, headers: h, body, skipTlsVerify: this.skipTlsVerify && current.host === this.apiHost });
      const location = res.headers.get("location");
      // A body cannot be sent again blindly; the caller sees 3xx answers to requests with one (e.g. an upload PUT).
      if (body || method !== "GET" && method !== "HEAD" || ![301, 302, 303, 307, 308].includes(res.status) || !location || hops >= MAX_REDIRECTS) return res;
      await res.body?.cancel().catch(() => {});
      const next = new URL(location, current);
      // Another host (a presigned storage URL) must not see the registry credentials.
      if (next.origin !== current.origin) {
        h = { ...h };
        delete h.Authorization;
      }
      current = next;
    }
  }

  private backoff(attempt: number): number {
    const base = this.retryBaseMs * 2 ** (attempt - 1);
    return base * (0.75 + Math.random() * 0.5);
  }

  private resolve(target: string): URL {
    const url = new URL(target, this.origin);
    if (url.protocol !== "http:" && url.protocol !== "https:") throw new RegistryError(`not an http(s) URL: ${url.protocol}`, 0);
    return url;
  }

  private async authorization(scopes: string[]): Promise<string | undefined> {
    const c = this.opts.credentials;
    if (c?.kind === "registry-token") return `Bearer ${c.token}`;
    if (this.auth.kind === "basic") {
      if (c?.kind === "basic") return basicHeader(c.username, c.password);
      if (c) throw new RegistryError(`${this.opts.host} asks for a user name and password (Basic auth), but the stored credentials are an identity token`, 401);
      return undefined;
    }
    if (this.auth.kind !== "bearer") return undefined;
    // Known to use tokens: get one before sending, so a large body is not sent only to be refused.
    const token = this.tokens.cached(scopes) ?? (await this.tokens.get(this.auth, scopes));
    return `Bearer ${token}`;
  }

  /** Reads a 401's challenge into the auth mode; the challenge for messages and the scope it names. */
  private learn(res: Response): { scope?: string } | null {
    const values: string[] = [];
    res.headers.forEach((v, k) => {
      if (k === "www-authenticate") values.push(v);
    });
    const challenges = parseChallenges(values);
    const bearer = challenges.find((c) => c.scheme === "bearer" && c.params.realm);
    if (bearer) {
      this.auth = { kind: "bearer", realm: bearer.params.realm, service: bearer.params.service };
      return { scope: bearer.params.scope };
    }
    if (challenges.some((c) => c.scheme === "basic")) {
      this.auth = { kind: "basic" };
      return {};
    }
    return null;
  }

  /**
   * Once per client, GET /v2/ as docker does: learns whether the registry wants auth and how, and for local or
   * --insecure registries whether it speaks plain http or only TLS.
   */
  private discover(): Promise<void> {
    this.ping ??= (async () => {
      const probe = () => this.exchange(new URL("/v2/", this.origin), "GET", { "User-Agent": this.userAgent }, () => null, false, "GET /v2/");
      let res: Response;
      if (!this.plain) res = await probe();
      else {
        // As docker does with an insecure registry: https without certificate checks first (a local Skiff under
        // wrangler dev, a registry with a self-signed certificate), plain http when the TLS handshake fails.
        this.scheme = "https";
        this.skipTlsVerify = true;
        try {
          res = await probe();
        } catch {
          this.scheme = "http";
          this.skipTlsVerify = false;
          res = await this.exchange(new URL("/v2/", this.origin), "GET", { "User-Agent": this.userAgent }, () => null, true, "GET /v2/");
        }
      }
      if (res.status === 401) this.learn(res);
      else this.auth = { kind: "none" };
      await res.body?.cancel().catch(() => {});
    })().catch((err) => {
      this.ping = null; // the next request tries again
      throw err;
    });
    return this.ping;
  }
}

/** [{repo, actions}] → ["repository:team/app:pull,push", ...], one per repository, actions merged. */
export function scopeStrings(scopes: RegistryRequest["scopes"]): string[] {
  const byRepo = new Map<string, Set<string>>();
  for (const s of scopes) {
    const set = byRepo.get(s.repo) ?? new Set<string>();
    for (const a of s.actions) set.add(a);
    byRepo.set(s.repo, set);
  }
  return [...byRepo].map(([repo, actions]) => `repository:${repo}:${[...actions].sort().join(",")}`).sort();
}

/** Adds what the challenge asked for when the request's own scopes do not already say it. */
function mergeChallengeScope(scopes: string[], challenge: { scope?: string }): string[] {
  if (!challenge.scope) return scopes;
  const extra = challenge.scope.split(" ").filter((s) => s && !scopes.includes(s));
  return extra.length ? [...scopes, ...extra].sort() : scopes;
}

function toBuffer(b: Buffer | Uint8Array | string | null | undefined): Buffer | null {
  if (b === null || b === undefined) return null;
  if (typeof b === "string") return Buffer.from(b, "utf8");
  return Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}

function retryAfterMs(res: Response): number | undefined {
  const v = res.headers.get("retry-after");
  if (!v || !/^\d+$/.test(v)) return undefined;
  const s = Number(v);
  return s <= 60 ? s * 1000 : undefined;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
