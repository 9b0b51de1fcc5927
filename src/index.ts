// The Worker entry point: HTTP requests, the daily garbage collection (cron trigger) and its Workflow.
import { createApp } from "./http/app";
import { runtimeFor } from "./runtime";
import type { Env } from "./config/settings";
import { scheduledGc } from "./gc/runner";

export { GcWorkflow } from "./gc/workflow";

const app = createApp(runtimeFor);

export default {
  fetch: app.fetch,
  async scheduled(_controller, env) {
    await scheduledGc(runtimeFor(env).gcDeps(), env.GC_WORKFLOW);
  },
} satisfies ExportedHandler<Env>;
