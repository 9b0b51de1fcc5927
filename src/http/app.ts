// The HTTP layer's route table and middleware: requests in, registry operations called, responses out.
import { Hono } from "hono";
import type { Env } from "../config/settings";
import type { Runtime } from "../runtime";
import { RegistryError } from "../protocol/errors";
import { API_VERSION_HEADER, toErrorResponse } from "./responses";
import type { AppEnv } from "./context";
import { baseRoutes } from "./routes/base";
import { tokenRoutes } from "./routes/token";
import { listingRoutes } from "./routes/listings";
import { manifestRoutes } from "./routes/manifests";
import { uploadRoutes } from "./routes/uploads";
import { blobRoutes } from "./routes/blobs";
import { gcRoutes } from "./routes/gc";
import { healthRoutes } from "./routes/health";
import { observeRequests } from "./observe";

/** The Worker's app; `runtimeOf` gives each request what it runs on (config, store, authorizer). */
export function createApp(runtimeOf: (env: Env) => Runtime): Hono<AppEnv> {
  const app = new Hono<AppEnv>();

  app.onError((err, c) => {
    // A request refused before its body was read: cancel the body rather than leave it to the runtime, so that
    // the client's upload stops at once.
    const unread = c.req.raw.body;
    if (unread && !unread.locked) unread.cancel().catch(() => {});
    return toErrorResponse(err);
  });
  app.notFound((c) => {
    if (c.var.note) c.var.note.code = "UNSUPPORTED";
    return toErrorResponse(new RegistryError("UNSUPPORTED", "no such endpoint", undefined, { status: 404 }));
  });

  // First: every request gets its log line, including those the health route answers before the runtime exists.
  app.use("*", observeRequests);
  app.route("/", healthRoutes(runtimeOf));
  app.use("*", async (c, next) => {
    c.set("runtime", runtimeOf(c.env));
    await next();
    for (const [k, v] of Object.entries(API_VERSION_HEADER)) c.res.headers.set(k, v);
  });

  app.route("/", baseRoutes);
  app.route("/", tokenRoutes);
  app.route("/", listingRoutes);
  app.route("/", manifestRoutes);
  app.route("/", uploadRoutes);
  app.route("/", blobRoutes);
  app.route("/", gcRoutes);
  return app;
}
