// What every route sees: the runtime, and after the access check the caller and the repository name.
import { createMiddleware } from "hono/factory";
import type { Env } from "../config/settings";
import type { Runtime } from "../runtime";
import type { Action, Principal, Scope } from "../auth/types";
import { requireName } from "../protocol/names";

/** What a route adds to its request's log line (src/http/observe.ts) that the request and answer do not show. */
export interface RequestNote {
  /** The user the token endpoint checked (routes behind auth have `principal`). */
  user?: string;
  /** Request body bytes received, when the request had no Content-Length (docker's PATCH). */
  bytesIn?: number;
  /** The OCI code of an error answered without throwing (not found). */
  code?: string;
}

export type AppEnv = { Bindings: Env; Variables: { runtime: Runtime; principal: Principal; name: string; note: RequestNote } };

/** Authenticates the caller and checks that they hold every scope in `scopes` (none: any caller /v2/ admits). */
export function requireScopes(...scopes: Scope[]) {
  return createMiddleware<AppEnv>(async (c, next) => {
    c.set("principal", await c.var.runtime.authorizer.authorize(c.req.raw, scopes));
    await next();
  });
}

/** Validates :name and checks that the caller holds `actions` on that repository. */
export function requireRepository(...actions: Action[]) {
  return createMiddleware<AppEnv>(async (c, next) => {
    const name = requireName(c.req.param("name") ?? "");
    c.set("name", name);
    c.set("principal", await c.var.runtime.authorizer.authorize(c.req.raw, [{ type: "repository", name, actions }]));
    await next();
  });
}
