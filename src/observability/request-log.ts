// What one request's log line and metrics data point say, shaped from plain facts: no I/O, no hono, so the rules
// about what may be logged live (and are unit-tested) in one place. src/http/observe.ts gathers the facts.
//
// Never logged: headers (Authorization, Cookie), query strings (a presigned URL's signature, a token request's
// password or refresh token), a 307's Location, response bodies. Everything that is logged is either produced by
// Skiff (status, code, route template, sizes) or checked against a grammar first (repository, digest, upload id,
// user name, request id); free text (error messages, User-Agent) goes through `scrub`.

import { parseDigest } from "../protocol/digest";
import { isValidName } from "../protocol/names";
import { USER_NAME as USER } from "../auth/rules";

export type LogLevel = "info" | "warn" | "error";

/** What the HTTP layer knows about a finished request. Strings here are raw: the shaping checks them. */
export interface RequestFacts {
  /** The `cf-ray` header, or null (then a random id is made). */
  ray: string | null;
  method: string;
  /** The hono route pattern that answered ("/v2/:name{.+}/blobs/:digest"), or null when no route matched. */
  route: string | null;
  /** The repository name, once the route validated it. */
  repository: string | null;
  status: number;
  /** The OCI error code of an error answer. */
  code: string | null;
  bytesIn: number | null;
  bytesOut: number | null;
  durationMs: number;
  /** The authenticated subject (token `sub`, or the user the token endpoint just checked), or null. */
  user: string | null;
  userAgent: string | null;
  /** Whether the request carried an Authorization header (never its value). */
  credentials?: boolean;
  /** Docker-Upload-UUID of the answer, or the route's :id. */
  upload: string | null;
  /** Docker-Content-Digest of the answer, or the digest the request named. */
  digest: string | null;
}

/** What a request was, for counters: the names the README's example queries use. */
export type RequestEvent = "push" | "pull" | "manifest_put" | "manifest_pull" | "token_issued" | "token_denied" | "challenge" | "error" | "request";

const RAY = /^[A-Za-z0-9-]{1,64}$/;
const UPLOAD_ID = /^[A-Za-z0-9_-]{1,64}$/;
const DIGEST = { test: (v: string) => parseDigest(v) !== null };
const REPOSITORY = { test: isValidName };

/** The route as a reader expects it: `/v2/:name/blobs/:digest` (hono's `{regex}` suffixes dropped). */
export function routeTemplate(pattern: string | null): string | null {
  if (pattern === null || pattern === "/*" || pattern === "*") return null;
  return pattern.replace(/\{[^}]*\}/g, "");
}

export function requestId(ray: string | null, random: () => string): string {
  return ray !== null && RAY.test(ray) ? ray : random();
}

export function classify(f: Pick<RequestFacts, "method" | "route" | "status"> & { credentials?: boolean }): RequestEvent {
  const route = routeTemplate(f.route) ?? "";
  if (route === "/token") return f.status === 200 ? "token_issued" : f.status === 401 || f.status === 429 ? "token_denied" : "error";
  // Every docker session starts with an anonymous request answered 401 + WWW-Authenticate: the normal handshake,
  // not a failure. A 401 to a request that carried credentials (a refused token) is one.
  if (f.status === 401 && f.credentials === false) return "challenge";
  // A HEAD answered 404 is a client asking whether something exists before it pushes it (docker, skopeo): routine.
  if (f.status === 404 && f.method === "HEAD") return "request";
  if (f.status >= 400) return "error";
  if (f.status === 201 && f.method === "PUT" && route.endsWith("/manifests/:reference")) return "manifest_put";
  if (f.status === 201 && route.includes("/blobs/uploads/")) return "push";
  if (f.method === "GET" && route.endsWith("/blobs/:digest") && (f.status === 200 || f.status === 206 || f.status === 307)) return "pull";
  if (f.method === "GET" && route.endsWith("/manifests/:reference") && f.status === 200) return "manifest_pull";
  return "request";
}

export function levelOf(status: number, event?: RequestEvent): LogLevel {
  return status >= 500 ? "error" : status >= 400 && event !== "challenge" && event !== "request" ? "warn" : "info";
}

const pick = (value: string | null, grammar: { test(v: string): boolean }): string | undefined => (value !== null && grammar.test(value) ? value : undefined);
const count = (n: number | null): number | undefined => (n !== null && Number.isSafeInteger(n) && n >= 0 ? n : undefined);

/** The one log line of a request: an object for `JSON.stringify`, absent fields left out. */
export function requestLogLine(f: RequestFacts, id: string): Record<string, unknown> {
  const route = routeTemplate(f.route);
  const event = classify(f);
  const line: Record<string, unknown> = {
    level: levelOf(f.status, event),
    message: `${f.method} ${route ?? "(no route)"} ${f.status}`,
    event,
    requestId: id,
    method: f.method,
    route,
    repository: pick(f.repository, REPOSITORY),
    status: f.status,
    code: f.code ?? undefined,
    bytesIn: count(f.bytesIn),
    bytesOut: count(f.bytesOut),
    durationMs: Math.max(0, Math.round(f.durationMs)),
    user: pick(f.user, USER) ?? "anonymous",
    client: f.userAgent ? scrub(f.userAgent).slice(0, 200) : undefined,
    upload: pick(f.upload, UPLOAD_ID),
    digest: pick(f.digest, DIGEST),
  };
  for (const k of Object.keys(line)) if (line[k] === undefined) delete line[k];
  return line;
}

/** A Workers Analytics Engine data point: index = repository (the sampling key), blobs and doubles by position. */
export interface DataPoint {
  indexes: string[];
  blobs: string[];
  doubles: number[];
}

/**
 * Positions are the public schema (README "Metrics"): blob1 event, blob2 repository, blob3 OCI code, blob4 method,
 * blob5 route, blob6 user; double1 bytes in, double2 bytes out, double3 duration ms, double4 status.
 */
export function requestDataPoint(f: RequestFacts): DataPoint {
  const repository = pick(f.repository, REPOSITORY) ?? "";
  return {
    // An index is at most 96 bytes; repository names are ASCII, so characters are bytes.
    indexes: [repository.slice(0, 96)],
    blobs: [classify(f), repository, f.code ?? "", f.method, routeTemplate(f.route) ?? "", pick(f.user, USER) ?? "anonymous"],
    doubles: [count(f.bytesIn) ?? 0, count(f.bytesOut) ?? 0, Math.max(0, Math.round(f.durationMs)), f.status],
  };
}

/**
 * Free text made safe to log: URLs lose their query (presigned signatures, credentials), JWT-shaped strings,
 * `Bearer`/`Basic` credentials and `X-Amz-*` / signature parameters are replaced. Also cut to `max` characters.
 */
export function scrub(text: string, max = 2000): string {
  return text
    .replace(/\b(https?:\/\/[^\s?#"'<>]*)[?#][^\s"'<>]*/gi, "$1?[query removed]")
    .replace(/\beyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]*)?/g, "[token removed]")
    .replace(/\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+/gi, "$1 [credentials removed]")
    .replace(/\b(X-Amz-[A-Za-z-]+|Signature|AWSAccessKeyId|password|refresh_token|access_token|token)=[^\s&"']*/gi, "$1=[removed]")
    .slice(0, max);
}

/** A structured line for a non-request event (a storage failure, a bad configuration): message scrubbed. */
export function eventLogLine(level: LogLevel, message: string, fields: Record<string, string | number | boolean> = {}): Record<string, unknown> {
  const out: Record<string, unknown> = { level, message: scrub(message) };
  for (const [k, v] of Object.entries(fields)) out[k] = typeof v === "string" ? scrub(v) : v;
  return out;
}
