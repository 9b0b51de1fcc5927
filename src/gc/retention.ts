// Retention: the first phase of a GC run. One step handles one repository that a policy matches (listed from
// `catalog/`): read its manifests and tags, plan (retention-policy.ts), delete tags (only those unchanged since the
// listing), delete manifests, then re-check and repair what a concurrent push turned out to need.
// The safety argument: docs/gc.md §9 ("Retention: delete, re-check, repair").
//
// Cost of a step: one catalog list; per repository, list `_manifests/` and `_tags/` with metadata (free on R2, a
// HEAD per key on S3), one GET per index (image manifests need no read: their subject is in their metadata), then
// a HEAD + DELETE per deleted tag, a GET per deleted manifest (the bytes a repair needs), batched deletes, and one
// re-read of the repository (GETs only for indexes it has not seen before).
import type { GcDeps, RetentionPolicy } from "./types";
import { neededManifests, planManifests, planRetention, planTags, policyFor, type RetentionManifest, type RetentionTag } from "./retention-policy";
import { keys } from "../registry/paths";
import { digestBytes, formatDigest, parseDigest } from "../protocol/digest";
import { manifestReferences } from "../protocol/references";
import { parseManifest, referrerDescriptor } from "../protocol/manifest";
import { MANIFEST_KINDS, essence } from "../protocol/mediatypes";
import { isValidName } from "../protocol/names";
import { eachLimited } from "../lib/concurrency";
import type { ObjectInfo, ObjectStore } from "../storage/types";

/** Storage calls of one fan-out in flight at once (as the manifest PUT's reference checks). */
const CONCURRENCY = 8;
/** Keys per delete call (both backends take up to 1,000). */
const DELETE_BATCH = 1000;

export interface RetentionStepResult {
  /** The last repository name handled; the next step starts after it. */
  cursor?: string;
  done: boolean;
  /** Deleted (in a dry run: would be deleted) in this step. Repaired manifests are not listed. */
  manifests: { repo: string; digest: string }[];
  tags: { repo: string; tag: string }[];
}

/** One bounded step of the retention phase: the next repository after `cursor` that a policy matches. */
export async function retentionStep(deps: GcDeps, cursor: string | undefined, opts: { dryRun: boolean; now: number }): Promise<RetentionStepResult> {
  const policies = deps.gc.retention;
  if (policies.length === 0) return { cursor, done: true, manifests: [], tags: [] };
  // The catalog can miss a repository for a moment (docs/gc.md §6 row 11): retention then skips it this run, the
  // safe direction.
  const page = await deps.store.list({ prefix: keys.catalogPrefix, startAfter: cursor === undefined ? undefined : keys.catalog(cursor), limit: 1000 });
  let last = cursor;
  for (let i = 0; i < page.objects.length; i++) {
    const repo = page.objects[i].key.slice(keys.catalogPrefix.length);
    last = repo;
    const policy = isValidName(repo) ? policyFor(policies, repo) : undefined;
    if (!policy) continue;
    const result = await retainRepository(deps, repo, policy, opts);
    return { cursor: repo, done: i === page.objects.length - 1 && !page.cursor, ...result };
  }
  return { cursor: last, done: !page.cursor, manifests: [], tags: [] };
}

/** Applies `policy` to one repository (the whole of one step). */
export async function retainRepository(
  deps: GcDeps,
  repo: string,
  policy: RetentionPolicy,
  opts: { dryRun: boolean; now: number },
): Promise<Pick<RetentionStepResult, "manifests" | "tags">> {
  const snap = await readRepository(deps.store, repo, opts.now);
  const nodes = [...snap.manifests.values()];
  if (opts.dryRun) {
    const plan = planRetention(policy, nodes, snap.tags, opts.now);
    return { tags: plan.tags.map((tag) => ({ repo, tag })), manifests: plan.manifests.map((digest) => ({ repo, digest })) };
  }
  const { deleted: tagsDeleted, remaining } = await deleteTags(deps.store, snap, planTags(policy, snap.tags));
  const deleted = await deleteManifests(deps.store, snap, planManifests(policy, nodes, remaining, opts.now));
  const repaired = deleted.length ? await repairManifests(deps.store, snap, deleted, opts.now) : new Set<string>();
  return {
    tags: tagsDeleted.map((tag) => ({ repo, tag })),
    manifests: deleted.filter((m) => !repaired.has(m.digest)).map((m) => ({ repo, digest: m.digest })),
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Reading a repository

export interface SnapshotTag extends RetentionTag {
  /** What tells a re-push apart (see tagVersion). */
  version: string;
}

/**
 * The version of a tag object: its etag alone is not enough, since R2's and S3's etags of a single put are the MD5
 * of the bytes, and pushing the same manifest under the tag again writes the same bytes. The write time (ms on R2;
 * whole seconds on S3, where the `at` metadata of a manifest PUT tells re-pushes within a second apart) changes.
 */
function tagVersion(info: ObjectInfo): string {
  return JSON.stringify([info.etag, info.uploaded ?? null, info.metadata.at ?? null]);
}

export interface RepositorySnapshot {
  repo: string;
  /** By digest; includes tag-only entries (`present: false`) for tags whose `_manifests/` object is missing. */
  manifests: Map<string, RetentionManifest>;
  tags: SnapshotTag[];
}

/** When an object was pushed: its `at` metadata, else storage's write time, else `now` (young: the safe side). */
function pushedAt(info: ObjectInfo, now: number): number {
  const at = info.metadata.at;
  if (at !== undefined && /^\d{1,15}$/.test(at)) return Number(at);
  return info.uploaded ?? now;
}

async function listAll(store: ObjectStore, prefix: string): Promise<ObjectInfo[]> {
  const out: ObjectInfo[] = [];
  let cursor: string | undefined;
  do {
    const page = await store.list({ prefix, cursor, metadata: true, limit: 1000 });
    out.push(...page.objects);
    cursor = page.cursor;
  } while (cursor);
  return out;
}

async function readBytes(store: ObjectStore, key: string): Promise<{ info: ObjectInfo; bytes: Uint8Array } | null> {
  const obj = await store.get(key);
  if (!obj) return null;
  const { body, ...info } = obj;
  return { info, bytes: new Uint8Array(await new Response(body).arrayBuffer()) };
}

/** References of stored manifest bytes; a manifest that does not parse stops the run (docs/gc.md §3). */
function references(repo: string, digest: string, contentType: string | undefined, bytes: Uint8Array): { children: string[]; subject?: string } {
  let refs;
  try {
    refs = manifestReferences(contentType ?? null, bytes);
  } catch (err) {
    throw new Error(`retention: stored manifest ${repo}@${digest} does not parse (${(err as Error).message}); nothing is deleted in ${repo}`);
  }
  return { children: refs.manifests.map(formatDigest), subject: refs.subject ? formatDigest(refs.subject) : undefined };
}

/**
 * Lists a repository's manifests and tags. `known` holds references already read (by digest: a manifest's bytes
 * never change), so that a re-read GETs only indexes it has not seen.
 */
export async function readRepository(store: ObjectStore, repo: string, now: number, known?: ReadonlyMap<string, RetentionManifest>): Promise<RepositorySnapshot> {
  const manifests = new Map<string, RetentionManifest>();
  const mPrefix = keys.manifestsPrefix(repo);
  const toRead: { digest: string; info: ObjectInfo }[] = [];
  for (const info of await listAll(store, mPrefix)) {
    const digest = parseDigest(info.key.slice(mPrefix.length).replace("/", ":"));
    if (!digest) continue; // not a manifest key
    const d = formatDigest(digest);
    const base = { digest: d, at: pushedAt(info, now) };
    const seen = known?.get(d);
    if (seen) manifests.set(d, { ...base, children: seen.children, subject: seen.subject });
    else if (MANIFEST_KINDS[essence(info.contentType)] === "image") {
      // No children; the subject is in the metadata putManifest writes (as deleteManifest reads it).
      const subject = info.metadata.subject && parseDigest(info.metadata.subject) ? info.metadata.subject : undefined;
      manifests.set(d, { ...base, children: [], subject });
    } else toRead.push({ digest: d, info });
  }
  await eachLimited(toRead, CONCURRENCY, async ({ digest, info }) => {
    const got = await readBytes(store, info.key);
    if (!got) return; // deleted meanwhile: gone either way
    manifests.set(digest, { digest, at: pushedAt(got.info, now), ...references(repo, digest, got.info.contentType, got.bytes) });
  });

  const tags: SnapshotTag[] = [];
  const tPrefix = keys.tagsPrefix(repo);
  const tagOnly: { tag: SnapshotTag | null; info: ObjectInfo }[] = [];
  for (const info of await listAll(store, tPrefix)) {
    const name = info.key.slice(tPrefix.length);
    const digest = info.metadata.digest && parseDigest(info.metadata.digest) ? info.metadata.digest : undefined;
    const tag: SnapshotTag | null = digest ? { name, digest, at: pushedAt(info, now), version: tagVersion(info) } : null;
    if (tag && (manifests.has(tag.digest) || known?.has(tag.digest))) tags.push(tag);
    else tagOnly.push({ tag, info }); // no manifest object, or no digest metadata: read the tag's own bytes
  }
  await eachLimited(tagOnly, CONCURRENCY, async ({ tag, info }) => {
    const got = await readBytes(store, info.key);
    if (!got) return;
    const name = info.key.slice(tPrefix.length);
    // A tag's bytes are its manifest's: without digest metadata the digest is theirs (sha256, as putManifest's default).
    const digest = tag?.digest ?? formatDigest(await digestBytes(got.bytes));
    tags.push({ name, digest, at: pushedAt(got.info, now), version: tagVersion(got.info) });
    if (!manifests.has(digest)) {
      const seen = known?.get(digest);
      const refs = seen ? { children: seen.children, subject: seen.subject } : references(repo, digest, got.info.contentType, got.bytes);
      manifests.set(digest, { digest, at: pushedAt(got.info, now), present: false, ...refs });
    }
  });
  tags.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { repo, manifests, tags };
}

// ---------------------------------------------------------------------------------------------------------------
// Applying a plan

/**
 * Deletes the named tags, each only if it is unchanged since the listing (HEAD right before the delete, same
 * version: etag and write time).
 * A tag pushed again meanwhile is kept. `store.delete` takes no condition, so a push landing between that HEAD and
 * the delete (milliseconds) is still deleted: the same as a client's tag DELETE racing a push. Returns the tags
 * deleted and the tags that remain (as they are now).
 */
export async function deleteTags(store: ObjectStore, snap: RepositorySnapshot, names: readonly string[]): Promise<{ deleted: string[]; remaining: RetentionTag[] }> {
  const doomed = new Set(names);
  const remaining: RetentionTag[] = snap.tags.filter((t) => !doomed.has(t.name));
  const deleted: string[] = [];
  const byName = new Map(snap.tags.map((t) => [t.name, t]));
  await eachLimited([...doomed], CONCURRENCY, async (name) => {
    const listed = byName.get(name);
    if (!listed) return;
    const key = keys.tag(snap.repo, name);
    const now = await store.head(key);
    if (!now) return; // deleted by someone else
    if (tagVersion(now) !== listed.version) {
      const digest = now.metadata.digest && parseDigest(now.metadata.digest) ? now.metadata.digest : listed.digest;
      remaining.push({ name, digest, at: pushedAt(now, listed.at) });
      return;
    }
    await store.delete(key);
    deleted.push(name);
  });
  return { deleted: deleted.sort(), remaining };
}

export interface DeletedManifest {
  digest: string;
  bytes: Uint8Array;
  contentType?: string;
  metadata: Record<string, string>;
  subject?: string;
}

/**
 * Deletes the named manifests and their referrer entries, after reading each one's bytes (a repair writes them
 * back). A manifest already gone is skipped.
 */
export async function deleteManifests(store: ObjectStore, snap: RepositorySnapshot, digests: readonly string[]): Promise<DeletedManifest[]> {
  const out: DeletedManifest[] = [];
  await eachLimited(digests, CONCURRENCY, async (digest) => {
    const got = await readBytes(store, keys.manifest(snap.repo, parseDigest(digest)!));
    if (!got) return;
    out.push({ digest, bytes: got.bytes, contentType: got.info.contentType, metadata: got.info.metadata, subject: snap.manifests.get(digest)?.subject });
  });
  out.sort((a, b) => (a.digest < b.digest ? -1 : 1));
  const doomedKeys = out.flatMap((m) => {
    const d = parseDigest(m.digest)!;
    const ks = [keys.manifest(snap.repo, d)];
    if (m.subject) ks.push(keys.referrer(snap.repo, parseDigest(m.subject)!, d));
    return ks;
  });
  for (let i = 0; i < doomedKeys.length; i += DELETE_BATCH) await store.delete(doomedKeys.slice(i, i + DELETE_BATCH));
  return out;
}

/**
 * The re-check after `deleteManifests`: reads the repository again (every key written before this read began is
 * listed) and puts back each deleted manifest that is now needed: every manifest present and every tag's target is
 * a root, closed as the planner closes it (index -> child, referrer -> subject, subject -> referrer). A manifest
 * that was pushed again meanwhile is present, so nothing is written for it but its referrer entry. Returns the
 * digests put back. If the re-read fails (a storage error, a manifest that does not parse), everything deleted is
 * put back: without the re-check nothing may stay deleted.
 */
export async function repairManifests(store: ObjectStore, snap: RepositorySnapshot, deleted: readonly DeletedManifest[], now: number): Promise<Set<string>> {
  const known = new Map<string, RetentionManifest>(snap.manifests);
  let needed: Set<string>;
  let present = new Set<string>();
  try {
    const after = await readRepository(store, snap.repo, now, known);
    const nodes: RetentionManifest[] = [...after.manifests.values()];
    present = new Set(nodes.filter((m) => m.present !== false).map((m) => m.digest));
    const roots = [...present, ...after.tags.map((t) => t.digest)];
    // Deleted manifests keep their edges (a repaired index needs its children, a repaired subject its referrers).
    for (const m of deleted) if (!after.manifests.has(m.digest)) nodes.push({ ...known.get(m.digest)!, present: false });
    needed = neededManifests(nodes, roots);
  } catch {
    needed = new Set(deleted.map((m) => m.digest));
  }
  const repaired = new Set<string>();
  await eachLimited(deleted, CONCURRENCY, async (m) => {
    if (!needed.has(m.digest) && !present.has(m.digest)) return;
    const d = parseDigest(m.digest)!;
    if (!present.has(m.digest)) {
      await store.put(keys.manifest(snap.repo, d), m.bytes, { contentType: m.contentType, metadata: m.metadata });
      repaired.add(m.digest);
    }
    // Also for a manifest pushed again: its push may have written the entry before the batch delete removed it.
    if (m.subject) {
      const descriptor = referrerDescriptor(parseManifest(m.bytes, m.contentType ?? null), d, m.bytes.byteLength);
      await store.put(keys.referrer(snap.repo, parseDigest(m.subject)!, d), JSON.stringify(descriptor), { contentType: "application/json" });
    }
  });
  return repaired;
}
