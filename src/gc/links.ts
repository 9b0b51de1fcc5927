// Links, referrer entries and catalog entries (docs/gc.md §4, phase K), each by "delete, re-check, repair": the
// delete is unconditional, so after it the sweep re-reads what the key depends on and writes the key back if a
// concurrent writer needed it. The last pass removes the run's working files (marks, candidates, named objects).
import { formatDigest } from "../protocol/digest";
import { parseManifest, referrerDescriptor } from "../protocol/manifest";
import { readRecord, type BlobState } from "../registry/blob-record";
import { keys } from "../registry/paths";
import type { Digest } from "../protocol/digest";
import { digestOfPath, repoKey, type PhaseResult, type StepContext } from "./context";
import { loadCandidates } from "./sweep";

export async function linksStep(ctx: StepContext): Promise<PhaseResult> {
  const pass = ctx.state.pass ?? "repos";
  if (pass === "repos") {
    const r = await reposPass(ctx);
    return r.done ? { done: false, pass: "catalog" } : { done: false, pass, cursor: r.cursor };
  }
  if (pass === "catalog") {
    const r = await catalogPass(ctx);
    return r.done ? { done: false, pass: "cleanup" } : { done: false, pass, cursor: r.cursor };
  }
  return cleanupPass(ctx);
}

async function reposPass(ctx: StepContext) {
  const { store, report } = ctx;
  // A dry run resolved nothing: the links of what it would delete count as they would after the resolve.
  const wouldDelete = ctx.dryRun ? await loadCandidates(ctx) : new Set<string>();
  const states = new Map<string, BlobState | null>();
  const stateOf = async (d: Digest) => {
    const text = formatDigest(d);
    if (!states.has(text)) states.set(text, (await readRecord(store, d))?.state ?? null);
    return states.get(text)!;
  };
  /** Manifests listed by this step, `<repo>@<digest>` (they sort before the repository's referrer entries). */
  const present = new Set<string>();

  return ctx.walk(keys.reposPrefix, ctx.state.cursor, async (o) => {
    const k = repoKey(o.key);
    if (!k) return;
    if (k.section === "_manifests") {
      const d = digestOfPath(k.rest);
      if (d) present.add(`${k.name}@${formatDigest(d)}`);
    } else if (k.section === "_blobs") {
      const d = digestOfPath(k.rest);
      if (!d) return;
      const state = await stateOf(d);
      if (ctx.dryRun) {
        if (state === null || state === "dead" || wouldDelete.has(formatDigest(d))) report.deleted.links++;
        return;
      }
      if (state !== null && state !== "dead") return;
      await store.delete(o.key);
      // Re-check: a writer puts the record before its link, so a fresh live record means the link must stay.
      const now = await readRecord(store, d);
      if (now && now.state === "live") {
        await store.put(o.key, "", { metadata: { size: String(now.size), data: now.dataKey } });
      } else {
        report.deleted.links++;
      }
    } else if (k.section === "_referrers") {
      // <subject alg>/<subject hex>/<alg>/<hex>: the entry is the referrer's, which must exist in the repository.
      const parts = k.rest.split("/");
      if (parts.length !== 4) return;
      const d = digestOfPath(`${parts[2]}/${parts[3]}`);
      if (!d || present.has(`${k.name}@${formatDigest(d)}`)) return;
      const manifestKey = keys.manifest(k.name, d);
      if (await store.head(manifestKey)) return;
      if (ctx.dryRun) {
        report.deleted.referrers++;
        return;
      }
      await store.delete(o.key);
      const again = await store.get(manifestKey);
      if (!again) {
        report.deleted.referrers++;
        return;
      }
      // Pushed again meanwhile: write the entry back from the manifest's own bytes.
      const bytes = new Uint8Array(await new Response(again.body).arrayBuffer());
      const parsed = parseManifest(bytes, again.contentType ?? null);
      await store.put(o.key, JSON.stringify(referrerDescriptor(parsed, d, bytes.byteLength)), { contentType: "application/json" });
    }
  });
}

async function catalogPass(ctx: StepContext) {
  const { store, report } = ctx;
  const hasManifest = async (name: string) =>
    (await store.list({ prefix: `${keys.reposPrefix}${name}/_manifests/`, limit: 1 })).objects.length > 0;
  return ctx.walk(keys.catalogPrefix, ctx.state.cursor, async (o) => {
    const name = o.key.slice(keys.catalogPrefix.length);
    if (!name || (await hasManifest(name))) return;
    if (ctx.dryRun) {
      report.deleted.catalog++;
      return;
    }
    await store.delete(o.key);
    // A first manifest may have landed meanwhile (its PUT writes the catalog entry after the manifest).
    if (await hasManifest(name)) await store.put(o.key, "");
    else report.deleted.catalog++;
  });
}

async function cleanupPass(ctx: StepContext): Promise<PhaseResult> {
  const prefix = keys.gcRun(ctx.state.run);
  const report = keys.gcReport(ctx.state.run);
  const page = await ctx.store.list({ prefix, limit: ctx.budget.listPage });
  const doomed = page.objects.map((o) => o.key).filter((k) => k !== report);
  if (doomed.length) await ctx.store.delete(doomed);
  return page.cursor !== undefined ? { done: false, pass: "cleanup" } : { done: true };
}
