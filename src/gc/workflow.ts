// The garbage collection Workflow (wrangler.toml [[workflows]], binding GC_WORKFLOW): the scheduled handler creates
// one instance per run (src/gc/runner.ts); the platform persists each step's result and retries failed steps.
import { WorkflowEntrypoint, type WorkflowEvent, type WorkflowStep } from "cloudflare:workers";
import type { Env } from "../config/settings";
import { runtimeFor } from "../runtime";
import { driveRun, type GcWorkflowParams, type WorkflowOutcome } from "./runner";

export class GcWorkflow extends WorkflowEntrypoint<Env, GcWorkflowParams> {
  override async run(event: Readonly<WorkflowEvent<GcWorkflowParams>>, step: WorkflowStep): Promise<WorkflowOutcome> {
    return driveRun(runtimeFor(this.env).gcDeps(), event.payload.run, step);
  }
}
