// Who is asking the token endpoint: Basic credentials, form credentials, or a refresh token.
import { PBKDF2_MAX_ITERATIONS, verifyPassword, type PasswordHash } from "./passwords";
import type { TokenAuthSettings } from "./settings";
import { USER_NAME } from "./rules";

const MAX_BASIC_HEADER = 4096;

/** Parses `Basic base64(user:password)`; null when the header is missing, too long, or garbled. */
export function parseBasic(header: string | null): { user: string; password: string } | null {
  if (header === null || header.length > MAX_BASIC_HEADER) return null;
  const m = /^Basic +([A-Za-z0-9+/]+={0,2}) *$/i.exec(header);
  if (!m) return null;
  let text: string;
  try {
    const bin = atob(m[1]);
    const bytes = Uint8Array.from(bin, (ch) => ch.charCodeAt(0));
    text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch {
    return null;
  }
  const colon = text.indexOf(":");
  if (colon <= 0) return null;
  return { user: text.slice(0, colon), password: text.slice(colon + 1) };
}

// An unknown user costs as much as a wrong password (a full PBKDF2), so timing does not tell which names exist.
const NOBODY: PasswordHash = { kind: "pbkdf2-sha256", iterations: PBKDF2_MAX_ITERATIONS, salt: new Uint8Array(16), hash: new Uint8Array(32), entry: "" };

/** The user name when the password is right, else null. */
export async function checkPassword(settings: TokenAuthSettings, user: string, password: string): Promise<string | null> {
  const stored = USER_NAME.test(user) ? settings.users.get(user) : undefined;
  const ok = await verifyPassword(stored ?? NOBODY, password);
  return ok && stored ? user : null;
}
