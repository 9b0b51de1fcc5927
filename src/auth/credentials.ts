// Who is asking the token endpoint: Basic credentials, form credentials, or a refresh token.
import { verifyPassword } from "./passwords";
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

/** The user name when the password is right, else null. */
export async function checkPassword(settings: TokenAuthSettings, user: string, password: string): Promise<string | null> {
  const stored = USER_NAME.test(user) ? settings.users.get(user) : undefined;
  // An unknown user is checked against the stand-in hash, so it costs what a wrong password costs.
  const ok = await verifyPassword(stored ?? settings.standIn, password);
  return ok && stored ? user : null;
}
