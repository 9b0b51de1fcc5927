// Tombstone and resolve (docs/gc.md §4, T and R): the two compare-and-swaps on blob records that decide what is
// freed. T tombstones unmarked live records older than the grace window; after the quarantine and the second mark,
// R revives those marked again and dooms the rest, deleting their data only after its own doom CAS succeeded.
import { formatDigest, parseDigest } from "../protocol/digest";
import { readRecord, recordAge, swapRecord, type RecordFields } from "../registry/blob-record";
import { type PhaseResult, type StepContext } from "./context";

/** Candidates T hands to R: `<digest>\t<etag of the tombstone>` lines under `gc/runs/<run>/tombs/`. */
const TOMBS = "tombs";

export async function tombstoneStep(ctx: StepContext): Promise<PhaseResult> {
  const live1 = await ctx.loadSet("m1");
  ctx.report.marked.blobs = live1.size;
  const candidates: string[] = [];
  const result = await ctx.walkRecords(ctx.state.cursor, async (rec) => {
      if (rec.state === "dead") return;
      const digest = formatDigest(rec.digest);
      const marked = live1.has(digest);
      if (rec.state === "tomb") {
        // A tombstone of an abandoned run (or of this run's step redone after a lost save): this run resolves it,
        // which is safe because it was set before this run's second mark begins (docs/gc.md §6).
        if (ctx.dryRun) {
          if (!marked) {
            ctx.report.tombstoned++;
            ctx.noteDeleted(digest, rec.size);
            candidates.push(digest);
          }
          return;
        }
        if (!marked) ctx.report.tombstoned++;
        candidates.push(`${digest}\t${rec.etag}`);
        return;
      }
      if (marked) return;
      if (!ctx.olderThanGrace(recordAge(rec))) {
        ctx.report.skippedYoung++;
        return;
      }
      if (ctx.dryRun) {
        ctx.report.tombstoned++;
        ctx.noteDeleted(digest, rec.size);
        candidates.push(digest);
        return;
      }
      const next: RecordFields = { size: rec.size, dataKey: rec.dataKey, state: "tomb", at: rec.at, tombAt: ctx.now, run: ctx.state.run };
      const tomb = await swapRecord(ctx.store, rec, next);
      if (!tomb) {
        ctx.report.skippedRaced++; // someone wrote the record since the listing: not a candidate this run
        return;
      }
      ctx.report.tombstoned++;
      candidates.push(`${digest}\t${tomb.etag}`);
  });
  await ctx.saveLines(TOMBS, candidates);
  return result;
}

/** The dry run's would-be deletions (K counts their links as it would after R). */
export function loadCandidates(ctx: StepContext): Promise<Set<string>> {
  return ctx.loadSet(TOMBS);
}

export async function resolveStep(ctx: StepContext): Promise<PhaseResult> {
  // After a failed second mark the run deletes nothing: every tombstone of it goes back to live.
  const reviveAll = ctx.state.failed === true;
  const live2 = reviveAll ? new Set<string>() : await ctx.loadSet("m2");
  const files = await ctx.loadFiles(TOMBS);
  const [fromFile, fromLine] = ctx.state.cursor ? ctx.state.cursor.split("\t") : ["", "0"];
  let processed = 0;
  for (const file of files) {
    if (file.key < fromFile) continue;
    for (let i = file.key === fromFile ? Number(fromLine) : 0; i < file.lines.length; i++) {
      if (processed > 0 && !ctx.affords(4)) return { done: false, cursor: `${file.key}\t${i}` };
      processed++;
      const [digestText, etag] = file.lines[i].split("\t");
      const d = parseDigest(digestText);
      if (!d) continue;
      const rec = await readRecord(ctx.store, d);
      if (!rec || rec.state !== "tomb" || rec.etag !== etag) {
        ctx.report.skippedRaced++; // revived by a push, replaced by a new upload, or resolved already
        continue;
      }
      if (reviveAll || live2.has(digestText)) {
        const revived = await swapRecord(ctx.store, rec, { size: rec.size, dataKey: rec.dataKey, state: "live", at: ctx.now });
        if (revived) ctx.report.revived++;
        else ctx.report.skippedRaced++;
        continue;
      }
      const dead = await swapRecord(ctx.store, rec, { size: rec.size, dataKey: rec.dataKey, state: "dead", at: rec.at, tombAt: rec.tombAt, run: rec.run });
      if (!dead) {
        ctx.report.skippedRaced++; // a manifest PUT revived it, or an upload replaced it: the doom lost
        continue;
      }
      // Only after our doom CAS on exactly this version (docs/gc.md §2, rule 2). A crash right here leaves the data
      // named by a dead record only, which the orphan sweep frees.
      await ctx.store.delete(rec.dataKey);
      ctx.noteDeleted(digestText, rec.size);
    }
  }
  return { done: true };
}
