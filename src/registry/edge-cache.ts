// The edge cache: what never changes, kept in the Workers Cache API of the colo that served it, so a fleet pulling
// one image costs one storage read per colo instead of one per node (docs/architecture.md "Edge cache").
//
// Cached: a manifest fetched by digest (its bytes), blob metadata (size and data key, what blob HEAD and GET need),
// and, only when TAG_CACHE_SECONDS > 0, a tag lookup. Rules that keep it safe:
// - The key is the storage key of the thing (`repos/<name>/_manifests/<d>`, `repos/<name>/_blobs/<d>`,
//   `repos/<name>/_tags/<t>`) on a synthetic URL: it names the repository, and callers look up only after the request
//   was authorized for that repository. A digest present in repository A is never found under repository B's key.
// - Only what storage answered as present (and, for a blob, live) is put: never an error, never a denial, and
//   nothing that depends on who asks.
// - Every delete of such a key through the store (manifest and blob DELETE, tag moves, garbage collection and
//   retention) purges this colo's entry (`purgingStore`); other colos stop serving within the entry's lifetime.
// - Blob metadata from here answers HEAD and GET only, never a write decision (commit, mount, the manifest PUT's
//   checks read storage). Why a cached "live" stays harmless: docs/gc.md §13.
// A Cache API failure is a miss: the cache only saves reads, storage stays the truth.
import { formatDigest, parseDigest, type Digest } from "../protocol/digest";
import type { Reference } from "../protocol/names";
import type { ListOptions, ObjectStore, PartRef, PutBody, PutOptions } from "../storage/types";
import { keys } from "./paths";

export interface EdgeCacheOptions {
  /** Seconds a manifest fetched by digest is kept; 0 = not cached. */
  manifestSeconds: number;
  /** Seconds blob metadata is kept; 0 = not cached. */
  blobSeconds: number;
  /** Seconds a tag lookup is kept; 0 = tags are never cached. */
  tagSeconds: number;
  /**
   * Origin of the synthetic keys (`https://<host>`): the registry's own host name (AUTH_SERVICE), so two
   * registries sharing a zone, and so one Cache API, never share entries.
   */
  origin: string;
}

export interface CachedManifest {
  digest: Digest;
  mediaType: string;
  bytes: Uint8Array;
}

export interface CachedBlob {
  size: number;
  dataKey: string;
}

const PATH = "/_skiff/edge-cache/v1/";
// Header names of the entries' own fields (the entries are never sent to a client).
const DIGEST = "skiff-digest";
const SIZE = "skiff-size";
const DATA = "skiff-data";

// The storage keys whose entries this cache may hold, and so must purge when they are deleted or rewritten.
const CACHED_KEY = /^repos\/.+\/_(manifests|blobs|tags)\//;
/**
 * Purges per store call at most: each is a subrequest, and a bulk delete (retention's batches) must stay within a
 * step's budget. Entries past it are left to expire, as in other colos (the stated bound).
 */
export const MAX_PURGES_PER_CALL = 100;

export class EdgeCache {
  constructor(
    private readonly cache: Cache,
    readonly options: EdgeCacheOptions,
  ) {}

  private url(storeKey: string): string {
    // Each path segment stays as it is in storage: names, tags and digests are already URL-safe.
    return `${this.options.origin}${PATH}${storeKey}`;
  }

  /** The storage key and lifetime of a manifest lookup, or null when this kind of reference is not cached. */
  private manifestEntry(name: string, ref: Reference): { key: string; seconds: number } | null {
    if (ref.kind === "digest") return this.options.manifestSeconds > 0 ? { key: keys.manifest(name, ref.digest), seconds: this.options.manifestSeconds } : null;
    return this.options.tagSeconds > 0 ? { key: keys.tag(name, ref.tag), seconds: this.options.tagSeconds } : null;
  }

  cachesManifest(ref: Reference): boolean {
    return (ref.kind === "digest" ? this.options.manifestSeconds : this.options.tagSeconds) > 0;
  }

  get cachesBlobs(): boolean {
    return this.options.blobSeconds > 0;
  }

  async manifest(name: string, ref: Reference): Promise<CachedManifest | null> {
    const entry = this.manifestEntry(name, ref);
    if (!entry) return null;
    const hit = await this.match(entry.key);
    if (!hit) return null;
    const digest = ref.kind === "digest" ? ref.digest : parseDigest(hit.headers.get(DIGEST) ?? "");
    const mediaType = hit.headers.get("content-type");
    if (!digest || !mediaType) return null;
    return { digest, mediaType, bytes: new Uint8Array(await hit.arrayBuffer()) };
  }

  async keepManifest(name: string, ref: Reference, m: CachedManifest): Promise<void> {
    const entry = this.manifestEntry(name, ref);
    if (!entry) return;
    await this.put(entry.key, entry.seconds, m.bytes, { "content-type": m.mediaType, [DIGEST]: formatDigest(m.digest) });
  }

  async blob(name: string, digest: Digest): Promise<CachedBlob | null> {
    if (!this.cachesBlobs) return null;
    const hit = await this.match(keys.repoBlob(name, digest));
    if (!hit) return null;
    await hit.body?.cancel();
    const size = hit.headers.get(SIZE);
    const dataKey = hit.headers.get(DATA);
    if (!dataKey || !size || !/^\d{1,16}$/.test(size)) return null;
    return { size: Number(size), dataKey };
  }

  /** Only for a blob storage just answered as linked in `name` with a live record. */
  async keepBlob(name: string, digest: Digest, blob: CachedBlob): Promise<void> {
    if (!this.cachesBlobs) return;
    await this.put(keys.repoBlob(name, digest), this.options.blobSeconds, null, { [SIZE]: String(blob.size), [DATA]: blob.dataKey });
  }

  /** Drops this colo's entries for the given storage keys (the others are no entries of ours). */
  async purge(storeKeys: string[]): Promise<void> {
    const ours = storeKeys.filter((k) => CACHED_KEY.test(k)).slice(0, MAX_PURGES_PER_CALL);
    await Promise.all(ours.map((k) => this.cache.delete(this.url(k)).catch(() => false)));
  }

  private async match(storeKey: string): Promise<Response | null> {
    try {
      const hit = await this.cache.match(this.url(storeKey));
      return hit && hit.status === 200 ? hit : null;
    } catch {
      return null;
    }
  }

  private async put(storeKey: string, seconds: number, body: Uint8Array | null, headers: Record<string, string>): Promise<void> {
    const response = new Response(body, { status: 200, headers: { ...headers, "cache-control": `max-age=${seconds}` } });
    try {
      await this.cache.put(this.url(storeKey), response);
    } catch {
      // Not kept: the next request reads storage again.
    }
  }
}

/**
 * The store, purging this colo's cache entry of every cached key deleted or rewritten through it: one place that sees
 * every write, whoever makes it (the registry's operations, garbage collection, retention). The purge follows the
 * storage write, so a reader that read storage just before the write may put an old entry back: then the entry's
 * lifetime is the bound, as in other colos.
 */
export class PurgingStore implements ObjectStore {
  constructor(
    readonly inner: ObjectStore,
    private readonly cache: EdgeCache,
  ) {}

  async delete(k: string | string[]): Promise<void> {
    await this.inner.delete(k);
    await this.cache.purge(Array.isArray(k) ? k : [k]);
  }
  async put(key: string, body: PutBody, opts?: PutOptions) {
    const saved = await this.inner.put(key, body, opts);
    // A tag moved, a link rewritten by a new upload: this colo serves the new state at once.
    if (saved) await this.cache.purge([key]);
    return saved;
  }
  head(key: string) {
    return this.inner.head(key);
  }
  get(key: string, range?: { offset: number; length: number }) {
    return this.inner.get(key, range);
  }
  list(opts: ListOptions) {
    return this.inner.list(opts);
  }
  createMultipart(key: string) {
    return this.inner.createMultipart(key);
  }
  uploadPart(key: string, uploadId: string, partNumber: number, body: Uint8Array, length: number) {
    return this.inner.uploadPart(key, uploadId, partNumber, body, length);
  }
  completeMultipart(key: string, uploadId: string, parts: PartRef[]) {
    return this.inner.completeMultipart(key, uploadId, parts);
  }
  abortMultipart(key: string, uploadId: string) {
    return this.inner.abortMultipart(key, uploadId);
  }
}
