// What the infrastructure code needs to know about Skiff's bucket: which prefixes hold only temporary objects, and
// how long a lifecycle rule must wait before it may delete them. Shared by infra/aws and infra/cloudflare.
import { keys } from "../src/registry/paths";

/**
 * Upload sessions: `uploads/<id>/state` and its tails. A session lives at most UPLOAD_TTL_HOURS (default 24) and the
 * garbage collector removes abandoned ones; a lifecycle rule is the net for a registry whose GC never runs.
 */
export const UPLOADS_PREFIX = keys.uploadsPrefix;
/**
 * Garbage-collection runs: per-step scratch (deleted by the run's last step) and one report per run (kept; read by
 * `GET /_skiff/gc/runs`). Expiring it bounds the reports' growth and frees scratch of runs that crashed.
 */
export const GC_RUNS_PREFIX = keys.gcRunsPrefix;

export interface LifecycleDays {
  /** Abort multipart uploads not completed after this many days (chunked and direct uploads of live sessions too). */
  abortMultipartDays: number;
  /** Delete objects under uploads/ this many days after their last write. */
  uploadExpiryDays: number;
  /** Delete objects under gc/runs/ (reports, scratch) after this many days; 0 keeps them. */
  gcRunsExpiryDays: number;
}

export const DEFAULT_LIFECYCLE: LifecycleDays = { abortMultipartDays: 7, uploadExpiryDays: 7, gcRunsExpiryDays: 90 };

/** The largest UPLOAD_TTL_HOURS the Worker accepts (src/config/index.ts; test/ops/infra-aws.test.ts checks they agree). */
export const MAX_UPLOAD_TTL_HOURS = 144;

/**
 * A session may be used for up to UPLOAD_TTL_HOURS after it was created, and every object it writes is younger than
 * the session: its leftovers and multipart uploads must outlive the largest TTL by a day, whatever the Worker's
 * setting. A GC run reads its saved marks until it ends: its quarantine may be up to 30 days
 * (`POST /_skiff/gc?quarantine=`), plus the 6 h after which a run counts as stale.
 */
export const MIN_DAYS: LifecycleDays = {
  abortMultipartDays: Math.ceil(MAX_UPLOAD_TTL_HOURS / 24) + 1,
  uploadExpiryDays: Math.ceil(MAX_UPLOAD_TTL_HOURS / 24) + 1,
  gcRunsExpiryDays: 32,
};

/** Every problem with the given days, each naming the setting and the fix; empty when they are usable. */
export function lifecycleProblems(days: LifecycleDays): string[] {
  const problems: string[] = [];
  for (const name of Object.keys(MIN_DAYS) as (keyof LifecycleDays)[]) {
    const value = days[name];
    const min = MIN_DAYS[name];
    if (name === "gcRunsExpiryDays" && value === 0) continue;
    if (!Number.isInteger(value) || value < min || value > 3650) {
      problems.push(`${name} must be a whole number of days from ${min} to 3650${name === "gcRunsExpiryDays" ? " (or 0: keep GC reports)" : ""}; it must outlive what Skiff still uses (infra/layout.ts)`);
    }
  }
  return problems;
}

/** A Skiff S3_PREFIX as the Worker uses it: "" or ending in "/" (src/storage/config.ts). */
export function normalizePrefix(prefix: string): string {
  if (prefix.startsWith("/") || prefix.includes("//") || /[*?\s]/.test(prefix)) {
    throw new Error('prefix must not start with "/", contain "//", spaces or wildcards');
  }
  return prefix && !prefix.endsWith("/") ? `${prefix}/` : prefix;
}
