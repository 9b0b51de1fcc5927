// What auth puts in challenges and tokens: the service name (token audience), the realm (token endpoint) and the
// keys. Service and realm come from the configuration (AUTH_SERVICE, AUTH_REALM), never from the request: a forged
// Host header must not choose where clients send their passwords.
import { RegistryError } from "../protocol/errors";
import { importKeys, type ImportedKeys, type KeyConfig } from "./keys";
import type { TokenAuthSettings } from "./settings";
import type { TokenContext } from "./tokens";
import { formatScope } from "./rules";
import { logEvent } from "../observability/log";
import type { Scope } from "./types";

export function tokenContext(settings: TokenAuthSettings): TokenContext {
  return { issuer: settings.issuer, service: settings.service };
}

/** The token keys as CryptoKeys, imported on first use. */
export type KeySource = () => Promise<ImportedKeys>;

/** Imports the keys once and keeps them; a failed import is logged and tried again by the next call. */
export function keySource(config: KeyConfig | null): KeySource {
  let imported: Promise<ImportedKeys> | null = null;
  return async () => {
    if (!config) throw new RegistryError("UNAVAILABLE", "token auth has no signing key (AUTH_SIGNING_KEY)");
    const p = (imported ??= importKeys(config));
    try {
      return await p;
    } catch (e) {
      if (imported === p) imported = null;
      // jose's messages name the problem (curve, length), never the key material.
      logEvent("error", "Skiff: the token keys could not be imported", { error: (e as Error).message });
      throw new RegistryError("UNAVAILABLE", "the token keys (AUTH_SIGNING_KEY / AUTH_VERIFY_KEYS) could not be loaded; see the Worker's log");
    }
  };
}

export type ChallengeError = "invalid_token" | "insufficient_scope";

/**
 * 401 UNAUTHORIZED with the Bearer challenge that sends clients to the token endpoint for `needed`.
 * Every value in it is validated (names by the repository grammar, service and realm by the config), so the
 * quoted strings cannot hold quotes.
 */
export function challenge(settings: TokenAuthSettings, needed: Scope[], message: string, error?: ChallengeError): RegistryError {
  let value = `Bearer realm="${settings.realm}",service="${settings.service}"`;
  if (needed.length) value += `,scope="${needed.map(formatScope).join(" ")}"`;
  if (error) value += `,error="${error}"`;
  const detail = needed.length ? needed.map((s) => ({ type: s.type, name: s.name, actions: s.actions })) : undefined;
  return new RegistryError("UNAUTHORIZED", message, detail, { headers: { "WWW-Authenticate": value } });
}
