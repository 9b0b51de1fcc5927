// GET/HEAD /_skiff/health: unauthenticated liveness for load balancers and uptime checks, and Skiff's version.
// It says only "ok" or "unavailable": never the backend, bucket, endpoint or an error's text. It costs at most one
// storage request per isolate every few seconds, whatever the request rate (the answer is shared meanwhile).
import { Hono } from "hono";
import type { Env } from "../../config/settings";
import type { Runtime } from "../../runtime";
import { storageAnswers } from "../../registry/health";
import { SKIFF_VERSION } from "../../version";
import type { AppEnv } from "../context";

export const HEALTH_PATH = "/_skiff/health";
/** How long one probe's answer is reused. */
export const HEALTH_CACHE_MS = 5_000;
const PROBE_TIMEOUT_MS = 5_000;

const probes = new WeakMap<Runtime, { until: number; ok: Promise<boolean> }>();

function storageOk(runtime: Runtime): Promise<boolean> {
  const now = Date.now();
  const last = probes.get(runtime);
  if (last && now < last.until) return last.ok;
  // The promise is shared: concurrent checks wait for one probe. Its lifetime counts from when it settles.
  const entry = { until: Number.POSITIVE_INFINITY, ok: storageAnswers(runtime.deps.store, PROBE_TIMEOUT_MS) };
  entry.ok.then(() => (entry.until = Date.now() + HEALTH_CACHE_MS));
  probes.set(runtime, entry);
  return entry.ok;
}

/** Registered before the app's runtime middleware: a bad configuration is a 503 here, not an OCI error. */
export function healthRoutes(runtimeOf: (env: Env) => Runtime) {
  const routes = new Hono<AppEnv>();
  routes.get(HEALTH_PATH, async (c) => {
    let ok = false;
    try {
      const runtime = runtimeOf(c.env);
      c.set("runtime", runtime);
      ok = await storageOk(runtime);
    } catch {
      // A configuration error: runtimeFor has logged its problems once.
    }
    const body = { status: ok ? "ok" : "unavailable", version: SKIFF_VERSION };
    return c.json(body, ok ? 200 : 503, { "Cache-Control": "no-store" });
  });
  return routes;
}
