// STAND-IN for the garbage collector's engine (helper B writes the real one; at merge B's file replaces this one).
// It has the engine's public signatures and nothing else: a run is done after one step that collects nothing, and
// its report (gc/runs/<run>/report.json) counts nothing. The runners (src/http/routes/gc.ts, src/gc/workflow.ts,
// scripts/gc.ts, bench/gc.ts) are written against the signatures, never against this behaviour.
import { keys } from "../registry/paths";
import type { GcDeps, GcStartOptions, GcStatus } from "./types";

export type { GcDeps, GcStartOptions, GcStatus } from "./types";

/** A run holds the lease (or is in progress): a second one may not start. */
export class GcBusyError extends Error {
  constructor(readonly run: string) {
    super(`garbage collection run ${run} is in progress`);
    this.name = "GcBusyError";
  }
}

interface StandInState {
  run: string;
  done: boolean;
  dryRun: boolean;
  trigger: GcStartOptions["trigger"];
  startedAt: number;
  graceMs: number;
  quarantineMs: number;
}

const now = (deps: GcDeps) => (deps.now ?? Date.now)();

async function readJson<T>(deps: GcDeps, key: string): Promise<T | null> {
  const obj = await deps.store.get(key);
  if (!obj) return null;
  return JSON.parse(await new Response(obj.body).text()) as T;
}

function statusOf(s: StandInState): GcStatus {
  return { run: s.run, phase: s.done ? "done" : "mark1", done: s.done, dryRun: s.dryRun };
}

export async function startRun(deps: GcDeps, opts: GcStartOptions): Promise<GcStatus> {
  const current = await readJson<StandInState>(deps, keys.gcState);
  if (current && !current.done) throw new GcBusyError(current.run);
  const t = now(deps);
  const hex = [...crypto.getRandomValues(new Uint8Array(2))].map((b) => b.toString(16).padStart(2, "0")).join("");
  const state: StandInState = {
    run: `${new Date(t).toISOString().slice(0, 19)}Z-${hex}`,
    done: false,
    dryRun: opts.dryRun,
    trigger: opts.trigger,
    startedAt: t,
    graceMs: opts.graceMs ?? deps.gc.graceMs,
    quarantineMs: opts.quarantineMs ?? deps.gc.quarantineMs,
  };
  await deps.store.put(keys.gcState, JSON.stringify(state), { contentType: "application/json" });
  return statusOf(state);
}

export async function runStep(deps: GcDeps): Promise<GcStatus> {
  const t0 = now(deps);
  const state = await readJson<StandInState>(deps, keys.gcState);
  if (!state) throw new Error("no garbage collection run");
  if (state.done) return statusOf(state);
  const done: StandInState = { ...state, done: true };
  const report = {
    run: state.run,
    dryRun: state.dryRun,
    trigger: state.trigger,
    startedAt: new Date(state.startedAt).toISOString(),
    finishedAt: new Date(now(deps)).toISOString(),
    quarantineMs: state.quarantineMs,
    graceMs: state.graceMs,
    steps: [{ phase: "mark1", n: 1, subrequests: 3, wallMs: now(deps) - t0 }],
    standIn: true,
    errors: [],
  };
  await deps.store.put(keys.gcReport(state.run), JSON.stringify(report), { contentType: "application/json" });
  await deps.store.put(keys.gcState, JSON.stringify(done), { contentType: "application/json" });
  return { ...statusOf(done), step: { phase: "mark1", n: 1, subrequests: 3, wallMs: now(deps) - t0 } };
}

export async function currentRun(deps: GcDeps): Promise<GcStatus | null> {
  const state = await readJson<StandInState>(deps, keys.gcState);
  return state ? statusOf(state) : null;
}

export async function readReport(deps: GcDeps, run: string): Promise<unknown | null> {
  return readJson<unknown>(deps, keys.gcReport(run));
}

export async function listRuns(deps: GcDeps): Promise<string[]> {
  const runs: string[] = [];
  for (let cursor: string | undefined; ; ) {
    const page = await deps.store.list({ prefix: keys.gcRunsPrefix, cursor });
    for (const o of page.objects) if (o.key.endsWith("/report.json")) runs.push(o.key.slice(keys.gcRunsPrefix.length, -"/report.json".length));
    if (!page.cursor) return runs;
    cursor = page.cursor;
  }
}
