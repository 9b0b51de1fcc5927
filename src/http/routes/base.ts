// GET /v2/: the API version check, which is also where clients learn how to authenticate.
import { Hono } from "hono";
import type { AppEnv } from "../context";
import { requireScopes } from "../context";

export const baseRoutes = new Hono<AppEnv>();

baseRoutes.get("/v2/", requireScopes(), (c) => c.json({}));
baseRoutes.get("/v2", (c) => c.redirect("/v2/", 301));
