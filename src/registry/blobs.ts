// Blobs: content-addressed bytes shared across repositories, visible in a repository only through its link.
//
// Two keys per blob and repository: the link `repos/<n>/_blobs/<d>` says the repository holds the digest; the
// record `blobs/<d>` (blob-record.ts) says where the bytes are and whether garbage collection has condemned them.
// Readers take the data key from the record only: a link's own {size, data} metadata is written for compatibility
// and never trusted (after a re-upload it may name bytes the sweep deleted). docs/gc.md §2 and §5.
import { RegistryError } from "../protocol/errors";
import { formatDigest, type Digest } from "../protocol/digest";
import { keys } from "./paths";
import type { RegistryDeps } from "./deps";
import { createRecord, parseRecord, readRecord, recordMetadata, swapRecord, versionBody, type BlobRecord, type RecordFields } from "./blob-record";

export interface BlobLocation {
  digest: Digest;
  size: number;
  /** Key of the object holding the bytes. */
  dataKey: string;
}

/**
 * What a read is for. A HEAD (and a mount) must not tell a pusher it may skip a blob the sweep has tombstoned, so it
 * wants a `live` record; a GET serves a tombstone's bytes, still there until the sweep dooms them (docs/gc.md §5).
 */
export type BlobUse = "head" | "get";

function locationOf(record: BlobRecord): BlobLocation {
  return { digest: record.digest, size: record.size, dataKey: record.dataKey };
}

function serves(record: BlobRecord | null, use: BlobUse): record is BlobRecord {
  return record !== null && (record.state === "live" || (use === "get" && record.state === "tomb"));
}

/** Whether the repository holds the digest (its link), whatever the state of the bytes. */
export async function isLinked({ store }: RegistryDeps, name: string, digest: Digest): Promise<boolean> {
  return (await store.head(keys.repoBlob(name, digest))) !== null;
}

/**
 * The blob as the repository sees it, or null: its link must be present and its record serve `use`. Link and record
 * are read at once (one round trip of latency). A link without a record is unknown.
 */
export async function findBlob(deps: RegistryDeps, name: string, digest: Digest, use: BlobUse): Promise<BlobLocation | null> {
  const record = await findRecord(deps, name, digest, use);
  return record && locationOf(record);
}

/** findBlob's read: the record, when the link is present and the record serves `use`. */
async function findRecord(deps: RegistryDeps, name: string, digest: Digest, use: BlobUse): Promise<BlobRecord | null> {
  const [linked, record] = await Promise.all([isLinked(deps, name, digest), readRecord(deps.store, digest)]);
  return linked && serves(record, use) ? record : null;
}

function blobUnknown(name: string, digest: Digest): RegistryError {
  return new RegistryError("BLOB_UNKNOWN", `blob ${formatDigest(digest)} unknown to repository ${name}`, { digest: formatDigest(digest) });
}

export async function requireBlob(deps: RegistryDeps, name: string, digest: Digest, use: BlobUse): Promise<BlobLocation> {
  const blob = await findBlob(deps, name, digest, use);
  if (!blob) throw blobUnknown(name, digest);
  return blob;
}

/**
 * The pull path's blob (blob HEAD and GET), through the edge cache when it holds blob metadata: a hit costs no
 * storage read. Only a live record is kept, and what is kept never feeds a write decision (commit, mount and the
 * manifest PUT read storage): docs/gc.md §13.
 */
export async function serveBlob(deps: RegistryDeps, name: string, digest: Digest, use: BlobUse): Promise<BlobLocation> {
  const cache = deps.edgeCache;
  if (!cache?.cachesBlobs) return requireBlob(deps, name, digest, use);
  const hit = await cache.blob(name, digest);
  if (hit) return { digest, size: hit.size, dataKey: hit.dataKey };
  const record = await findRecord(deps, name, digest, use);
  if (!record) throw blobUnknown(name, digest);
  if (record.state === "live") await cache.keepBlob(name, digest, { size: record.size, dataKey: record.dataKey });
  return locationOf(record);
}

export async function linkBlob({ store }: RegistryDeps, name: string, blob: BlobLocation): Promise<void> {
  await store.put(keys.repoBlob(name, blob.digest), "", { metadata: { size: String(blob.size), data: blob.dataKey } });
}

/** Compare-and-swap rounds a commit tries against concurrent writers of one record before giving up with a 503. */
const COMMIT_ATTEMPTS = 5;

/**
 * Makes verified bytes at `dataKey` the blob `digest`. The first upload to complete a digest wins; a later
 * identical one deletes its own copy and links the existing bytes, so concurrent pushes never disagree. A record
 * garbage collection tombstoned or doomed is replaced, by compare-and-swap, with a fresh one naming this upload's
 * own bytes (never the old ones, which the sweep may be deleting). The record is written before the link: the
 * sweep's link repair relies on that order.
 */
export async function commitBlob(deps: RegistryDeps, name: string, digest: Digest, size: number, dataKey: string): Promise<BlobLocation> {
  const { store } = deps;
  const fresh = (): RecordFields => ({ size, dataKey, state: "live", at: Date.now() });
  const ours: BlobLocation = { digest, size, dataKey };
  let blob: BlobLocation | null = (await createRecord(store, digest, fresh())) ? ours : null;
  for (let attempt = 1; !blob; attempt++) {
    if (attempt > COMMIT_ATTEMPTS) {
      throw new RegistryError("UNAVAILABLE", `blob ${formatDigest(digest)} is being changed by concurrent requests; retry the upload`);
    }
    const info = await store.head(keys.blob(digest));
    if (!info) {
      if (await createRecord(store, digest, fresh())) blob = ours;
      continue;
    }
    const existing = parseRecord(digest, info);
    if (existing?.state === "live") {
      if (existing.dataKey !== dataKey) await store.delete(dataKey);
      blob = locationOf(existing);
    } else if (existing) {
      if (await swapRecord(store, existing, fresh())) blob = ours;
    } else if (await store.put(keys.blob(digest), versionBody(), { metadata: recordMetadata(fresh()), ifMatch: info.etag })) {
      blob = ours; // an object at the record's key that is no record: replaced like a dead one
    }
  }
  await linkBlob(deps, name, blob);
  return blob;
}

/** Removes the blob from the repository; the bytes stay for other repositories (garbage collection frees them). */
export async function unlinkBlob(deps: RegistryDeps, name: string, digest: Digest): Promise<void> {
  if (!(await isLinked(deps, name, digest))) throw blobUnknown(name, digest);
  await deps.store.delete(keys.repoBlob(name, digest));
}

/**
 * Mounts a blob from another repository (or from anywhere, for a caller who may read everything); returns null when
 * `from` does not hold it or its record is not live, and the client uploads it instead (docs/gc.md §6 row 8).
 */
export async function mountBlob(deps: RegistryDeps, name: string, digest: Digest, from: string | null): Promise<BlobLocation | null> {
  const [linked, record] = await Promise.all([from ? isLinked(deps, from, digest) : true, readRecord(deps.store, digest)]);
  if (!linked || !serves(record, "head")) return null;
  const blob = locationOf(record);
  await linkBlob(deps, name, blob);
  return blob;
}
