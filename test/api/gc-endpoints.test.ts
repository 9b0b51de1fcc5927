// The garbage collection runners in open mode (SKIFF_AUTH=open: anyone is admin): the admin endpoints, their
// parameter checks, and the scheduled handler (inside workerd it hands the run to the GC_WORKFLOW Workflow; in Node,
// project api-memory, there is no binding and it steps inline). Access control: test/auth/gc-admin.test.ts.
import { describe, it, expect } from "vitest";
import { env } from "cloudflare:workers";
import worker from "../../src/index";
import { workflowId } from "../../src/gc/runner";
import type { Env as SkiffEnv } from "../../src/config/settings";
import { registry, expectError } from "./helpers";
import { runtimeFor } from "../../src/runtime";
import { keys } from "../../src/registry/paths";

interface Status {
  run: string;
  phase: string;
  done: boolean;
  dryRun: boolean;
  resumeAt?: number;
  step?: { phase: string; subrequests: number; wallMs: number };
}

async function json<T>(res: Response, status = 200): Promise<T> {
  const text = await res.text();
  expect(res.status, text).toBe(status);
  return JSON.parse(text) as T;
}

/** Steps the current run to its end (quarantine 0: no step has to wait). */
async function stepToEnd(status: Status): Promise<Status> {
  for (let n = 0; !status.done; n++) {
    expect(n, "the run ends within 200 steps").toBeLessThan(200);
    status = await json<Status>(await registry("/_skiff/gc/step", { method: "POST" }));
    expect(status.step, "a step reports its cost").toBeDefined();
  }
  return status;
}

describe("garbage collection endpoints (open mode)", () => {
  it("a step with no run in progress is refused with 409", async () => {
    const current = await json<Status | null>(await registry("/_skiff/gc"));
    if (current === null) await expectError(await registry("/_skiff/gc/step", { method: "POST" }), 409, "UNSUPPORTED");
  });

  it("a step while another step holds the run's lease is 409 with an OCI JSON error, and the run goes on after", async () => {
    const first = await json<Status>(await registry("/_skiff/gc?dry-run=1&quarantine=0", { method: "POST" }), 202);
    // Another runner's step in progress: its lease on gc/state (written through the worker's own store).
    const { store } = runtimeFor(env as SkiffEnv).deps;
    const state = await store.get(keys.gcState);
    const doc = JSON.parse(await new Response(state!.body).text());
    await store.put(keys.gcState, JSON.stringify({ ...doc, lease: { owner: "another runner", until: Date.now() + 60_000 } }), { contentType: "application/json" });
    const err = await expectError(await registry("/_skiff/gc/step", { method: "POST" }), 409, "UNSUPPORTED");
    expect(err.message).toContain(first.run);
    await store.put(keys.gcState, JSON.stringify(doc), { contentType: "application/json" });
    await stepToEnd(first);
  });

  it("a dry run starts, steps to the end, and leaves a report marked dry", async () => {
    const started = await registry("/_skiff/gc?dry-run=1&quarantine=0", { method: "POST" });
    expect(started.headers.get("Cache-Control")).toBe("no-store");
    const first = await json<Status>(started, 202);
    expect(first).toMatchObject({ dryRun: true, done: false });
    await expectError(await registry("/_skiff/gc", { method: "POST" }), 409, "UNSUPPORTED");
    const last = await stepToEnd(first);
    expect(last).toMatchObject({ run: first.run, done: true });
    expect(await json<Status>(await registry("/_skiff/gc"))).toMatchObject({ run: first.run, done: true });
    expect((await json<{ runs: string[] }>(await registry("/_skiff/gc/runs"))).runs).toContain(first.run);
    expect(await json(await registry(`/_skiff/gc/runs/${encodeURIComponent(first.run)}`))).toMatchObject({ run: first.run, dryRun: true });
  });

  it("a real run with a grace in seconds", async () => {
    const first = await json<Status>(await registry("/_skiff/gc?grace=86400&quarantine=0&dry-run=0", { method: "POST" }), 202);
    expect(first.dryRun).toBe(false);
    await stepToEnd(first);
    expect(await json(await registry(`/_skiff/gc/runs/${first.run}`))).toMatchObject({ run: first.run, dryRun: false, graceMs: 86_400_000 });
  });

  it.each([
    ["dry-run=yes", /dry-run/],
    ["dryrun=1", /unknown parameter/],
    ["dry_run=1", /unknown parameter/],
    ["grace=-1", /grace/],
    ["grace=1.5", /grace/],
    ["grace=abc", /grace/],
    ["grace=60", /at least 3600 seconds/],
    ["grace=99999999999", /grace/],
    ["quarantine=", /quarantine/],
    ["quarantine=1e3", /quarantine/],
    ["quarantine=2592001", /quarantine/],
    ["quarantine=0&quarantine=1", /more than once/],
  ])("POST /_skiff/gc?%s answers 400 with an OCI JSON error and starts nothing", async (query, message) => {
    const before = await json<Status | null>(await registry("/_skiff/gc"));
    const err = await expectError(await registry(`/_skiff/gc?${query}`, { method: "POST" }), 400, "UNSUPPORTED");
    expect(err.message).toMatch(message);
    expect(await json<Status | null>(await registry("/_skiff/gc"))).toEqual(before);
  });

  it.each(["..", ".hidden", "a%2Fb", "a b", "x".repeat(101), "%00"])("GET /_skiff/gc/runs/%s: an invalid run id is 400", async (run) => {
    const res = await registry(`/_skiff/gc/runs/${run}`);
    // ".." may be resolved away by the URL parser before it reaches the route: then it is the list, never a report.
    if (run === "..") expect([200, 400, 404]).toContain(res.status);
    else await expectError(res, 400, "UNSUPPORTED");
  });

  it("a report of an unknown run is 404", async () => {
    await expectError(await registry("/_skiff/gc/runs/2020-01-01T00:00:00Z-0000"), 404, "UNSUPPORTED");
  });

  it("other methods and paths under /_skiff/gc are OCI errors, not 500s", async () => {
    for (const [method, path] of [["DELETE", "/_skiff/gc"], ["GET", "/_skiff/gc/step"], ["PUT", "/_skiff/gc/runs"], ["GET", "/_skiff/gc/nothing"]]) {
      const res = await registry(path, { method });
      expect(res.status, `${method} ${path}`).toBeGreaterThanOrEqual(400);
      expect(res.status, `${method} ${path}`).toBeLessThan(500);
      expect(((await res.json()) as { errors: unknown[] }).errors.length).toBe(1);
    }
  });

  // Last: with the real engine and the default 24 h quarantine, the cron's run stays in progress.
  it("the scheduled handler starts a run and hands it to the Workflow (inline without the binding)", async () => {
    const before = await json<Status | null>(await registry("/_skiff/gc"));
    const controller = { scheduledTime: Date.now(), cron: "17 3 * * *", noRetry() {} } as ScheduledController;
    await worker.scheduled(controller, env as unknown as SkiffEnv);
    const after = await json<Status>(await registry("/_skiff/gc"));
    expect(after.run).not.toBe(before?.run);
    expect(after.dryRun).toBe(false);
    const binding = (env as { GC_WORKFLOW?: Workflow }).GC_WORKFLOW;
    if (binding) {
      // The instance exists under the run's id, and its status is one a live instance can have.
      const instance = await binding.get(workflowId(after.run));
      expect(["queued", "running", "waiting", "complete"]).toContain((await instance.status()).status);
    } else {
      expect(after.done || after.resumeAt !== undefined, "inline: stepped to its end or to the quarantine").toBe(true);
    }
  });
});
