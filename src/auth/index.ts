// Picks the authorizer for the configured mode.
import type { Config } from "../config";
import type { Authorizer, Principal } from "./types";
import type { AuthSettings } from "./settings";
import { tokenAuthorizer } from "./token-authorizer";

const ANYONE: Principal = { subject: null, can: () => true, readsEverything: true };

/** SKIFF_AUTH=open: every request is allowed (local development only; the start script says so). */
export const openAuthorizer: Authorizer = {
  async authorize() {
    return ANYONE;
  },
};

const authorizers = new WeakMap<AuthSettings, Authorizer>();

/** The authorizer for this config, made once per isolate; a locked deployment says why once in the log. */
export function authorizerFor(config: Config): Authorizer {
  const settings = config.auth;
  if (settings.mode === "open") return openAuthorizer;
  let a = authorizers.get(settings);
  if (!a) {
    if (settings.locked) console.warn(`Skiff: ${settings.locked}`);
    a = tokenAuthorizer(settings);
    authorizers.set(settings, a);
  }
  return a;
}
