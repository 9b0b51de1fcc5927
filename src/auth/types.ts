// What the HTTP layer asks of auth: who is calling, and may they do this.
export type Action = "pull" | "push" | "delete";

/** A resource and the actions wanted on it (the Docker token spec's scope). */
export type Scope =
  | { type: "repository"; name: string; actions: Action[] }
  | { type: "registry"; name: "catalog"; actions: ["*"] };

export interface Principal {
  /** Token subject (user name), or null for an anonymous caller. */
  subject: string | null;
  /** Whether the caller holds `action` on repository `name` (used beyond the route's own scope, e.g. mount). */
  can(name: string, action: Action): boolean;
  /** Whether the caller may read every repository (admin, or an open registry). */
  readsEverything: boolean;
  /** When the caller's credentials expire (ms since the epoch), or null when they never do (SKIFF_AUTH=open). */
  expiresAt: number | null;
}

export interface Authorizer {
  /**
   * Authenticates the request and checks that it holds every scope in `needed` (empty: only /v2/ itself).
   * Throws RegistryError UNAUTHORIZED (401, with a WWW-Authenticate challenge) or DENIED (403).
   */
  authorize(req: Request, needed: Scope[]): Promise<Principal>;
}
