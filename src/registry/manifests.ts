// Manifests: stored per repository by digest, with each tag holding a copy so that a pull by tag is one read.
import { RegistryError } from "../protocol/errors";
import { digestBytes, formatDigest, parseDigest, type Digest } from "../protocol/digest";
import { parseManifest, referrerDescriptor, type ParsedManifest } from "../protocol/manifest";
import { requireTag, type Reference } from "../protocol/names";
import { keys } from "./paths";
import type { RegistryDeps } from "./deps";
import { isLinked } from "./blobs";
import { readRecord, swapRecord } from "./blob-record";
import { matchesRepo } from "../protocol/repo-patterns";
import { eachLimited } from "../lib/concurrency";

export interface StoredManifest {
  digest: Digest;
  mediaType: string;
  size: number;
  body?: ReadableStream<Uint8Array>;
}

/**
 * Reads checking one reference each that run at once. Enough to hide storage latency; few enough that one manifest
 * cannot flood the store or the isolate (a Worker has at most 6 connections open anyway; more calls wait).
 */
export const REFERENCE_CHECK_CONCURRENCY = 8;

/**
 * Checks that every blob and child manifest the manifest names is in the repository (a blob: its link, whatever the
 * state of its record; confirmBlobs checks those after the write): one read per distinct digest
 * (a manifest may name one blob many times), at most REFERENCE_CHECK_CONCURRENCY at once, and no new read once a
 * reference is missing or a read failed. parseManifest has capped the number of descriptors.
 */
async function checkReferences(deps: RegistryDeps, name: string, parsed: ParsedManifest): Promise<void> {
  // Keyed by kind and digest: a blob and a child manifest with one digest are two different checks.
  const checks = new Map<string, { digest: string; exists: () => Promise<boolean> }>();
  for (const d of parsed.blobs) {
    const digest = formatDigest(d);
    checks.set(`blob ${digest}`, { digest, exists: () => isLinked(deps, name, d) });
  }
  for (const d of parsed.manifests) {
    const digest = formatDigest(d);
    checks.set(`manifest ${digest}`, { digest, exists: async () => (await deps.store.head(keys.manifest(name, d))) !== null });
  }
  const missing: string[] = [];
  await eachLimited([...checks.values()], REFERENCE_CHECK_CONCURRENCY, async (check) => {
    if (await check.exists()) return;
    missing.push(check.digest);
    return "stop";
  });
  if (missing.length) {
    // The checks stop at the first missing reference, so `missing` lists those found by then, not all of them.
    throw new RegistryError("MANIFEST_BLOB_UNKNOWN", `manifest references ${missing[0]}, unknown to repository ${name}${missing.length > 1 ? ` (and ${missing.length - 1} more)` : ""}`, { missing });
  }
}

export interface PutManifestResult {
  digest: Digest;
  subject?: string;
}

/** Rounds of a manifest PUT against concurrent retractions and revivals before it gives up (docs/gc.md §5). */
const WRITE_ROUNDS = 3;
/** Compare-and-swap attempts reviving one tombstoned record. */
const REVIVE_ATTEMPTS = 5;

function blobsUnknown(name: string, missing: string[]): RegistryError {
  return new RegistryError("MANIFEST_BLOB_UNKNOWN", `manifest references ${missing[0]}, unknown to repository ${name} (it was garbage collected or deleted: push it again)`, { missing });
}

/**
 * After the manifest was written: every blob's record must be live, and every child manifest present. A tombstone
 * is revived by compare-and-swap (racing the sweep's doom on the same version: exactly one wins). A child manifest
 * may have been deleted by retention after the pre-check (docs/gc.md §9, "delete, re-check, repair"). Returns the
 * digests that are gone (dead or absent record, absent child), and stops reading at the first one.
 */
async function reviveReferences(deps: RegistryDeps, name: string, blobs: Digest[], children: Digest[]): Promise<string[]> {
  const missing: string[] = [];
  await eachLimited(children, REFERENCE_CHECK_CONCURRENCY, async (d) => {
    if (await deps.store.head(keys.manifest(name, d))) return;
    missing.push(formatDigest(d));
    return "stop";
  });
  if (missing.length) return missing;
  await eachLimited(blobs, REFERENCE_CHECK_CONCURRENCY, async (d) => {
    for (let attempt = 0; attempt < REVIVE_ATTEMPTS; attempt++) {
      const record = await readRecord(deps.store, d);
      if (record?.state === "live") return;
      if (!record || record.state === "dead") {
        missing.push(formatDigest(d));
        return "stop";
      }
      if (await swapRecord(deps.store, record, { size: record.size, dataKey: record.dataKey, state: "live", at: Date.now() })) return;
    }
    throw new RegistryError("UNAVAILABLE", `blob ${formatDigest(d)} is being changed by concurrent requests; retry the push`);
  });
  return missing;
}

/**
 * The post-check (docs/gc.md §5 step 3): revive what the manifest at `key` references, or retract the manifest when
 * a blob is gone. After a retraction the records are read again: a concurrent re-upload may have replaced a dead
 * one, and then the manifest is written back and checked again.
 */
async function confirmReferences(deps: RegistryDeps, name: string, key: string, write: () => Promise<unknown>, blobs: Digest[], children: Digest[]): Promise<void> {
  const isChild = new Set(children.map(formatDigest));
  for (let round = 1; ; round++) {
    const missing = await reviveReferences(deps, name, blobs, children);
    if (!missing.length) return;
    await deps.store.delete(key);
    const back = await Promise.all(
      missing.map(async (text) => {
        const d = parseDigest(text)!;
        if (isChild.has(text)) return (await deps.store.head(keys.manifest(name, d))) !== null;
        const r = await readRecord(deps.store, d);
        return r !== null && r.state !== "dead";
      }),
    );
    if (round >= WRITE_ROUNDS || back.includes(false)) throw blobsUnknown(name, missing);
    await write();
  }
}

function immutableTag(name: string, tag: string): RegistryError {
  return new RegistryError("DENIED", `tag ${tag} is immutable in repository ${name} (IMMUTABLE_TAGS): push a new tag instead`, { name, tag });
}

/** In a repository with immutable tags: a tag that exists must already name this digest. */
async function checkImmutable(deps: RegistryDeps, name: string, tags: string[], digestText: string): Promise<void> {
  const heads = await Promise.all(tags.map((tag) => deps.store.head(keys.tag(name, tag))));
  const moved = tags.find((_, i) => heads[i] && heads[i]!.metadata.digest !== digestText);
  if (moved !== undefined) throw immutableTag(name, moved);
}

/** PUT: validates and stores a manifest under its digest and the given tags. */
export async function putManifest(
  deps: RegistryDeps,
  name: string,
  ref: Reference,
  bytes: Uint8Array,
  contentType: string | null,
  extraTags: string[] = [],
): Promise<PutManifestResult> {
  const { store } = deps;
  const parsed = parseManifest(bytes, contentType);
  const digest = await digestBytes(bytes, ref.kind === "digest" ? ref.digest.algorithm : "sha256");
  if (ref.kind === "digest" && ref.digest.hex !== digest.hex) {
    throw new RegistryError("DIGEST_INVALID", `manifest digest is ${formatDigest(digest)}, not ${formatDigest(ref.digest)}`, {
      expected: formatDigest(ref.digest),
      actual: formatDigest(digest),
    });
  }
  const tags = [...new Set([...(ref.kind === "tag" ? [ref.tag] : []), ...extraTags.map(requireTag)])];
  const digestText = formatDigest(digest);
  // Before anything is written, so that a refused push leaves nothing behind.
  const immutable = matchesRepo(deps.settings.immutableTags, name);
  if (immutable) await checkImmutable(deps, name, tags, digestText);
  await checkReferences(deps, name, parsed);

  const key = keys.manifest(name, digest);
  // The blobs the pre-check required (foreign layers are not), each once: a manifest may name one blob many times.
  const blobs = [...new Map(parsed.blobs.map((d) => [formatDigest(d), d])).values()];
  const children = [...new Map(parsed.manifests.map((d) => [formatDigest(d), d])).values()];
  const subject = parsed.subject ? parseDigest(parsed.subject.digest)! : undefined;
  // `at`: when it was pushed, for retention (the last write wins, like the bytes).
  const write = () => store.put(key, bytes, { contentType: parsed.mediaType, metadata: { ...(subject ? { subject: formatDigest(subject) } : {}), at: String(Date.now()) } });
  for (let round = 1; ; round++) {
    await write();
    await confirmReferences(deps, name, key, write, blobs, children);
    const writes: Promise<unknown>[] = tags.map((tag) => putTag(deps, name, tag, bytes, parsed.mediaType, digestText, immutable));
    if (subject) {
      const descriptor = referrerDescriptor(parsed, digest, bytes.byteLength);
      writes.push(store.put(keys.referrer(name, subject, digest), JSON.stringify(descriptor), { contentType: "application/json" }));
    }
    writes.push(store.put(keys.catalog(name), ""));
    await Promise.all(writes);
    // An identical PUT whose post-check saw a dead blob may have retracted the manifest after this one was checked
    // (docs/gc.md §6 row 13): whichever of the two looks last writes it back.
    if (await store.head(key)) break;
    if (round >= WRITE_ROUNDS) throw new RegistryError("UNAVAILABLE", `manifest ${digestText} was removed by a concurrent request; retry the push`);
  }
  return { digest, subject: subject ? formatDigest(subject) : undefined };
}

/**
 * Writes a tag. In a repository with immutable tags only a new tag is written (ifNoneMatch): of racing pushes of
 * different manifests to one new tag exactly one wins, and the others are denied; an identical re-push succeeds.
 */
async function putTag(deps: RegistryDeps, name: string, tag: string, bytes: Uint8Array, mediaType: string, digestText: string, immutable: boolean): Promise<void> {
  const key = keys.tag(name, tag);
  const opts = { contentType: mediaType, metadata: { digest: digestText, at: String(Date.now()) } };
  if (!immutable) {
    await deps.store.put(key, bytes, opts);
    return;
  }
  if (await deps.store.put(key, bytes, { ...opts, ifNoneMatch: "*" })) return;
  const existing = await deps.store.head(key);
  if (existing?.metadata.digest === digestText) return;
  if (!existing) throw new RegistryError("UNAVAILABLE", `tag ${tag} is being changed by a concurrent request; retry the push`);
  throw immutableTag(name, tag);
}

function unknown(name: string, ref: Reference): never {
  const shown = ref.kind === "tag" ? ref.tag : formatDigest(ref.digest);
  throw new RegistryError("MANIFEST_UNKNOWN", `manifest ${shown} unknown to repository ${name}`, { name, reference: shown });
}

function manifestKey(name: string, ref: Reference): string {
  return ref.kind === "tag" ? keys.tag(name, ref.tag) : keys.manifest(name, ref.digest);
}

/**
 * HEAD/GET: the manifest with (`withBody`) or without its bytes. With the edge cache on for this kind of reference,
 * a hit costs no storage read, and a miss reads the bytes (even for a HEAD: one read either way) to keep them.
 */
export async function getManifest(deps: RegistryDeps, name: string, ref: Reference, withBody: boolean): Promise<StoredManifest> {
  const cache = deps.edgeCache;
  if (cache?.cachesManifest(ref)) {
    const hit = await cache.manifest(name, ref);
    if (hit) return fromBytes(hit.digest, hit.mediaType, hit.bytes, withBody);
  }
  const key = manifestKey(name, ref);
  const cacheable = !!cache?.cachesManifest(ref);
  const obj = withBody || cacheable ? await deps.store.get(key) : await deps.store.head(key);
  if (!obj) unknown(name, ref);
  const digest = ref.kind === "digest" ? ref.digest : parseDigest(obj.metadata.digest ?? "");
  const body = "body" in obj ? (obj.body as ReadableStream<Uint8Array>) : undefined;
  if (!digest) {
    await body?.cancel();
    throw new RegistryError("UNKNOWN", "stored tag is missing its digest");
  }
  const mediaType = obj.contentType ?? "application/vnd.oci.image.manifest.v1+json";
  // Every manifest was at most MAX_MANIFEST_BYTES when pushed; a larger object (the limit was lowered) streams.
  if (cacheable && body && obj.size <= deps.settings.maxManifestBytes) {
    const bytes = new Uint8Array(await new Response(body).arrayBuffer());
    await cache!.keepManifest(name, ref, { digest, mediaType, bytes });
    return fromBytes(digest, mediaType, bytes, withBody);
  }
  if (!withBody) await body?.cancel();
  return { digest, mediaType, size: obj.size, body: withBody ? body : undefined };
}

function fromBytes(digest: Digest, mediaType: string, bytes: Uint8Array, withBody: boolean): StoredManifest {
  return { digest, mediaType, size: bytes.byteLength, body: withBody ? new Blob([bytes]).stream() : undefined };
}

/** DELETE by tag removes the tag; DELETE by digest removes the manifest, every tag on it and its referrer entry. */
export async function deleteManifest(deps: RegistryDeps, name: string, ref: Reference): Promise<void> {
  const { store } = deps;
  const immutable = matchesRepo(deps.settings.immutableTags, name);
  if (ref.kind === "tag") {
    if (!(await store.head(keys.tag(name, ref.tag)))) unknown(name, ref);
    if (immutable) throw immutableTag(name, ref.tag);
    await store.delete(keys.tag(name, ref.tag));
    return;
  }
  const key = keys.manifest(name, ref.digest);
  const head = await store.head(key);
  if (!head) unknown(name, ref);
  const digestText = formatDigest(ref.digest);
  const doomed: string[] = [key];
  let cursor: string | undefined;
  do {
    const page = await store.list({ prefix: keys.tagsPrefix(name), cursor, metadata: true });
    for (const o of page.objects) if (o.metadata.digest === digestText) doomed.push(o.key);
    cursor = page.cursor;
  } while (cursor);
  // Deleting the manifest would delete its tags, and free them to name another manifest.
  if (immutable && doomed.length > 1) throw immutableTag(name, doomed[1].slice(keys.tagsPrefix(name).length));
  const subject = head.metadata.subject ? parseDigest(head.metadata.subject) : null;
  if (subject) doomed.push(keys.referrer(name, subject, ref.digest));
  await store.delete(doomed);
}
