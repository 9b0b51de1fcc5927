// How scheduled garbage collection runs (docs/gc.md §8 "Runners"). The cron trigger starts a run and hands it to a
// Workflow instance (GC_WORKFLOW), which runs one bounded step per `step.do` and sleeps through the quarantine with
// `step.sleepUntil`: the production path, since a run takes many steps and a day of quarantine. Without the binding
// the scheduled handler steps the run inline for at most INLINE_BUDGET_MS, and each later cron goes on from where
// the last stopped (the bucket holds the run's state), so a run spans several days: a fallback, not the design.
import { GcBusyError, currentRun, runStep, startRun } from "./index";
import type { GcDeps, GcStatus } from "./types";
import { logEvent } from "../observability/log";

/** Wall time one scheduled invocation spends stepping inline (a cron may use minutes; this leaves a wide margin). */
export const INLINE_BUDGET_MS = 20_000;
/** A run needs some 10–20 steps at the bench's size (docs/gc.md §8); a Workflow stops long before the platform's cap. */
export const MAX_WORKFLOW_STEPS = 1000;

/** The part of a Workflow's `step` the runner uses (cloudflare:workers' WorkflowStep has it). */
export interface GcWorkflowStep {
  do<T>(name: string, config: StepConfig, callback: () => Promise<T>): Promise<T>;
  sleepUntil(name: string, timestamp: Date | number): Promise<void>;
}

interface StepConfig {
  retries: { limit: number; delay: `${number} seconds`; backoff: "exponential" };
  timeout: `${number} minutes`;
}

/** Every step is safe to redo (each action is a CAS or an idempotent delete): the platform retries failed ones. */
export const STEP_CONFIG: StepConfig = { retries: { limit: 5, delay: "30 seconds", backoff: "exponential" }, timeout: "10 minutes" };

export interface GcWorkflowParams {
  run: string;
}

export interface GcWorkflowBinding {
  create(options: { id: string; params: GcWorkflowParams }): Promise<unknown>;
}

/** A Workflow instance id for a run: ids take [A-Za-z0-9_-] only, run ids have colons. */
export function workflowId(run: string): string {
  return `gc-${run.replace(/[^A-Za-z0-9_-]/g, "-")}`.slice(0, 100);
}

export type ScheduledOutcome =
  | { kind: "busy"; run: string }
  | { kind: "workflow"; run: string; id: string }
  | { kind: "inline"; run: string; steps: number; status: GcStatus };

/** The scheduled handler: start a run (a run in progress is left alone) and have it stepped. */
export async function scheduledGc(deps: GcDeps, workflow: GcWorkflowBinding | undefined, budgetMs = INLINE_BUDGET_MS): Promise<ScheduledOutcome> {
  const t0 = Date.now();
  let status: GcStatus;
  try {
    status = await startRun(deps, { dryRun: false, trigger: "cron" });
  } catch (e) {
    if (!(e instanceof GcBusyError)) throw e;
    if (workflow) {
      // Its Workflow instance steps it (or an admin does); starting another would only lose the lease race.
      logEvent("info", `Skiff gc: run ${e.run} is in progress; the scheduled run is skipped`);
      return { kind: "busy", run: e.run ?? "unknown" };
    }
    // Inline mode: each cron goes on with the run the previous ones could not finish.
    const current = await currentRun(deps);
    if (!current) throw e;
    status = current;
  }
  if (workflow) {
    const id = workflowId(status.run);
    await workflow.create({ id, params: { run: status.run } });
    logEvent("info", `Skiff gc: run ${status.run} started (cron), Workflow instance ${id}`);
    return { kind: "workflow", run: status.run, id };
  }
  let steps = 0;
  while (!status.done && Date.now() - t0 < budgetMs) {
    // In quarantine: nothing to do before resumeAt; a later cron goes on.
    if (status.resumeAt !== undefined && status.resumeAt > Date.now()) break;
    status = await runStep(deps);
    steps++;
  }
  logEvent("info", `Skiff gc: run ${status.run} (cron, inline: no GC_WORKFLOW binding): ${steps} steps, ${status.done ? "done" : `phase ${status.phase}, continues at the next cron`}`);
  return { kind: "inline", run: status.run, steps, status };
}

export type WorkflowOutcome = { run: string; steps: number; outcome: "done" | "superseded"; by?: string };

/**
 * A Workflow instance's body: one `step.do` per engine step until the run is done. Deterministic on replay: step
 * names count up, and the quarantine sleep is always taken when the step asked for one (a past time returns at once).
 */
export async function driveRun(deps: GcDeps, run: string, step: GcWorkflowStep, maxSteps = MAX_WORKFLOW_STEPS): Promise<WorkflowOutcome> {
  for (let n = 1; n <= maxSteps; n++) {
    const status = await step.do(`gc step ${n}`, STEP_CONFIG, async () => {
      const s = await runStep(deps);
      // Only plain JSON crosses a step boundary.
      return JSON.parse(JSON.stringify(s)) as GcStatus;
    });
    // Another run owns the state: this run ended (finished, or stepped to its end by an admin) and a new one began.
    if (status.run !== run) return { run, steps: n, outcome: "superseded", by: status.run };
    if (status.done) return { run, steps: n, outcome: "done" };
    if (status.resumeAt !== undefined) {
      // How long is left, decided inside a step so that a replay of run() takes the same path; a sleep until a
      // moment already past is not taken (Miniflare's never wakes from one: found with GC_QUARANTINE_HOURS=0).
      const resumeAt = status.resumeAt;
      const waitMs = await step.do(`quarantine left after step ${n}`, STEP_CONFIG, async () => Math.max(0, resumeAt - (deps.now?.() ?? Date.now())));
      if (waitMs > 0) await step.sleepUntil(`quarantine after step ${n}`, resumeAt);
    }
  }
  throw new Error(`garbage collection run ${run} is not done after ${maxSteps} steps`);
}
