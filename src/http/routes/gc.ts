// Garbage collection on demand, for admins (docs/gc.md §8): start a run, run it one bounded step per request, read
// the current run, list the runs and read a run's report. `npm run gc` (scripts/gc.ts) drives these.
//   POST /_skiff/gc?dry-run=1&grace=S&quarantine=S   start (409 while a run is in progress)
//   POST /_skiff/gc/step                             one step of the current run: its status
//   GET  /_skiff/gc                                  the current (or last) run's status, or null
//   GET  /_skiff/gc/runs                             {"runs": [...]}
//   GET  /_skiff/gc/runs/<run>                       the run's report
// Admin = a token whose access includes registry:catalog:*, which the access rules grant to admins only.
import { Hono } from "hono";
import { createMiddleware } from "hono/factory";
import { RegistryError } from "../../protocol/errors";
import type { Scope } from "../../auth/types";
import { GcBusyError, GcRefusedError, currentRun, listRuns, readReport, runStep, startRun } from "../../gc";
import { parseStartOptions, requireRunId } from "../../gc/run-options";
import type { AppEnv } from "../context";
import { logEvent } from "../../observability/log";
import { AccessDenied } from "../../auth/token-authorizer";

export const ADMIN_SCOPE: Scope = { type: "registry", name: "catalog", actions: ["*"] };

let warnedOpen = false;

/** The caller must be an admin; with SKIFF_AUTH=open anyone is (local development), which is logged once. */
const requireAdmin = createMiddleware<AppEnv>(async (c, next) => {
  try {
    c.set("principal", await c.var.runtime.authorizer.authorize(c.req.raw, [ADMIN_SCOPE]));
  } catch (e) {
    // The authorizer's refusal talks about listing the catalog; say what was actually refused.
    if (e instanceof AccessDenied) throw new AccessDenied(e.subject, "garbage collection is for admins only", e.detail);
    if (e instanceof RegistryError && e.code === "DENIED") throw new RegistryError("DENIED", "garbage collection is for admins only", e.detail);
    throw e;
  }
  if (c.var.runtime.config.auth.mode === "open" && !warnedOpen) {
    warnedOpen = true;
    logEvent("warn", "Skiff: SKIFF_AUTH=open: anyone can start garbage collection (/_skiff/gc). For local development only.");
  }
  await next();
  c.header("Cache-Control", "no-store");
});

/** The engine's refusals as OCI errors with their status (409 busy, 400/404/501 refused); anything else as is. */
function gcError(e: unknown): unknown {
  if (e instanceof GcBusyError) {
    const run = e.run ?? "another";
    return new RegistryError("UNSUPPORTED", `garbage collection run ${run} is in progress or being stepped; step it (POST /_skiff/gc/step) or wait`, { run: e.run }, { status: 409 });
  }
  if (e instanceof GcRefusedError) return new RegistryError("UNSUPPORTED", e.message, undefined, { status: e.status });
  return e;
}

export const gcRoutes = new Hono<AppEnv>();

gcRoutes.use("/_skiff/gc", requireAdmin);
gcRoutes.use("/_skiff/gc/*", requireAdmin);

gcRoutes.post("/_skiff/gc", async (c) => {
  const deps = c.var.runtime.gcDeps();
  const opts = parseStartOptions(new URL(c.req.url).searchParams, deps.gc);
  try {
    return c.json(await startRun(deps, opts), 202);
  } catch (e) {
    throw gcError(e);
  }
});

gcRoutes.get("/_skiff/gc", async (c) => c.json(await currentRun(c.var.runtime.gcDeps())));

gcRoutes.post("/_skiff/gc/step", async (c) => {
  const deps = c.var.runtime.gcDeps();
  if (!(await currentRun(deps))) {
    throw new RegistryError("UNSUPPORTED", "no garbage collection run to step; start one with POST /_skiff/gc", undefined, { status: 409 });
  }
  try {
    return c.json(await runStep(deps));
  } catch (e) {
    throw gcError(e);
  }
});

gcRoutes.get("/_skiff/gc/runs", async (c) => c.json({ runs: await listRuns(c.var.runtime.gcDeps()) }));

gcRoutes.get("/_skiff/gc/runs/:run", async (c) => {
  const run = requireRunId(c.req.param("run"));
  const report = await readReport(c.var.runtime.gcDeps(), run);
  if (report === null) throw new RegistryError("UNSUPPORTED", `no report for run ${run} (unknown, or not finished)`, { run }, { status: 404 });
  return c.json(report);
});
