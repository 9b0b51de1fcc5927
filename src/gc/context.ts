// What one GC step works with: the run's state as read from `gc/state`, the counting store, the budget, and the
// helpers every phase shares (walking a listing from a cursor within the budget, sets saved under the run's prefix).
import { parseRecord, type BlobRecord } from "../registry/blob-record";
import { parseDigest, type Digest } from "../protocol/digest";
import type { ObjectInfo } from "../storage/types";
import { keys } from "../registry/paths";
import type { CountingStore } from "./counting-store";
import type { GcBudget, GcDeps, GcPhase, GcReport } from "./types";

/** `gc/state`: the current run (docs/gc.md §8). */
export interface GcStateDoc {
  v: 1;
  run: string;
  phase: GcPhase;
  /** A pass within the phase (orphans: uploads, blobs, data; links: repos, catalog, cleanup). */
  pass?: string;
  /** Where the phase's current listing resumes (a `startAfter` key; resolve: `<file>\t<line>`). */
  cursor?: string;
  /** Steps done so far; also names the files a step saves, so a redone step overwrites its own. */
  step: number;
  lease: { owner: string; until: number } | null;
  startedAt: number;
  /** When the last step saved (ms); a run idle far past it is stale and may be replaced. */
  lastStepAt?: number;
  tombsDoneAt?: number;
  /** The mark's last repository, to count repositories across steps. */
  lastRepo?: string;
  /** A mark failed: the run deletes nothing and revives what it tombstoned. */
  failed?: boolean;
  options: { dryRun: boolean; trigger: "cron" | "admin"; graceMs: number; quarantineMs: number };
  report: GcReport;
}

/** What a phase step reports back to the engine. */
export interface PhaseResult {
  done: boolean;
  cursor?: string;
  pass?: string;
  /** The run must stop deleting (an unparseable manifest). */
  fail?: { message: string; key?: string };
}

/** Calls one item may cost at most (a session's removal: read, claim, abort, list, deletes). */
const ITEM_RESERVE = 12;
/** The report keeps the first this many deleted digests. */
export const SAMPLE_SIZE = 1000;

export class StepContext {
  constructor(
    readonly deps: GcDeps,
    readonly store: CountingStore,
    readonly budget: GcBudget,
    readonly state: GcStateDoc,
    readonly now: number,
  ) {}

  get report(): GcReport {
    return this.state.report;
  }
  get dryRun(): boolean {
    return this.state.options.dryRun;
  }
  get graceMs(): number {
    return this.state.options.graceMs;
  }
  /** The deps a registry function (retention) gets: every call goes through the counting store. */
  get countedDeps(): GcDeps {
    return { ...this.deps, store: this.store };
  }

  /** True while another item fits in the step's call budget. */
  affords(reserve = ITEM_RESERVE): boolean {
    return this.store.calls + reserve <= this.budget.calls;
  }

  /** True when `uploaded` (ms) is older than the grace window; unknown ages are young (kept). */
  olderThanGrace(uploaded: number | null | undefined): boolean {
    return uploaded != null && this.now - uploaded > this.graceMs;
  }

  noteDeleted(digest: string, size: number): void {
    const d = this.report.deleted;
    d.blobs++;
    d.bytesFreed += size;
    if (d.sample.length < SAMPLE_SIZE) d.sample.push({ digest, size });
  }

  /**
   * Processes one page of `prefix` after `cursor`, item by item, while the budget allows (and `more()` agrees).
   * At least one item is processed per step, so a step always makes progress. Returns where to resume.
   */
  async walk(
    prefix: string,
    cursor: string | undefined,
    handle: (o: ObjectInfo) => Promise<void>,
    opts: { metadata?: boolean; more?: () => boolean } = {},
  ): Promise<{ cursor?: string; done: boolean }> {
    const page = await this.store.list({ prefix, startAfter: cursor, limit: this.budget.listPage, metadata: opts.metadata });
    let last = cursor;
    let processed = 0;
    for (const o of page.objects) {
      if (processed > 0 && (!this.affords() || (opts.more && !opts.more()))) return { cursor: last, done: false };
      await handle(o);
      last = o.key;
      processed++;
    }
    return page.cursor !== undefined ? { cursor: last, done: false } : { done: true };
  }

  /** Walks the blob records (`blobs/`, with metadata) from `cursor`; keys that are not records are skipped. */
  walkRecords(cursor: string | undefined, handle: (rec: BlobRecord) => Promise<void>): Promise<{ cursor?: string; done: boolean }> {
    return this.walk(
      keys.blobsPrefix,
      cursor,
      async (o) => {
        const d = digestOfPath(o.key.slice(keys.blobsPrefix.length));
        const rec = d && parseRecord(d, o);
        if (rec) await handle(rec);
      },
      { metadata: true },
    );
  }

  private setPrefix(kind: string): string {
    return `${keys.gcRun(this.state.run)}${kind}/`;
  }

  /** Saves this step's lines of a set (marks, candidates, named objects) under the run's prefix. */
  async saveLines(kind: string, lines: Iterable<string>): Promise<void> {
    const sorted = [...lines].sort();
    if (!sorted.length) return;
    const key = `${this.setPrefix(kind)}${String(this.state.step).padStart(8, "0")}`;
    await this.store.put(key, sorted.join("\n"), { contentType: "text/plain" });
  }

  /** Every saved file of a set, in step order, as lists of lines. */
  async loadFiles(kind: string): Promise<{ key: string; lines: string[] }[]> {
    const files: { key: string; lines: string[] }[] = [];
    let cursor: string | undefined;
    do {
      const page = await this.store.list({ prefix: this.setPrefix(kind), cursor });
      for (const o of page.objects) {
        const obj = await this.store.get(o.key);
        if (!obj) throw new Error(`gc: ${o.key} vanished while the run needs it`);
        const text = await new Response(obj.body).text();
        files.push({ key: o.key, lines: text ? text.split("\n") : [] });
      }
      cursor = page.cursor;
    } while (cursor);
    return files;
  }

  async loadSet(kind: string): Promise<Set<string>> {
    const set = new Set<string>();
    for (const f of await this.loadFiles(kind)) for (const line of f.lines) set.add(line.split("\t")[0]);
    return set;
  }
}

/** The parts of a `repos/` key: repository, section (`_manifests`, `_tags`, `_blobs`, `_referrers`) and the rest. */
export function repoKey(key: string): { name: string; section: string; rest: string } | null {
  if (!key.startsWith(keys.reposPrefix)) return null;
  const tail = key.slice(keys.reposPrefix.length);
  // Name components start with [a-z0-9]: the first "/_" ends the name (paths.ts).
  const i = tail.indexOf("/_");
  if (i <= 0) return null;
  const after = tail.slice(i + 1);
  const j = after.indexOf("/");
  if (j < 0) return null;
  return { name: tail.slice(0, i), section: after.slice(0, j), rest: after.slice(j + 1) };
}

/** `<alg>/<hex>` (as keys hold digests) to a digest. */
export function digestOfPath(path: string): Digest | null {
  const i = path.indexOf("/");
  return i < 0 ? null : parseDigest(`${path.slice(0, i)}:${path.slice(i + 1)}`);
}
