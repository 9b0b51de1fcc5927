// The garbage collector's public shapes: what a runner (cron + Workflow, the admin endpoint, `npm run gc`) starts,
// steps and reads. The protocol and its safety argument: docs/gc.md.
import type { RegistryDeps } from "../registry/deps";
import type { RepoPattern } from "../protocol/repo-patterns";

/**
 * A retention policy (RETENTION setting, off when empty): in repositories matching `repositories`, delete untagged
 * manifests older than `untaggedDays` unless a kept index or referrer relation still needs them; for each
 * `keepTags` entry, keep the newest `newest` tags matching `match` and delete the older ones; never touch a tag
 * matching `protectTags`. Tag patterns are globs (`*` any run of characters, `?` one).
 */
export interface RetentionPolicy {
  repositories: RepoPattern[];
  untaggedDays?: number;
  keepTags: { match: string; newest: number }[];
  protectTags: string[];
}

export interface GcSettings {
  /** A blob record younger than this is never a candidate; unnamed data objects and tails younger than it stay. */
  graceMs: number;
  /** Time between tombstoning and the second mark (default 24 h). Safety never depends on it. */
  quarantineMs: number;
  /** The smallest grace a run may be started with on demand (GC_MIN_GRACE_HOURS; tests set 0). */
  minGraceMs: number;
  /** Retention policies, applied by each run before its first mark; empty = off. */
  retention: RetentionPolicy[];
}

export interface GcDeps extends RegistryDeps {
  gc: GcSettings;
  /** The clock (ms since epoch). Tests move it forward instead of waiting. */
  now?: () => number;
}

export interface GcStartOptions {
  dryRun: boolean;
  trigger: "cron" | "admin";
  /** Overrides; graceMs is refused below settings.minGraceMs. */
  graceMs?: number;
  quarantineMs?: number;
}

export type GcPhase = "retention" | "mark1" | "tombstone" | "quarantine" | "mark2" | "resolve" | "uploads" | "orphans" | "links" | "done";

/** The cost of one step, as the report and the bench print it. */
export interface GcStepCost {
  phase: GcPhase;
  n: number;
  /** Storage calls made by the step (each is one subrequest in a Worker). */
  subrequests: number;
  wallMs: number;
}

export interface GcStatus {
  run: string;
  phase: GcPhase;
  done: boolean;
  dryRun: boolean;
  /** During quarantine: the step that ends it may not run before this time (ms since epoch). */
  resumeAt?: number;
  /** The step just run (runStep only). */
  step?: GcStepCost;
}
