// Stands in for the "cloudflare:workers" module when the API suite runs in Node on the in-memory store (project
// api-memory in vitest.config.ts): the same `env` and `exports.default` the suite uses inside workerd, but the
// worker is Skiff's own app called in-process, and storage is a MemoryStore (see ./setup.ts).
import type { Env } from "../../src/config/settings";

/** Never used: ./setup.ts replaces createStorage. It is here only because the R2 configuration requires a binding. */
const unusedBucket = new Proxy({} as R2Bucket, {
  get() {
    throw new Error("api-memory: the R2 binding is a placeholder; storage is the MemoryStore");
  },
});

export const env: Env = { SKIFF_AUTH: "open", LOG_REQUESTS: "false", BUCKET: unusedBucket, SKIFF_TEST_TARGET: "memory" };

// Imported when first called: src/index imports this module (for WorkflowEntrypoint), and a static import back
// would evaluate src/index before this module's exports exist.
export const exports = {
  default: { fetch: async (request: Request) => (await import("../../src/index")).default.fetch(request, env) },
};

/** src/gc/workflow.ts extends it; Workflows do not run in Node, so nothing here ever calls it. */
export class WorkflowEntrypoint<E = unknown> {
  constructor(
    protected ctx: unknown,
    protected env: E,
  ) {}
}
