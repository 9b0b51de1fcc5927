// Bearer tokens from a registry's token server (docker's token auth): fetched per scope set, cached until shortly
// before they expire, one fetch at a time per scope set.
import type { Credentials } from "../auth/credentials";
import { describeCredentials } from "../auth/credentials";
import { errorFromResponse, RegistryError } from "./errors";

export interface BearerChallenge {
  realm: string;
  service?: string;
}

/** Fetches a token (with the caller's retry and transport); the client supplies `fetchToken`. */
export type TokenFetcher = (url: URL, init: { method: string; headers: Record<string, string>; body: Buffer | null }) => Promise<Response>;

interface Cached {
  token: string;
  expiresAt: number;
}

export function basicHeader(username: string, password: string): string {
  return `Basic ${Buffer.from(`${username}:${password}`, "utf8").toString("base64")}`;
}

export class TokenCache {
  private readonly tokens = new Map<string, Cached>();
  private readonly pending = new Map<string, Promise<string>>();

  constructor(
    private readonly credentials: Credentials | null,
    private readonly fetchToken: TokenFetcher,
    private readonly userAgent: string,
    private readonly now: () => number = Date.now,
  ) {}

  /** A token still valid for this exact scope set, if one is cached. */
  cached(scopes: string[]): string | undefined {
    const hit = this.tokens.get(key(scopes));
    return hit && hit.expiresAt > this.now() ? hit.token : undefined;
  }

  /** A fresh token for the scope set (one fetch shared by concurrent callers). */
  get(challenge: BearerChallenge, scopes: string[]): Promise<string> {
    const k = `${challenge.realm} ${challenge.service ?? ""} ${key(scopes)}`;
    let p = this.pending.get(k);
    if (!p) {
      p = this.fetch(challenge, scopes).finally(() => this.pending.delete(k));
      this.pending.set(k, p);
    }
    return p;
  }

  private async fetch(challenge: BearerChallenge, scopes: string[]): Promise<string> {
    let realm: URL;
    try {
      realm = new URL(challenge.realm);
    } catch {
      throw new RegistryError(`the registry's token realm ${JSON.stringify(challenge.realm.slice(0, 200))} is not a URL`, 0);
    }
    if (realm.protocol !== "https:" && realm.protocol !== "http:") throw new RegistryError(`the registry's token realm must be http(s), not ${realm.protocol}`, 0);
    const c = this.credentials;
    const headers: Record<string, string> = { "User-Agent": this.userAgent, Accept: "application/json" };
    let res: Response;
    if (c?.kind === "identity-token") {
      // docker's refresh-token grant: POST a form.
      const form = new URLSearchParams({ grant_type: "refresh_token", refresh_token: c.token, client_id: "skiff" });
      if (challenge.service) form.set("service", challenge.service);
      if (scopes.length) form.set("scope", scopes.join(" "));
      headers["Content-Type"] = "application/x-www-form-urlencoded";
      res = await this.fetchToken(realm, { method: "POST", headers, body: Buffer.from(form.toString()) });
    } else {
      const url = new URL(realm);
      if (challenge.service) url.searchParams.set("service", challenge.service);
      for (const s of scopes) url.searchParams.append("scope", s);
      if (c?.kind === "basic") {
        if (c.username) url.searchParams.set("account", c.username);
        headers.Authorization = basicHeader(c.username, c.password);
      }
      res = await this.fetchToken(url, { method: "GET", headers, body: null });
    }
    if (!res.ok) {
      const err = await errorFromResponse(res, `getting a token from ${realm.origin}${realm.pathname} as ${describeCredentials(c)}`);
      if (res.status === 401 || res.status === 403) err.message += c ? " (are the credentials right?)" : " (log in with docker login, or pass --username and --password-stdin)";
      throw err;
    }
    let body: { token?: unknown; access_token?: unknown; expires_in?: unknown };
    try {
      body = (await res.json()) as typeof body;
    } catch {
      throw new RegistryError(`the token server ${realm.origin}${realm.pathname} did not answer JSON`, res.status);
    }
    const token = typeof body.access_token === "string" && body.access_token ? body.access_token : typeof body.token === "string" ? body.token : "";
    if (!token) throw new RegistryError(`the token server ${realm.origin}${realm.pathname} answered no token`, res.status);
    // Clients treat a missing or short lifetime as 60 s; stop using it a little before it ends.
    const lifetime = Math.max(60, typeof body.expires_in === "number" && Number.isFinite(body.expires_in) ? body.expires_in : 60);
    this.tokens.set(key(scopes), { token, expiresAt: this.now() + (lifetime - Math.min(30, lifetime / 5)) * 1000 });
    return token;
  }
}

function key(scopes: string[]): string {
  return [...scopes].sort().join(" ");
}
