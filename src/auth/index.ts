// Picks the authorizer for the configured mode.
import type { Authorizer, Principal } from "./types";
import type { AuthSettings } from "./settings";
import type { KeySource } from "./context";
import { tokenAuthorizer } from "./token-authorizer";

const ANYONE: Principal = { subject: null, can: () => true, readsEverything: true, expiresAt: null };

/** SKIFF_AUTH=open: every request is allowed (local development only; the start script says so). */
export const openAuthorizer: Authorizer = {
  async authorize() {
    return ANYONE;
  },
};

export function createAuthorizer(settings: AuthSettings, keys: KeySource): Authorizer {
  return settings.mode === "open" ? openAuthorizer : tokenAuthorizer(settings, keys);
}
