// Helpers for the api-auth tests: log in, call the Worker with a token, sign hand-made tokens.
import { expect } from "vitest";
import { env, exports } from "cloudflare:workers";
import { SignJWT, importJWK, type JWK } from "jose";
import app from "../../src/index";
import { PASSWORDS, SERVICE, ISSUER, type TestUser } from "./fixtures";

/** Where the tests send requests: the configured service over https, as clients reach a deployment. */
export const ORIGIN = `https://${SERVICE}`;
const e = env as unknown as Record<string, string>;
export const SIGNING_JWK: JWK = JSON.parse(e.AUTH_SIGNING_KEY);
export const OLD_JWK: JWK = JSON.parse(e.TEST_OLD_KEY);

/** Calls the Worker; with `envPatch`, calls the app with a changed env (a fresh config, as after a redeploy). */
export function call(path: string, init: RequestInit = {}, envPatch?: Record<string, unknown>): Promise<Response> {
  const req = new Request(new URL(path, ORIGIN), init);
  if (envPatch) return Promise.resolve(app.fetch(req, { ...env, ...envPatch }, { waitUntil() {}, passThroughOnException() {}, props: {} } as unknown as ExecutionContext));
  return (exports as any).default.fetch(req);
}

export function basic(user: string, password: string): string {
  return "Basic " + btoa(`${user}:${password}`);
}

export function bearer(token: string): Record<string, string> {
  return { Authorization: `Bearer ${token}` };
}

export function tokenUrl(scopes: string[] = [], extra: Record<string, string> = {}): string {
  const q = new URLSearchParams({ service: SERVICE, ...extra });
  for (const s of scopes) q.append("scope", s);
  return `/token?${q}`;
}

/** GET /token as `user` (null: anonymous) for `scopes`; expects 200 and returns the body. */
export async function login(user: TestUser | null, scopes: string[] = [], extra: Record<string, string> = {}, envPatch?: Record<string, unknown>) {
  const headers: Record<string, string> = user ? { Authorization: basic(user, PASSWORDS[user]) } : {};
  const res = await call(tokenUrl(scopes, extra), { headers }, envPatch);
  expect(res.status, await res.clone().text()).toBe(200);
  return (await res.json()) as { token: string; access_token: string; expires_in: number; issued_at: string; refresh_token?: string; scope: string };
}

export async function tokenFor(user: TestUser | null, scopes: string[] = []): Promise<string> {
  return (await login(user, scopes)).token;
}

export function form(fields: Record<string, string>): RequestInit {
  return { method: "POST", headers: { "Content-Type": "application/x-www-form-urlencoded" }, body: new URLSearchParams(fields).toString() };
}

export function decodePayload(token: string): Record<string, any> {
  const part = token.split(".")[1];
  return JSON.parse(atob(part.replace(/-/g, "+").replace(/_/g, "/")));
}

export function decodeHeader(token: string): Record<string, any> {
  return JSON.parse(atob(token.split(".")[0].replace(/-/g, "+").replace(/_/g, "/")));
}

const now = () => Math.floor(Date.now() / 1000);

/** A token signed with a real key, with any claims and header changed (for the attack tests). */
export async function forge(opts: { jwk?: JWK; claims?: Record<string, unknown>; header?: Record<string, unknown>; drop?: string[] } = {}): Promise<string> {
  const jwk = opts.jwk ?? SIGNING_JWK;
  const claims: Record<string, unknown> = {
    iss: ISSUER,
    sub: "bob",
    aud: SERVICE,
    iat: now(),
    nbf: now(),
    exp: now() + 300,
    jti: crypto.randomUUID(),
    access: [{ type: "repository", name: "team/app", actions: ["pull", "push"] }],
    ...opts.claims,
  };
  for (const k of opts.drop ?? []) delete claims[k];
  const key = await importJWK(jwk, jwk.alg);
  return new SignJWT(claims).setProtectedHeader({ alg: jwk.alg!, kid: jwk.kid, typ: "JWT", ...opts.header }).sign(key);
}

export function b64url(text: string | Uint8Array): string {
  const bytes = typeof text === "string" ? new TextEncoder().encode(text) : text;
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

export async function sha256(bytes: Uint8Array | string): Promise<string> {
  const data = typeof bytes === "string" ? new TextEncoder().encode(bytes) : bytes;
  const h = new Uint8Array(await crypto.subtle.digest("SHA-256", data));
  return "sha256:" + [...h].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** Pushes a one-layer image with `token`; returns the manifest digest. Asserts every step. */
export async function pushImage(token: string, repo: string, tag: string, seed = "x"): Promise<string> {
  const layer = new TextEncoder().encode(`layer ${repo} ${seed}`);
  const config = new TextEncoder().encode(JSON.stringify({ architecture: "amd64", os: "linux", seed }));
  for (const blob of [layer, config]) {
    const d = await sha256(blob);
    const res = await call(`/v2/${repo}/blobs/uploads/?digest=${d}`, { method: "POST", headers: { ...bearer(token), "Content-Length": String(blob.length) }, body: blob });
    expect(res.status, await res.clone().text()).toBe(201);
  }
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: await sha256(config), size: config.length },
    layers: [{ mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: await sha256(layer), size: layer.length }],
  });
  const res = await call(`/v2/${repo}/manifests/${tag}`, { method: "PUT", headers: { ...bearer(token), "Content-Type": "application/vnd.oci.image.manifest.v1+json" }, body: manifest });
  expect(res.status, await res.clone().text()).toBe(201);
  return res.headers.get("Docker-Content-Digest")!;
}

export async function expectOciError(res: Response, status: number, code: string) {
  const text = await res.text();
  expect(res.status, text).toBe(status);
  const body = JSON.parse(text);
  expect(body.errors[0].code).toBe(code);
  return body.errors[0] as { code: string; message: string; detail?: unknown };
}

/** Parses a `Bearer k="v",...` challenge. */
export function parseChallenge(header: string | null): Record<string, string> {
  expect(header).toMatch(/^Bearer /);
  const out: Record<string, string> = {};
  for (const m of header!.slice(7).matchAll(/(\w+)="([^"]*)"/g)) out[m[1]] = m[2];
  return out;
}

export function uniq(prefix: string): string {
  return `${prefix}/${crypto.randomUUID().slice(0, 8)}`;
}
