// Login rate limits: every password check (GET /token with Basic credentials, POST /token grant_type=password)
// is counted per user name and per client address by the Workers rate limiting bindings LOGIN_LIMIT_USER and
// LOGIN_LIMIT_ADDRESS (limits and period in wrangler.toml), before the password hash is computed.
//
// The binding counts calls; it cannot count only failures or peek without counting, so right and wrong
// passwords count alike. That is also what the CPU needs: each check costs tens of milliseconds whatever its outcome
// (README "Setting up auth").
// Refresh tokens are not counted: they are signed tokens that cannot be guessed, and checking one is cheap.

/** The Workers rate limiting binding (`[[ratelimits]]` in wrangler.toml). */
export interface RateLimiter {
  limit(options: { key: string }): Promise<{ success: boolean }>;
}

export interface LoginLimits {
  user: RateLimiter;
  address: RateLimiter;
}

/** What clients are told to wait: the binding's longest period, so the window has surely ended by then. */
export const LOGIN_RETRY_AFTER_SECONDS = 60;

export function isRateLimiter(v: unknown): v is RateLimiter {
  return typeof v === "object" && v !== null && typeof (v as RateLimiter).limit === "function";
}

/**
 * The client's address as a counting key. Cloudflare sets CF-Connecting-IP on every request (clients cannot set
 * it), and `wrangler dev` sets it to the peer's address. Without it (a request that did not come through
 * Cloudflare's edge or wrangler, e.g. a test calling the Worker directly) all such requests share one key, so the
 * limit still holds, for all of them together. IPv6 counts by /64: one host or home usually holds a whole /64.
 */
export function clientAddressKey(header: string | null): string {
  const ip = (header ?? "").trim().toLowerCase();
  if (ip === "") return "address:unknown";
  if (!ip.includes(":")) return `address:${ip.slice(0, 45)}`;
  const prefix = ipv6Prefix64(ip);
  return prefix ? `address:${prefix}::/64` : `address:${ip.slice(0, 45)}`;
}

/** The first four groups of an IPv6 address, with `::` expanded; null when it is not one. */
function ipv6Prefix64(ip: string): string | null {
  const halves = ip.split("::");
  if (halves.length > 2) return null;
  const head = halves[0] ? halves[0].split(":") : [];
  const tail = halves.length === 2 && halves[1] ? halves[1].split(":") : [];
  // An embedded IPv4 tail (::ffff:1.2.3.4) lies past the first 64 bits; it counts as two groups.
  const count = (gs: string[]) => gs.reduce((n, g) => n + (g.includes(".") ? 2 : 1), 0);
  const missing = 8 - count(head) - count(tail);
  if (halves.length === 1 ? missing !== 0 : missing < 1) return null;
  const groups = [...head, ...Array(halves.length === 2 ? missing : 0).fill("0"), ...tail];
  const first = groups.slice(0, 4);
  if (!first.every((g) => /^[0-9a-f]{1,4}$/.test(g))) return null;
  return first.map((g) => g.replace(/^0+(?=.)/, "")).join(":");
}

/**
 * Counts one password check for `user` (when it is a well-formed user name: others cannot exist) and for the
 * client's address; false when either is over its limit. Unknown names count like known ones, so a 429 does
 * not tell whether a name exists.
 */
export async function allowLogin(limits: LoginLimits, user: string | null, addressHeader: string | null): Promise<boolean> {
  const checks = [limits.address.limit({ key: clientAddressKey(addressHeader) })];
  if (user !== null) checks.push(limits.user.limit({ key: `user:${user}` }));
  const outcomes = await Promise.all(checks);
  return outcomes.every((o) => o.success);
}
