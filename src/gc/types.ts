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

/** What one step may spend (engine.ts: GC_BUDGET). Tests shrink it to split phases into many steps. */
export interface GcBudget {
  /** Storage calls a step stops starting new work at (each is a subrequest in a Worker). */
  calls: number;
  /** Keys per list page: a step processes at most one page of the listing it walks. */
  listPage: number;
  /** Manifest (or tag) GETs per mark step. */
  manifestGets: number;
}

export interface GcDeps extends RegistryDeps {
  gc: GcSettings;
  /** The clock (ms since epoch). Tests move it forward instead of waiting. */
  now?: () => number;
  /** Overrides of the step budget (tests). */
  budget?: Partial<GcBudget>;
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
  /**
   * Objects listed with their metadata. On the R2 binding that is free; the S3 adapter HEADs each such object, so
   * on S3 every one of them is one more subrequest.
   */
  listedWithMetadata: number;
  wallMs: number;
}

/** A run's report (docs/gc.md §10): `gc/runs/<run>/report.json`. In a dry run the counts are what would happen. */
export interface GcReport {
  run: string;
  dryRun: boolean;
  trigger: "cron" | "admin";
  startedAt: string;
  finishedAt?: string;
  quarantineMs: number;
  graceMs: number;
  steps: GcStepCost[];
  /** Steps beyond the first GC_REPORT_STEPS are counted here only. */
  stepsOmitted: number;
  marked: { repositories: number; manifests: number; tagsAsRoots: number; blobs: number };
  /** Records this run tombstoned (or would), including tombstones of an abandoned run it took over. */
  tombstoned: number;
  revived: number;
  /** Unmarked live records younger than the grace window. */
  skippedYoung: number;
  /** Tombstoned records someone changed before the resolve (a push revived or replaced them). */
  skippedRaced: number;
  deleted: {
    blobs: number;
    bytesFreed: number;
    sample: { digest: string; size: number }[];
    orphanData: { objects: number; bytes: number };
    links: number;
    referrers: number;
    catalog: number;
    sessions: number;
    tails: number;
    multipartAborted: number;
  };
  retention: { manifests: { repo: string; digest: string }[]; tags: { repo: string; tag: string }[] };
  errors: { phase: GcPhase; message: string; key?: string }[];
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
  /** Set when the run stopped on an error (it deleted nothing after it; the report lists it). */
  failed?: boolean;
}
