// Access tokens and refresh tokens: JWTs signed and checked with jose.
//
// Access tokens follow the Docker token spec (header typ "JWT", claims iss, sub, aud, exp, nbf, iat, jti and
// `access`). Refresh tokens are JWTs of their own type (header typ REFRESH_TYP), carry no access, and hold `pwv`,
// a digest of the user's password entry: changing the password or removing the user makes them worthless without
// any database. Both kinds are rejected where the other is expected.
import { SignJWT, decodeProtectedHeader, jwtVerify, errors as joseErrors } from "jose";
import type { ImportedKeys } from "./keys";
import type { Scope } from "./types";
import { ACTIONS } from "./rules";

export const ACCESS_TYP = "JWT";
export const REFRESH_TYP = "skiff-refresh+jwt";
/** Tolerated clock difference between the token issuer and the checker, in seconds. */
export const CLOCK_LEEWAY_SECONDS = 30;
/** Longer tokens are refused before any parsing (ours are well under 2 KB even with many scopes). */
export const MAX_TOKEN_LENGTH = 8192;

export interface TokenContext {
  issuer: string;
  service: string;
}

export interface AccessClaims {
  /** "" for an anonymous caller. */
  sub: string;
  access: Scope[];
  jti: string;
  /** Expiry, in seconds since the epoch. */
  exp: number;
}

export class TokenError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "TokenError";
  }
}

/** Signs `claims` as a token of type `typ` with the standard claims every Skiff token carries. */
function sign(keys: ImportedKeys, ctx: TokenContext, typ: string, claims: Record<string, unknown>, subject: string, ttlSeconds: number, now: number): Promise<string> {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: keys.signing.alg, kid: keys.signing.kid, typ })
    .setIssuer(ctx.issuer)
    .setSubject(subject)
    .setAudience(ctx.service)
    .setIssuedAt(now)
    .setNotBefore(now)
    .setExpirationTime(now + ttlSeconds)
    .setJti(crypto.randomUUID())
    .sign(keys.signing.key);
}

export function issueAccessToken(keys: ImportedKeys, ctx: TokenContext, subject: string, access: Scope[], ttlSeconds: number, now = nowSeconds()): Promise<string> {
  const claims = { access: access.map((s) => ({ type: s.type, name: s.name, actions: [...s.actions] })) };
  return sign(keys, ctx, ACCESS_TYP, claims, subject, ttlSeconds, now);
}

export function issueRefreshToken(keys: ImportedKeys, ctx: TokenContext, subject: string, passwordVersion: string, ttlSeconds: number, now = nowSeconds()): Promise<string> {
  return sign(keys, ctx, REFRESH_TYP, { pwv: passwordVersion }, subject, ttlSeconds, now);
}

/** Checks signature (known kid, that key's algorithm only), type, issuer, audience and times. */
async function verify(keys: ImportedKeys, ctx: TokenContext, token: string, typ: string) {
  if (token.length > MAX_TOKEN_LENGTH) throw new TokenError("token too long");
  let header;
  try {
    header = decodeProtectedHeader(token);
  } catch {
    throw new TokenError("malformed token");
  }
  const key = typeof header.kid === "string" ? keys.verify.get(header.kid) : undefined;
  if (!key) throw new TokenError("token signed by an unknown key");
  if (header.alg !== key.alg) throw new TokenError("token algorithm does not match its key");
  try {
    const { payload } = await jwtVerify(token, key.key, {
      algorithms: [key.alg],
      typ,
      issuer: ctx.issuer,
      audience: ctx.service,
      clockTolerance: CLOCK_LEEWAY_SECONDS,
      requiredClaims: ["sub", "exp", "nbf", "iat", "jti"],
    });
    return payload;
  } catch (e) {
    if (e instanceof joseErrors.JWTExpired) throw new TokenError("token expired");
    if (e instanceof joseErrors.JWTClaimValidationFailed) throw new TokenError(`token claim ${e.claim} is invalid`);
    throw new TokenError("token signature or format is invalid");
  }
}

export async function verifyAccessToken(keys: ImportedKeys, ctx: TokenContext, token: string): Promise<AccessClaims> {
  const p = await verify(keys, ctx, token, ACCESS_TYP);
  if (typeof p.sub !== "string" || typeof p.jti !== "string" || typeof p.exp !== "number") throw new TokenError("token claims are malformed");
  return { sub: p.sub, jti: p.jti, exp: p.exp, access: parseAccessClaim(p.access) };
}

export async function verifyRefreshToken(keys: ImportedKeys, ctx: TokenContext, token: string): Promise<{ sub: string; pwv: string }> {
  const p = await verify(keys, ctx, token, REFRESH_TYP);
  if (typeof p.sub !== "string" || p.sub === "" || typeof p.pwv !== "string") throw new TokenError("refresh token claims are malformed");
  return { sub: p.sub, pwv: p.pwv };
}

/** The `access` claim, shape-checked: anything malformed makes the whole token invalid; unknown entries grant nothing. */
function parseAccessClaim(v: unknown): Scope[] {
  if (v === undefined) return [];
  if (!Array.isArray(v) || v.length > 64) throw new TokenError("token access claim is malformed");
  const out: Scope[] = [];
  for (const e of v) {
    const ok = typeof e === "object" && e !== null && typeof e.type === "string" && typeof e.name === "string" && Array.isArray(e.actions) && e.actions.every((a: unknown) => typeof a === "string");
    if (!ok) throw new TokenError("token access claim is malformed");
    if (e.type === "registry" && e.name === "catalog" && e.actions.includes("*")) out.push({ type: "registry", name: "catalog", actions: ["*"] });
    if (e.type === "repository") out.push({ type: "repository", name: e.name, actions: ACTIONS.filter((a) => e.actions.includes(a)) });
  }
  return out;
}

/** Digest of a user's password entry, bound into refresh tokens. */
export async function passwordVersion(user: string, entry: string): Promise<string> {
  const data = new TextEncoder().encode(`skiff-password-version\0${user}\0${entry}`);
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", data));
  let s = "";
  for (const b of digest.subarray(0, 16)) s += b.toString(16).padStart(2, "0");
  return s;
}

export function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

/** Whether the granted scopes hold every action of `needed`. */
export function covers(granted: Scope[], needed: Scope): boolean {
  return needed.actions.every((a) => granted.some((g) => g.type === needed.type && g.name === needed.name && (g.actions as string[]).includes(a)));
}
