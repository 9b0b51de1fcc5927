// Abandoned upload sessions (docs/gc.md §7, phase U). A session older than the upload TTL (which loadUpload already
// refuses) is claimed by a compare-and-swap on its state, so a request still holding the state's etag loses; then
// its multipart upload is aborted, its objects and tails deleted, and the state last. Tails nobody names that are
// older than the grace window go too.
import { contentObjects, namedObjects as namedByContent, readStoredUpload, type StoredUpload, type UploadContent } from "../registry/upload-state";
import { keys } from "../registry/paths";
import type { ObjectInfo } from "../storage/types";
import type { PhaseResult, StepContext } from "./context";

/** Every object key a session's content names, including multipart keys that become objects when completed. */
export function namedObjects(content: UploadContent | null): string[] {
  return content ? namedByContent(content) : [];
}

/** The state of `uploads/<id>/state` with its stored version, or null when absent. */
export async function loadStored(ctx: StepContext, key: string): Promise<{ info: ObjectInfo; stored: StoredUpload | null } | null> {
  const obj = await ctx.store.get(key);
  if (!obj) return null;
  const stored = readStoredUpload(await new Response(obj.body).text());
  return { info: obj, stored };
}

const UPLOAD_KEY = /^uploads\/([^/]+)\/(.+)$/;

export async function uploadsStep(ctx: StepContext): Promise<PhaseResult> {
  const { store, report } = ctx;
  const ttl = ctx.deps.settings.uploadTtlMs;
  /** Per session seen in this step: the keys its state names, or "removed" once this step removed it. */
  const sessions = new Map<string, Set<string> | "removed" | null>();

  const remove = async (id: string, loaded: { info: ObjectInfo; stored: StoredUpload | null }) => {
    const { stored } = loaded;
    if (stored && stored.ended === null && !ctx.dryRun) {
      // Claim: from here on no request can publish into it or complete it (they hold an older etag).
      const ended = { v: 2, id, ended: "expired", endedAt: ctx.now, content: stored.content };
      const claimed = await store.put(keys.uploadState(id), JSON.stringify(ended), { contentType: "application/json", ifMatch: loaded.info.etag });
      if (!claimed) return; // a request changed it just now: not abandoned after all (or another sweep has it)
    }
    const c = stored?.content ?? null;
    if (c?.kind === "chunks" && c.multipart) {
      if (!ctx.dryRun) await store.abortMultipart(c.multipart.key, c.multipart.uploadId).catch(() => {});
      report.deleted.multipartAborted++;
    }
    if (c?.kind === "direct") {
      if (!ctx.dryRun) await (ctx.deps.partUploads ?? store).abortMultipart(c.key, c.uploadId).catch(() => {});
      report.deleted.multipartAborted++;
    }
    const tailsPrefix = `${keys.uploadsPrefix}${id}/tails/`;
    // A live session we claimed owns its objects. An ended marker's request may have committed its object into a
    // record before it crashed: its data/ objects are left to the orphan sweep, which checks the records.
    const objects = (c ? contentObjects(c) : []).filter((k) => (stored?.ended === null ? true : k.startsWith(tailsPrefix)));
    const tails = new Set<string>();
    let cursor: string | undefined;
    do {
      const page = await store.list({ prefix: tailsPrefix, cursor });
      for (const o of page.objects) tails.add(o.key);
      cursor = page.cursor;
    } while (cursor);
    const doomed = [...new Set([...objects, ...tails])];
    if (!ctx.dryRun) {
      if (doomed.length) await store.delete(doomed);
      await store.delete(keys.uploadState(id));
    }
    report.deleted.tails += tails.size;
    report.deleted.sessions++;
    sessions.set(id, "removed");
  };

  return ctx.walk(keys.uploadsPrefix, ctx.state.cursor, async (o) => {
    const m = UPLOAD_KEY.exec(o.key);
    if (!m) return;
    const [, id, rest] = m;
    if (rest === "state") {
      const loaded = await loadStored(ctx, o.key);
      if (!loaded) return;
      const { stored, info } = loaded;
      // A live session ages from its start (as loadUpload judges it); a marker or junk from its last write.
      const since = stored && stored.ended === null ? stored.createdAt : (info.uploaded ?? null);
      if (since !== null && ctx.now - since > ttl) return remove(id, loaded);
      sessions.set(id, new Set(namedObjects(stored?.content ?? null)));
      return;
    }
    if (!rest.startsWith("tails/")) return;
    let named = sessions.get(id);
    if (named === undefined) {
      // The state was listed by an earlier step (or is missing): read it again.
      const loaded = await loadStored(ctx, keys.uploadState(id));
      named = loaded ? new Set(namedObjects(loaded.stored?.content ?? null)) : null;
      sessions.set(id, named);
    }
    if (named === "removed" || named?.has(o.key) || !ctx.olderThanGrace(o.uploaded)) return;
    if (!ctx.dryRun) await store.delete(o.key);
    report.deleted.tails++;
  });
}
