// Skiff's own token endpoint (Docker token auth spec): GET /token (Basic auth, `docker login`), POST /token
// (OAuth2 form: password and refresh_token grants, containerd and docker's identity tokens), and the public keys.
import { Hono, type Context } from "hono";
import type { TokenAuthSettings } from "../../auth/settings";
import type { Scope } from "../../auth/types";
import { tokenContext } from "../../auth/context";
import { checkPassword, parseBasic } from "../../auth/credentials";
import { grant, mergeScopes, parseScope, formatScope } from "../../auth/rules";
import { TokenError, issueAccessToken, issueRefreshToken, passwordVersion, verifyRefreshToken, nowSeconds } from "../../auth/tokens";
import { constantTimeEqual } from "../../auth/passwords";
import { allowLogin, LOGIN_RETRY_AFTER_SECONDS } from "../../auth/login-limits";
import { USER_NAME } from "../../auth/rules";
import { toErrorResponse } from "../responses";
import { readLimited } from "../read-limited";
import type { AppEnv } from "../context";

type C = Context<AppEnv>;

const MAX_SCOPES = 32;
const MAX_FORM_BYTES = 16 * 1024;
const NO_STORE = { "Cache-Control": "no-store", Pragma: "no-cache" };

export const tokenRoutes = new Hono<AppEnv>();

/** An error in both shapes clients read: OAuth2's `error` and the registry's `errors`. */
class TokenEndpointError extends Error {
  /** The code in the answer's `errors` (and in the request log: src/http/responses.ts errorCodeOf). */
  readonly ociCode: string;
  constructor(readonly status: 400 | 401 | 404 | 429 | 503, readonly oauth: string, message: string) {
    super(message);
    // OCI has no code for a malformed request; UNSUPPORTED is the nearest (clients act on the status).
    this.ociCode = { 401: "UNAUTHORIZED", 429: "TOOMANYREQUESTS", 503: "UNAVAILABLE" }[status as number] ?? "UNSUPPORTED";
  }
}

function errorResponse(e: TokenEndpointError): Response {
  const code = e.ociCode;
  const headers: Record<string, string> = { "Content-Type": "application/json", ...NO_STORE };
  if (e.status === 401) headers["WWW-Authenticate"] = 'Basic realm="Skiff token service", charset="UTF-8"';
  if (e.status === 429) headers["Retry-After"] = String(LOGIN_RETRY_AFTER_SECONDS);
  const body = { error: e.oauth, error_description: e.message, errors: [{ code, message: e.message }] };
  return new Response(JSON.stringify(body), { status: e.status, headers });
}

tokenRoutes.onError((err) => (err instanceof TokenEndpointError ? errorResponse(err) : toErrorResponse(err)));

function tokenSettings(c: C): TokenAuthSettings {
  const auth = c.var.runtime.config.auth;
  if (auth.mode === "open") throw new TokenEndpointError(404, "invalid_request", "token auth is off (SKIFF_AUTH=open): no token is needed");
  if (auth.locked) throw new TokenEndpointError(401, "invalid_client", `this registry denies every request: ${auth.locked}`);
  return auth;
}

function checkService(settings: TokenAuthSettings, c: C, asked: string | undefined) {
  const ours = settings.service;
  if (asked !== undefined && asked !== "" && asked !== ours) {
    throw new TokenEndpointError(400, "invalid_request", `unknown service ${JSON.stringify(asked.slice(0, 100))}; this registry is ${JSON.stringify(ours)}`);
  }
}

/** Scope strings (each may hold several, space separated) -> what this subject gets of them. */
function grantedScopes(settings: TokenAuthSettings, subject: string | null, scopeParams: string[]): Scope[] {
  const asked = scopeParams.flatMap((p) => p.split(" ")).filter(Boolean);
  if (asked.length > MAX_SCOPES) throw new TokenEndpointError(400, "invalid_scope", `at most ${MAX_SCOPES} scopes per token request`);
  const granted: Scope[] = [];
  for (const text of asked) {
    const scope = parseScope(text);
    const g = scope && grant(settings.rules, subject, scope);
    if (g) granted.push(g);
  }
  return mergeScopes(granted);
}

async function answer(c: C, settings: TokenAuthSettings, subject: string | null, scopes: Scope[], refreshToken: string | undefined) {
  if (subject) c.var.note.user = subject;
  const keys = await c.var.runtime.keys();
  const now = nowSeconds();
  const ttl = settings.accessTtlSeconds;
  const token = await issueAccessToken(keys, tokenContext(settings), subject ?? "", scopes, ttl, now);
  const body: Record<string, unknown> = {
    token,
    access_token: token,
    expires_in: ttl,
    issued_at: new Date(now * 1000).toISOString(),
    scope: scopes.map(formatScope).join(" "),
  };
  if (refreshToken) body.refresh_token = refreshToken;
  return new Response(JSON.stringify(body), { status: 200, headers: { "Content-Type": "application/json", ...NO_STORE } });
}

async function newRefreshToken(c: C, settings: TokenAuthSettings, user: string): Promise<string> {
  const pwv = await passwordVersion(user, settings.users.get(user)!.entry);
  return issueRefreshToken(await c.var.runtime.keys(), tokenContext(settings), user, pwv, settings.refreshTtlSeconds);
}

const BAD_LOGIN = () => new TokenEndpointError(401, "invalid_grant", "incorrect username or password");

/** Counts a password check against the login rate limits (before the costly hash); 429 when over. */
async function limitLogin(c: C, settings: TokenAuthSettings, user: string): Promise<void> {
  if (!settings.loginLimits) return;
  // A malformed name cannot be a user: it counts only against the address (and keeps odd keys out of the counter).
  const name = USER_NAME.test(user) ? user : null;
  if (await allowLogin(settings.loginLimits, name, c.req.header("cf-connecting-ip") ?? null)) return;
  // docker and podman print the message, not Retry-After, so the message says how long to wait.
  throw new TokenEndpointError(429, "slow_down", `too many login attempts for this user name or from this address; try again in ${LOGIN_RETRY_AFTER_SECONDS} seconds`);
}

// GET /token: anonymous, or Basic credentials (`docker login`, podman, skopeo, containerd's fallback).
tokenRoutes.get("/token", async (c) => {
  const settings = tokenSettings(c);
  checkService(settings, c, c.req.query("service"));
  const header = c.req.header("authorization") ?? null;
  let subject: string | null = null;
  if (header !== null) {
    const basic = parseBasic(header);
    if (!basic) throw new TokenEndpointError(401, "invalid_client", "the Authorization header must be Basic credentials (user:password in base64)");
    await limitLogin(c, settings, basic.user);
    subject = await checkPassword(settings, basic.user, basic.password);
    if (!subject) throw BAD_LOGIN();
  }
  const scopes = grantedScopes(settings, subject, c.req.queries("scope") ?? []);
  const offline = c.req.query("offline_token") === "true" && subject !== null;
  return answer(c, settings, subject, scopes, offline ? await newRefreshToken(c, settings, subject!) : undefined);
});

// POST /token: OAuth2 form (grant_type=password | refresh_token).
tokenRoutes.post("/token", async (c) => {
  const settings = tokenSettings(c);
  const type = (c.req.header("content-type") ?? "").split(";")[0].trim().toLowerCase();
  if (type !== "application/x-www-form-urlencoded") throw new TokenEndpointError(400, "invalid_request", "POST /token takes an application/x-www-form-urlencoded form");
  const form = new URLSearchParams(await readForm(c.req.raw));
  checkService(settings, c, form.get("service") ?? undefined);

  const grantType = form.get("grant_type");
  let subject: string;
  let refreshToken: string | undefined;
  if (grantType === "password") {
    const user = form.get("username");
    const password = form.get("password");
    if (!user || password === null) throw new TokenEndpointError(400, "invalid_request", "grant_type=password needs username and password");
    await limitLogin(c, settings, user);
    const ok = await checkPassword(settings, user, password);
    if (!ok) throw BAD_LOGIN();
    subject = ok;
    if (form.get("access_type") === "offline") refreshToken = await newRefreshToken(c, settings, subject);
  } else if (grantType === "refresh_token") {
    const presented = form.get("refresh_token");
    if (!presented) throw new TokenEndpointError(400, "invalid_request", "grant_type=refresh_token needs refresh_token");
    subject = await checkRefreshToken(c, settings, presented);
    // The spec: a refresh grant answers with the same refresh token.
    refreshToken = presented;
  } else if (grantType === null) {
    throw new TokenEndpointError(400, "invalid_request", "grant_type is required (password or refresh_token)");
  } else {
    throw new TokenEndpointError(400, "unsupported_grant_type", `grant_type ${JSON.stringify(grantType.slice(0, 40))} is not supported; use password or refresh_token`);
  }
  const scopes = grantedScopes(settings, subject, form.getAll("scope"));
  return answer(c, settings, subject, scopes, refreshToken);
});

/** A refresh token is good while its user exists with the same password entry it was issued for. */
async function checkRefreshToken(c: C, settings: TokenAuthSettings, token: string): Promise<string> {
  let claims;
  try {
    claims = await verifyRefreshToken(await c.var.runtime.keys(), tokenContext(settings), token);
  } catch (e) {
    if (e instanceof TokenError) throw new TokenEndpointError(401, "invalid_grant", `refresh token rejected: ${e.message}; log in again`);
    throw e;
  }
  const stored = settings.users.get(claims.sub);
  const current = stored ? await passwordVersion(claims.sub, stored.entry) : "";
  const enc = new TextEncoder();
  if (!stored || !constantTimeEqual(enc.encode(current), enc.encode(claims.pwv))) {
    throw new TokenEndpointError(401, "invalid_grant", "refresh token rejected: the user was removed or changed password; log in again");
  }
  return claims.sub;
}

async function readForm(req: Request): Promise<string> {
  const tooLarge = () => new TokenEndpointError(400, "invalid_request", `form larger than ${MAX_FORM_BYTES} bytes`);
  if (Number(req.headers.get("content-length") ?? "0") > MAX_FORM_BYTES) throw tooLarge();
  return new TextDecoder().decode(await readLimited(req.body, MAX_FORM_BYTES, tooLarge));
}

// The public keys that verify Skiff's tokens (current and still-accepted earlier ones).
tokenRoutes.get("/.well-known/jwks.json", async (c) => {
  const auth = c.var.runtime.config.auth;
  const keys = auth.mode === "token" && auth.keys ? (await c.var.runtime.keys()).jwks : { keys: [] };
  return new Response(JSON.stringify(keys), { headers: { "Content-Type": "application/json", "Cache-Control": "max-age=300" } });
});
