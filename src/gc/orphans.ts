// Orphan data (docs/gc.md §4, phase O): `data/<k>` objects that no upload state and no live or tombstoned record
// names, older than the grace window. States are read first, records second, data last: an object that moves from a
// state to a record between the two reads is seen in the record. What each pass finds is saved per step under
// `gc/runs/<run>/named/`.
import { keys } from "../registry/paths";
import { type PhaseResult, type StepContext } from "./context";
import { loadStored, namedObjects } from "./uploads";

const NAMED = "named";

export async function orphansStep(ctx: StepContext): Promise<PhaseResult> {
  const pass = ctx.state.pass ?? "uploads";
  const next = (r: { cursor?: string; done: boolean }, following: string | null): PhaseResult =>
    r.done ? (following ? { done: false, pass: following } : { done: true }) : { done: false, pass, cursor: r.cursor };

  if (pass === "uploads") {
    const named = new Set<string>();
    const r = await ctx.walk(keys.uploadsPrefix, ctx.state.cursor, async (o) => {
      if (!o.key.endsWith("/state")) return;
      const loaded = await loadStored(ctx, o.key);
      for (const k of namedObjects(loaded?.stored?.content ?? null)) named.add(k);
    });
    await ctx.saveLines(NAMED, [...named].filter((k) => k.startsWith(keys.dataPrefix)));
    return next(r, "blobs");
  }
  if (pass === "blobs") {
    const named = new Set<string>();
    const r = await ctx.walkRecords(ctx.state.cursor, async (rec) => {
      // A dead record's data is the sweep's to delete (a crash between doom and delete leaves it here).
      if (rec.state !== "dead") named.add(rec.dataKey);
    });
    await ctx.saveLines(NAMED, named);
    return next(r, "data");
  }
  const named = await ctx.loadSet(NAMED);
  const doomed: string[] = [];
  let bytes = 0;
  const r = await ctx.walk(keys.dataPrefix, ctx.state.cursor, async (o) => {
    if (named.has(o.key) || !ctx.olderThanGrace(o.uploaded)) return;
    doomed.push(o.key);
    bytes += o.size;
  });
  if (doomed.length && !ctx.dryRun) await ctx.store.delete(doomed);
  ctx.report.deleted.orphanData.objects += doomed.length;
  ctx.report.deleted.orphanData.bytes += bytes;
  return next(r, null);
}
