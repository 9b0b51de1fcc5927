// Password hashes: PBKDF2-SHA256 through WebCrypto (Skiff's own format), and bcrypt lines from htpasswd files.
//
// PBKDF2 entries look like `$pbkdf2-sha256$i=100000$<salt>$<hash>` (salt and hash base64, no padding).
// Workers' WebCrypto refuses PBKDF2 above 100,000 iterations, so that is the ceiling. bcrypt runs in pure JS
// (bcryptjs): cost 10 takes tens of milliseconds of CPU per check, see README "Setting up auth".
import bcrypt from "bcryptjs";

export const PBKDF2_MAX_ITERATIONS = 100_000;
export const PBKDF2_MIN_ITERATIONS = 1_000;
const PBKDF2 = /^\$pbkdf2-sha256\$i=(\d{1,7})\$([A-Za-z0-9+/]{22,88})\$([A-Za-z0-9+/]{43})$/;
const BCRYPT = /^\$2[aby]\$(\d\d)\$[./A-Za-z0-9]{53}$/;
/** bcrypt only looks at the first 72 bytes of a password; longer ones are cut there, as every bcrypt does. */
const MAX_PASSWORD_BYTES = 1024;

export type PasswordHash =
  | { kind: "pbkdf2-sha256"; iterations: number; salt: Uint8Array; hash: Uint8Array; entry: string }
  | { kind: "bcrypt"; cost: number; entry: string };

/** Parses one stored hash, or returns an error message that does not echo the hash. */
export function parsePasswordHash(entry: string): PasswordHash | string {
  const p = PBKDF2.exec(entry);
  if (p) {
    const iterations = Number(p[1]);
    if (iterations < PBKDF2_MIN_ITERATIONS || iterations > PBKDF2_MAX_ITERATIONS) {
      return `PBKDF2 iterations must be from ${PBKDF2_MIN_ITERATIONS} to ${PBKDF2_MAX_ITERATIONS} (Workers' limit), got ${iterations}`;
    }
    const salt = fromBase64(p[2]);
    if (salt.length < 16) return "PBKDF2 salt must be at least 16 bytes";
    return { kind: "pbkdf2-sha256", iterations, salt, hash: fromBase64(p[3]), entry };
  }
  const b = BCRYPT.exec(entry);
  if (b) {
    const cost = Number(b[1]);
    if (cost < 4 || cost > 14) return `bcrypt cost must be from 4 to 14 (got ${cost}; above 14 one check takes seconds)`;
    return { kind: "bcrypt", cost, entry };
  }
  if (/^\$(apr1|1|5|6)\$|^\{SHA\}/.test(entry)) return "only bcrypt htpasswd entries (htpasswd -B) are supported, not MD5, SHA or crypt";
  return "not a recognised hash: expected $pbkdf2-sha256$i=N$salt$hash (npm run user -- add NAME) or bcrypt $2y$...";
}

/** Checks a password against a stored hash. Comparisons take the same time wherever the bytes differ. */
export async function verifyPassword(stored: PasswordHash, password: string): Promise<boolean> {
  const bytes = new TextEncoder().encode(password);
  if (bytes.length > MAX_PASSWORD_BYTES) return false;
  if (stored.kind === "pbkdf2-sha256") {
    const derived = await pbkdf2(bytes, stored.salt, stored.iterations);
    return constantTimeEqual(derived, stored.hash);
  }
  // Recompute with the entry's own salt and compare ourselves, so the comparison is constant time by construction.
  const recomputed = bcrypt.hashSync(password, stored.entry.slice(0, 29));
  const enc = new TextEncoder();
  // bcryptjs writes $2b$ / $2a$ / $2y$ as given in the salt, so the strings line up byte for byte.
  return constantTimeEqual(enc.encode(recomputed), enc.encode(stored.entry));
}

/**
 * The hash an unknown user name is checked against, so that it costs what a known user's wrong password costs
 * and timing does not tell which names exist: the kind and cost shared by most configured users (on a tie, the
 * most expensive of them), with a random salt and a random hash that no password matches. Built without hashing
 * anything; made once per parsed configuration (per isolate).
 */
export function standInHash(users: Iterable<PasswordHash>): PasswordHash {
  const groups = new Map<string, { sample: PasswordHash; count: number }>();
  for (const h of users) {
    const key = h.kind === "bcrypt" ? `bcrypt/${h.cost}` : `pbkdf2/${h.iterations}`;
    const g = groups.get(key);
    if (g) g.count++;
    else groups.set(key, { sample: h, count: 1 });
  }
  let best: { sample: PasswordHash; count: number } | undefined;
  for (const g of groups.values()) {
    if (!best || g.count > best.count || (g.count === best.count && relativeCost(g.sample) > relativeCost(best.sample))) best = g;
  }
  const pick = best?.sample;
  if (pick?.kind === "bcrypt") {
    const alphabet = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    const chars = Array.from(crypto.getRandomValues(new Uint8Array(53)), (b) => alphabet[b & 63]).join("");
    return { kind: "bcrypt", cost: pick.cost, entry: `$2b$${String(pick.cost).padStart(2, "0")}$${chars}` };
  }
  const iterations = pick?.kind === "pbkdf2-sha256" ? pick.iterations : PBKDF2_MAX_ITERATIONS;
  return { kind: "pbkdf2-sha256", iterations, salt: crypto.getRandomValues(new Uint8Array(16)), hash: crypto.getRandomValues(new Uint8Array(32)), entry: "" };
}

/** Rough CPU cost in PBKDF2 iterations: bcrypt cost 10 weighs about 3.4 times PBKDF2 at 100k, doubling per cost
 *  (the measured figures: README "Setting up auth", from test/auth/bench.mts). */
function relativeCost(h: PasswordHash): number {
  return h.kind === "bcrypt" ? 2 ** h.cost * 340 : h.iterations;
}

export async function pbkdf2(password: Uint8Array, salt: Uint8Array, iterations: number): Promise<Uint8Array> {
  const key = await crypto.subtle.importKey("raw", password, "PBKDF2", false, ["deriveBits"]);
  const bits = await crypto.subtle.deriveBits({ name: "PBKDF2", hash: "SHA-256", salt, iterations }, key, 256);
  return new Uint8Array(bits);
}

/** Makes a PBKDF2 entry (used by tests; `npm run user` does the same in Node). */
export async function hashPasswordPbkdf2(password: string, iterations = PBKDF2_MAX_ITERATIONS): Promise<string> {
  const salt = crypto.getRandomValues(new Uint8Array(16));
  const hash = await pbkdf2(new TextEncoder().encode(password), salt, iterations);
  return `$pbkdf2-sha256$i=${iterations}$${toBase64(salt)}$${toBase64(hash)}`;
}

/** Compares two byte strings in time that depends only on their lengths (which are public: 32 or 60 bytes). */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}

function fromBase64(s: string): Uint8Array {
  const bin = atob(s.padEnd(Math.ceil(s.length / 4) * 4, "="));
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

function toBase64(b: Uint8Array): string {
  let s = "";
  for (const x of b) s += String.fromCharCode(x);
  return btoa(s).replace(/=+$/, "");
}
