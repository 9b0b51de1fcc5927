// What auth derives from a request: the service name (token audience), the realm (token endpoint) and the keys.
import { RegistryError } from "../protocol/errors";
import { importKeys, type ImportedKeys } from "./keys";
import type { TokenAuthSettings } from "./settings";
import type { TokenContext } from "./tokens";
import { formatScope } from "./rules";
import type { Scope } from "./types";

/** AUTH_SERVICE, or the host the client sent the request to (what it will present as `service`). */
export function serviceFor(settings: TokenAuthSettings, req: Request): string {
  return settings.service ?? new URL(req.url).host;
}

export function realmFor(settings: TokenAuthSettings, req: Request): string {
  return settings.realm ?? `${new URL(req.url).origin}/token`;
}

export function tokenContext(settings: TokenAuthSettings, req: Request): TokenContext {
  return { issuer: settings.issuer, service: serviceFor(settings, req) };
}

export async function keysFor(settings: TokenAuthSettings): Promise<ImportedKeys> {
  if (!settings.keys) throw new RegistryError("UNAVAILABLE", "token auth has no signing key (AUTH_SIGNING_KEY)");
  try {
    return await importKeys(settings.keys);
  } catch (e) {
    // jose's messages name the problem (curve, length), never the key material.
    console.error(`Skiff: the token keys could not be imported: ${(e as Error).message}`);
    throw new RegistryError("UNAVAILABLE", "the token keys (AUTH_SIGNING_KEY / AUTH_VERIFY_KEYS) could not be loaded; see the Worker's log");
  }
}

export type ChallengeError = "invalid_token" | "insufficient_scope";

/**
 * 401 UNAUTHORIZED with the Bearer challenge that sends clients to the token endpoint for `needed`.
 * Every value in it is validated (names by the repository grammar, service and realm by the config), so the
 * quoted strings cannot hold quotes.
 */
export function challenge(settings: TokenAuthSettings, req: Request, needed: Scope[], message: string, error?: ChallengeError): RegistryError {
  let value = `Bearer realm="${realmFor(settings, req)}",service="${serviceFor(settings, req)}"`;
  if (needed.length) value += `,scope="${needed.map(formatScope).join(" ")}"`;
  if (error) value += `,error="${error}"`;
  const detail = needed.length ? needed.map((s) => ({ type: s.type, name: s.name, actions: s.actions })) : undefined;
  return new RegistryError("UNAUTHORIZED", message, detail, { headers: { "WWW-Authenticate": value } });
}
