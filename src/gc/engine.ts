// The GC engine: a run is a sequence of phases, each split into bounded steps (docs/gc.md §4, §8). Every step reads
// `gc/state`, takes its lease by compare-and-swap, does at most one budget of work from the saved cursor and saves
// the next cursor and the counters by compare-and-swap on the lease's version. A step that loses that swap stops
// without writing: another runner took over, and redoing a step is safe (every action is a CAS or an idempotent
// delete). Runners (cron + Workflow, admin endpoint, `npm run gc`) only call startRun and runStep.
import { keys } from "../registry/paths";
import { CountingStore } from "./counting-store";
import { StepContext, type GcStateDoc, type PhaseResult } from "./context";
import { markStep } from "./mark";
import { tombstoneStep, resolveStep } from "./sweep";
import { uploadsStep } from "./uploads";
import { orphansStep } from "./orphans";
import { linksStep } from "./links";
import { retentionStep } from "./retention";
import type { GcBudget, GcDeps, GcPhase, GcReport, GcStartOptions, GcStatus, GcStepCost } from "./types";
import type { ObjectStore } from "../storage/types";

/** One step's budget (docs/gc.md §8): far below a Worker's 10,000 subrequests and 30 s of CPU. */
export const GC_BUDGET: GcBudget = { calls: 1000, listPage: 1000, manifestGets: 50 };
/** How long a step's lease holds: a runner that crashed mid-step blocks others this long at most. */
export const GC_LEASE_MS = 120_000;
/** The report keeps this many step costs (a run has some 10–20 steps at the scale). */
export const GC_REPORT_STEPS = 1000;

const PHASES: GcPhase[] = ["retention", "mark1", "tombstone", "quarantine", "mark2", "resolve", "uploads", "orphans", "links", "done"];
/** A dry run marks once and resolves nothing: there is nothing to quarantine. */
const DRY_PHASES: GcPhase[] = ["retention", "mark1", "tombstone", "uploads", "orphans", "links", "done"];
const RUN_ID = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ-[0-9a-f]{4,16}$/;

/** A start or step refused because another run or step holds the lease (runners answer 409). */
export class GcBusyError extends Error {
  readonly status = 409;
  constructor(
    message: string,
    /** The run in progress, when known. */
    readonly run?: string,
  ) {
    super(message);
    this.name = "GcBusyError";
  }
}

/** A step whose final compare-and-swap on `gc/state` failed: another runner took the run over. */
export class GcLeaseLostError extends GcBusyError {
  constructor(run: string) {
    super(`gc run ${run}: the step lost its lease on gc/state to another runner; it saved nothing`, run);
    this.name = "GcLeaseLostError";
  }
}

/** A start refused for its options (400), a step with no run (404), or a backend without atomic conditional writes (501). */
export class GcRefusedError extends Error {
  constructor(
    message: string,
    readonly status: 400 | 404 | 501,
  ) {
    super(message);
    this.name = "GcRefusedError";
  }
}

const clock = (deps: GcDeps) => deps.now?.() ?? Date.now();

async function readState(store: ObjectStore): Promise<{ state: GcStateDoc; etag: string } | null> {
  const obj = await store.get(keys.gcState);
  if (!obj) return null;
  const state = JSON.parse(await new Response(obj.body).text()) as GcStateDoc;
  if (state?.v !== 1 || typeof state.run !== "string") throw new Error("gc/state is not a gc state this version reads");
  return { state, etag: obj.etag };
}

function writeState(store: ObjectStore, state: GcStateDoc, cond: { ifMatch: string } | { ifNoneMatch: "*" }) {
  return store.put(keys.gcState, JSON.stringify(state), { contentType: "application/json", ...cond });
}

function statusOf(state: GcStateDoc, step?: GcStepCost): GcStatus {
  const status: GcStatus = { run: state.run, phase: state.phase, done: state.phase === "done", dryRun: state.options.dryRun };
  if (state.phase === "quarantine" && state.tombsDoneAt !== undefined) status.resumeAt = state.tombsDoneAt + state.options.quarantineMs;
  if (step) status.step = step;
  if (state.failed) status.failed = true;
  return status;
}

/**
 * The backend must do conditional writes atomically (docs/gc.md §6): a put with `ifMatch` on the current etag
 * succeeds, a second one on the same (now stale) etag fails, and `ifNoneMatch: "*"` on an existing key fails.
 */
export async function probeConditionalWrites(store: ObjectStore): Promise<boolean> {
  const key = "gc/probe";
  const first = await store.put(key, "1");
  if (!first) return false;
  try {
    const second = await store.put(key, "2", { ifMatch: first.etag });
    const stale = await store.put(key, "3", { ifMatch: first.etag });
    const create = await store.put(key, "4", { ifNoneMatch: "*" });
    return second !== null && stale === null && create === null;
  } finally {
    await store.delete(key);
  }
}

function emptyReport(run: string, now: number, opts: GcStateDoc["options"]): GcReport {
  return {
    run,
    dryRun: opts.dryRun,
    trigger: opts.trigger,
    startedAt: new Date(now).toISOString(),
    quarantineMs: opts.quarantineMs,
    graceMs: opts.graceMs,
    steps: [],
    stepsOmitted: 0,
    marked: { repositories: 0, manifests: 0, tagsAsRoots: 0, blobs: 0 },
    tombstoned: 0,
    revived: 0,
    skippedYoung: 0,
    skippedRaced: 0,
    deleted: {
      blobs: 0,
      bytesFreed: 0,
      sample: [],
      orphanData: { objects: 0, bytes: 0 },
      links: 0,
      referrers: 0,
      catalog: 0,
      sessions: 0,
      tails: 0,
      multipartAborted: 0,
    },
    retention: { manifests: [], tags: [] },
    errors: [],
  };
}

/**
 * A run in progress is stale when nothing stepped it for this long after it could have gone on (its last step, or
 * the end of its quarantine): its runner is gone, and a new start may replace it.
 */
export const GC_STALE_MS = 6 * 3600 * 1000;

function isStale(state: GcStateDoc, now: number): boolean {
  const couldGoOn = Math.max(state.lastStepAt ?? state.startedAt, state.phase === "quarantine" ? (state.tombsDoneAt ?? 0) + state.options.quarantineMs : 0);
  return now > couldGoOn + GC_STALE_MS && !(state.lease && state.lease.until > now);
}

/**
 * Starts a run. Refused while another run is in progress (a daily cron must not cut a run's quarantine short), for
 * a grace below settings.minGraceMs, and on a backend whose conditional writes fail the probe. A stale run
 * (GC_STALE_MS) is replaced: the new run's tombstone phase takes over the tombstones the old one left (docs/gc.md §8).
 */
export async function startRun(deps: GcDeps, opts: GcStartOptions): Promise<GcStatus> {
  const now = clock(deps);
  const graceMs = opts.graceMs ?? deps.gc.graceMs;
  const quarantineMs = opts.quarantineMs ?? deps.gc.quarantineMs;
  if (!Number.isSafeInteger(graceMs) || graceMs < deps.gc.minGraceMs) {
    throw new GcRefusedError(`grace ${graceMs} ms is below the smallest allowed (${deps.gc.minGraceMs} ms, GC_MIN_GRACE_HOURS)`, 400);
  }
  if (!Number.isSafeInteger(quarantineMs) || quarantineMs < 0) throw new GcRefusedError(`quarantine ${quarantineMs} ms is not a duration`, 400);
  const existing = await readState(deps.store);
  if (existing && existing.state.phase !== "done" && !isStale(existing.state, now)) {
    throw new GcBusyError(`gc run ${existing.state.run} is in progress (phase ${existing.state.phase})`, existing.state.run);
  }
  if (!(await probeConditionalWrites(deps.store))) {
    throw new GcRefusedError("this storage does not do conditional writes atomically (If-Match / If-None-Match): garbage collection would not be safe on it", 501);
  }
  const run = `${new Date(now).toISOString().replace(/\.\d{3}Z$/, "Z")}-${crypto.randomUUID().slice(0, 4)}`;
  const options = { dryRun: opts.dryRun, trigger: opts.trigger, graceMs, quarantineMs };
  const state: GcStateDoc = { v: 1, run, phase: "retention", step: 0, lease: null, startedAt: now, options, report: emptyReport(run, now, options) };
  const saved = await writeState(deps.store, state, existing ? { ifMatch: existing.etag } : { ifNoneMatch: "*" });
  if (!saved) throw new GcBusyError("another gc run was started at the same time");
  return statusOf(state);
}

async function runPhase(ctx: StepContext): Promise<PhaseResult> {
  const { state } = ctx;
  switch (state.phase) {
    case "retention": {
      const r = await retentionStep(ctx.countedDeps, state.cursor, { dryRun: ctx.dryRun, now: ctx.now });
      const kept = ctx.report.retention;
      for (const m of r.manifests) if (kept.manifests.length < 1000) kept.manifests.push(m);
      for (const t of r.tags) if (kept.tags.length < 1000) kept.tags.push(t);
      return { done: r.done, cursor: r.cursor };
    }
    case "mark1":
      return markStep(ctx, "m1");
    case "tombstone":
      return tombstoneStep(ctx);
    case "quarantine":
      return { done: true }; // runStep checked that it is over
    case "mark2":
      return markStep(ctx, "m2");
    case "resolve":
      return resolveStep(ctx);
    case "uploads":
      return uploadsStep(ctx);
    case "orphans":
      return orphansStep(ctx);
    case "links":
      return linksStep(ctx);
    case "done":
      return { done: true };
  }
}

/** Moves the state past a step's result: the cursor, the pass, or the next phase. */
function advance(state: GcStateDoc, r: PhaseResult, now: number): void {
  if (r.fail) {
    state.report.errors.push({ phase: state.phase, message: r.fail.message, key: r.fail.key });
    state.failed = true;
    // Before the tombstones nothing needs undoing; after them, the resolve revives every one.
    const tombed = state.phase === "mark2" && !state.options.dryRun;
    state.phase = tombed ? "resolve" : "links";
    state.pass = tombed ? undefined : "cleanup";
    state.cursor = undefined;
    return;
  }
  if (!r.done) {
    state.cursor = r.cursor;
    state.pass = r.pass;
    return;
  }
  state.cursor = undefined;
  state.pass = undefined;
  if (state.failed && state.phase === "resolve") {
    state.phase = "links";
    state.pass = "cleanup";
    return;
  }
  const order = state.options.dryRun ? DRY_PHASES : PHASES;
  state.phase = order[order.indexOf(state.phase) + 1];
  if (state.phase === "quarantine") state.tombsDoneAt = now;
}

/**
 * Runs one bounded step of the current run. During the quarantine it does nothing and answers `resumeAt` until the
 * clock passes it. `done: true` once the report is written.
 */
export async function runStep(deps: GcDeps): Promise<GcStatus> {
  const started = Date.now();
  const now = clock(deps);
  const store = new CountingStore(deps.store);
  const current = await readState(store);
  if (!current) throw new GcRefusedError("no gc run: start one first", 404);
  const { state } = current;
  if (state.phase === "done") return statusOf(state);
  if (state.phase === "quarantine" && now < (state.tombsDoneAt ?? 0) + state.options.quarantineMs) return statusOf(state);
  if (state.lease && state.lease.until > now) throw new GcBusyError(`gc run ${state.run}: another step holds the lease until ${new Date(state.lease.until).toISOString()}`, state.run);

  state.lease = { owner: crypto.randomUUID(), until: now + GC_LEASE_MS };
  const leased = await writeState(store, state, { ifMatch: current.etag });
  if (!leased) throw new GcBusyError(`gc run ${state.run}: another runner took the step`, state.run);

  const budget: GcBudget = { ...GC_BUDGET, ...deps.budget };
  const ctx = new StepContext(deps, store, budget, state, now);
  const phase = state.phase;
  let result: PhaseResult;
  try {
    result = await runPhase(ctx);
  } catch (err) {
    // Give the lease back so that a retry need not wait for it to expire (only if it is still ours).
    const { state: before } = (await readState(deps.store).catch(() => null)) ?? {};
    if (before && before.lease?.owner === state.lease.owner) {
      before.lease = null;
      await writeState(deps.store, before, { ifMatch: leased.etag }).catch(() => {});
    }
    throw err;
  }
  advance(state, result, now);
  state.step++;
  state.lease = null;
  state.lastStepAt = now;
  const cost: GcStepCost = { phase, n: state.step, subrequests: store.calls + 1, listedWithMetadata: store.listedWithMetadata, wallMs: Date.now() - started };
  if (state.report.steps.length < GC_REPORT_STEPS) state.report.steps.push(cost);
  else state.report.stepsOmitted++;
  if ((state.phase as GcPhase) === "done") {
    state.report.finishedAt = new Date(now).toISOString();
    cost.subrequests++;
    // Written before the state says done: a lost swap below leaves a report another runner rewrites.
    await store.put(keys.gcReport(state.run), JSON.stringify(state.report, null, 1), { contentType: "application/json" });
  }
  const saved = await writeState(store, state, { ifMatch: leased.etag });
  if (!saved) throw new GcLeaseLostError(state.run);
  return statusOf(state, cost);
}

/** The current (or last) run's status, or null when no run was ever started. */
export async function currentRun(deps: GcDeps): Promise<GcStatus | null> {
  const current = await readState(deps.store);
  return current ? statusOf(current.state) : null;
}

/** A finished run's report, or null when there is none (an unknown or malformed run id included). */
export async function readReport(deps: GcDeps, run: string): Promise<GcReport | null> {
  if (!RUN_ID.test(run)) return null;
  const obj = await deps.store.get(keys.gcReport(run));
  return obj ? (JSON.parse(await new Response(obj.body).text()) as GcReport) : null;
}

/** The runs that have a report, newest first. */
export async function listRuns(deps: GcDeps): Promise<string[]> {
  const runs: string[] = [];
  let cursor: string | undefined;
  do {
    const page = await deps.store.list({ prefix: keys.gcRunsPrefix, cursor });
    for (const o of page.objects) {
      const m = /^gc\/runs\/([^/]+)\/report\.json$/.exec(o.key);
      if (m) runs.push(m[1]);
    }
    cursor = page.cursor;
  } while (cursor);
  return runs.sort().reverse();
}
