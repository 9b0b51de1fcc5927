// Auth settings, parsed from the Worker's env by src/config and validated; every problem
// names the setting it comes from and quotes none of its value (problems are logged; AUTH_USERS and
// AUTH_SIGNING_KEY are secrets, AUTH_RULES may be one).
import type { Env } from "../config/settings";
import { settingsReader, type SettingsReader } from "../config/read";
import { parsePasswordHash, standInHash, type PasswordHash } from "./passwords";
import { parseRules, USER_NAME, type AccessRules } from "./rules";
import { parseKeys, type KeyConfig } from "./keys";
import { isRateLimiter, type LoginLimits } from "./login-limits";
import { checkHttpUrl, isLoopbackHost } from "../config/values";

export interface TokenAuthSettings {
  mode: "token";
  /** user name -> password hash (AUTH_USERS, htpasswd lines). */
  users: Map<string, PasswordHash>;
  /** What an unknown user's password is checked against (same kind and cost as most users, see standInHash). */
  standIn: PasswordHash;
  rules: AccessRules;
  /** Password checks per user name and per client address (rate limiting bindings); null with AUTH_RATE_LIMIT=off. */
  loginLimits: LoginLimits | null;
  /** null when AUTH_SIGNING_KEY is unset (then `locked` says why). */
  keys: KeyConfig | null;
  /** Token audience and the challenge's `service` (AUTH_SERVICE; never the request's Host header). */
  service: string;
  issuer: string;
  /** Token endpoint URL for the challenge (AUTH_REALM; never the request's Host header). */
  realm: string;
  accessTtlSeconds: number;
  refreshTtlSeconds: number;
  /** Why this deployment denies every request (no users, no signing key), or undefined when it works. */
  locked?: string;
}

export type AuthSettings = { mode: "open" } | TokenAuthSettings;

/**
 * Parses AUTH_USERS: one `name:hash` per line (an htpasswd file as it is); blank lines and `#` comments are
 * skipped. Entries may also be separated by spaces, since hashes hold none (handy for one-line .dev.vars).
 */
export function parseUsers(text: string | undefined, problems: string[]): Map<string, PasswordHash> {
  const users = new Map<string, PasswordHash>();
  if (text === undefined) return users;
  const entries = text.split(/\r?\n/).flatMap((line) => (line.trim().startsWith("#") ? [] : line.trim().split(/\s+/))).filter(Boolean);
  entries.forEach((entry, i) => {
    const colon = entry.indexOf(":");
    const name = colon > 0 ? entry.slice(0, colon) : "";
    // By position only: the entry (name included) is part of a secret.
    const where = `AUTH_USERS entry ${i + 1}`;
    if (!USER_NAME.test(name)) return void problems.push(`${where}: expected name:hash with a name of letters, digits and . _ @ -`);
    if (users.has(name)) return void problems.push(`${where}: user listed twice`);
    const hash = parsePasswordHash(entry.slice(colon + 1));
    if (typeof hash === "string") return void problems.push(`${where}: ${hash}`);
    users.set(name, hash);
  });
  return users;
}

export function parseAuthSettings(env: Env, problems: string[]): AuthSettings {
  const read = settingsReader(env, problems);
  const mode = read.oneOf("SKIFF_AUTH", ["open", "token"]);
  if (mode !== "token") return { mode: "open" }; // an invalid mode is a problem, and the config does not run
  const users = parseUsers(read.text("AUTH_USERS"), problems);
  const rules = parseRules(read.text("AUTH_RULES"), problems);
  const keys = parseKeys(read.text("AUTH_SIGNING_KEY"), read.text("AUTH_VERIFY_KEYS"), problems);
  // Realm and service come from the configuration only: taken from the request, a forged Host header would
  // choose where clients send their passwords and which audience tokens get.
  const service = read.text("AUTH_SERVICE");
  if (service === undefined) problems.push("AUTH_SERVICE is required with token auth: this registry's host name as clients use it, such as registry.example.com (the tokens' audience)");
  else if (!/^[A-Za-z0-9._:\-\[\]]{1,253}$/.test(service)) problems.push("AUTH_SERVICE must be a host name such as registry.example.com (letters, digits, . _ : - [ ])");
  const issuer = read.text("AUTH_ISSUER");
  if (!/^[\x21-\x7e]{1,200}$/.test(issuer) || issuer.includes('"')) problems.push("AUTH_ISSUER must be printable ASCII without spaces or quotes");
  const realm = parseRealm(read.text("AUTH_REALM"), problems);
  const accessTtlSeconds = read.int("AUTH_TOKEN_TTL_SECONDS", { min: 60, max: 3600 });
  const refreshTtlSeconds = read.int("AUTH_REFRESH_TTL_DAYS", { min: 1, max: 3650 }) * 86400;

  const loginLimits = parseLoginLimits(env, read);

  let locked: string | undefined;
  if (users.size === 0) {
    locked = "no users are configured (AUTH_USERS is empty), so every request is denied; see README 'Setting up auth'";
  } else if (!keys && !problems.some((p) => p.startsWith("AUTH_SIGNING_KEY"))) {
    problems.push("AUTH_SIGNING_KEY is required when AUTH_USERS is set: create one with `npm run keygen` and `wrangler secret put AUTH_SIGNING_KEY`");
  }
  return { mode: "token", users, standIn: standInHash(users.values()), rules, loginLimits, keys, service: service ?? "", issuer, realm: realm ?? "", accessTtlSeconds, refreshTtlSeconds, locked };
}

/** AUTH_RATE_LIMIT: "on" (default) needs both rate limiting bindings of wrangler.toml; "off" checks passwords unlimited. */
function parseLoginLimits(env: Env, read: SettingsReader): LoginLimits | null {
  if (read.oneOf("AUTH_RATE_LIMIT", ["on", "off"], { anyCase: true }) !== "on") return null;
  const user = env.LOGIN_LIMIT_USER;
  const address = env.LOGIN_LIMIT_ADDRESS;
  for (const [name, binding] of [["LOGIN_LIMIT_USER", user], ["LOGIN_LIMIT_ADDRESS", address]] as const) {
    if (!isRateLimiter(binding)) read.problem(`${name} must be a rate limiting binding ([[ratelimits]] in wrangler.toml, see README "Auth"), or set AUTH_RATE_LIMIT=off`);
  }
  return isRateLimiter(user) && isRateLimiter(address) ? { user, address } : null;
}

/** AUTH_REALM: the absolute URL of the token endpoint; https, or http on a loopback host (local development). */
function parseRealm(value: string | undefined, problems: string[]): string | undefined {
  const example = "such as https://registry.example.com/token";
  if (value === undefined) {
    problems.push(`AUTH_REALM is required with token auth: the URL of this registry's token endpoint, ${example}`);
    return undefined;
  }
  const { url, problem } = checkHttpUrl(value, { path: true });
  if (!url) problems.push(`AUTH_REALM must be the URL of the token endpoint, ${example}; ${problem}`);
  else if (url.protocol === "http:" && !isLoopbackHost(url.hostname)) problems.push("AUTH_REALM must be an https URL (http only on 127.0.0.1, [::1] or localhost)");
  // The serialised URL percent-encodes quotes and spaces, so it can sit in the quoted challenge parameter.
  else return url.href;
  return undefined;
}
