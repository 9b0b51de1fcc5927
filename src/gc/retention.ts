// PLACEHOLDER (helper D replaces this file): the retention phase of a GC run (docs/gc.md §9).
import type { GcDeps } from "./types";

export interface RetentionStepResult {
  cursor?: string;
  done: boolean;
  manifests: { repo: string; digest: string }[];
  tags: { repo: string; tag: string }[];
}

export async function retentionStep(deps: GcDeps, _cursor: string | undefined, _opts: { dryRun: boolean; now: number }): Promise<RetentionStepResult> {
  if (deps.gc.retention.length === 0) return { done: true, manifests: [], tags: [] };
  throw new Error("retention is not built yet");
}
