// The registry side of token auth: every /v2/ request shows a bearer token that is checked here.
import { RegistryError } from "../protocol/errors";
import type { Authorizer, Principal, Scope } from "./types";
import type { TokenAuthSettings } from "./settings";
import { challenge, tokenContext, type KeySource } from "./context";
import { grant, isAdmin, formatScope } from "./rules";
import { MAX_TOKEN_LENGTH, TokenError, covers, verifyAccessToken } from "./tokens";

const BEARER = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i;

export function tokenAuthorizer(settings: TokenAuthSettings, keys: KeySource): Authorizer {
  return {
    async authorize(req, needed) {
      if (settings.locked) throw challenge(settings, needed, `this registry denies every request: ${settings.locked}`);
      const header = req.headers.get("authorization");
      if (header === null) throw challenge(settings, needed, "authentication required");
      if (header.length > MAX_TOKEN_LENGTH + 16) throw challenge(settings, needed, "Authorization header too long", "invalid_token");
      const m = BEARER.exec(header);
      // Basic credentials are only taken by the token endpoint: checking a password on every request would cost
      // tens of milliseconds of CPU each time.
      if (!m) throw challenge(settings, needed, "a Bearer token from the token endpoint is required", header.toLowerCase().startsWith("bearer") ? "invalid_token" : undefined);

      let claims;
      try {
        claims = await verifyAccessToken(await keys(), tokenContext(settings), m[1]);
      } catch (e) {
        if (e instanceof TokenError) throw challenge(settings, needed, e.message, "invalid_token");
        throw e;
      }
      const subject = claims.sub === "" ? null : claims.sub;
      // A removed user's tokens stop working at once, not when they expire.
      if (subject !== null && !settings.users.has(subject)) throw challenge(settings, needed, "the token's user no longer exists", "invalid_token");

      // What the token grants, cut to what the rules allow now (rules may have changed since it was issued).
      const effective = claims.access.flatMap((s) => grant(settings.rules, subject, s) ?? []);
      for (const scope of needed) {
        if (covers(effective, scope)) continue;
        const allowed = grant(settings.rules, subject, scope);
        // The caller may have this but the token does not say so (it was asked for less): ask for a new token.
        // Anonymous callers are told to authenticate. Only a signed-in user who lacks the right is denied.
        if (subject === null || (allowed && covers([allowed], scope))) {
          throw challenge(settings, [scope], `the token does not grant ${formatScope(scope)}`, "insufficient_scope");
        }
        throw deny(subject, scope);
      }
      const principal: Principal = {
        subject,
        can: (name, action) => covers(effective, { type: "repository", name, actions: [action] }),
        readsEverything: isAdmin(settings.rules, subject),
        expiresAt: claims.exp * 1000,
      };
      return principal;
    },
  };
}

/** A 403 for an authenticated caller: it keeps who was refused, for the request log (src/http/observe.ts). */
export class AccessDenied extends RegistryError {
  constructor(readonly subject: string, message: string, detail: unknown) {
    super("DENIED", message, detail);
  }
}

function deny(subject: string, scope: Scope): RegistryError {
  const what = scope.type === "registry" ? "list the catalog" : `${scope.actions.join("+")} ${scope.name}`;
  return new AccessDenied(subject, `requested access to the resource is denied: user ${subject} may not ${what}`, {
    type: scope.type,
    name: scope.name,
    actions: scope.actions,
  });
}
