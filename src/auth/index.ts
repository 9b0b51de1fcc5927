// Picks the authorizer for the configured mode.
import type { Config } from "../config";
import { RegistryError } from "../protocol/errors";
import type { Authorizer, Principal } from "./types";

const ANYONE: Principal = { subject: null, can: () => true, readsEverything: true };

/** SKIFF_AUTH=open: every request is allowed (local development only; the start script says so). */
export const openAuthorizer: Authorizer = {
  async authorize() {
    return ANYONE;
  },
};

/** Token auth with no users configured: deny by default, and say why. */
export const lockedAuthorizer: Authorizer = {
  async authorize() {
    throw new RegistryError(
      "UNAUTHORIZED",
      "this registry has no users configured, so it denies every request; see README 'Setting up auth'",
    );
  },
};

export function authorizerFor(config: Config): Authorizer {
  return config.auth.mode === "open" ? openAuthorizer : lockedAuthorizer;
}
