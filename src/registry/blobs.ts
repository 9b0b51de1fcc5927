// Blobs: content-addressed bytes shared across repositories, visible in a repository only through its link.
import { RegistryError } from "../protocol/errors";
import { formatDigest, type Digest } from "../protocol/digest";
import { keys } from "./paths";
import type { RegistryDeps } from "./deps";

export interface BlobLocation {
  digest: Digest;
  size: number;
  /** Key of the object holding the bytes. */
  dataKey: string;
}

function fromMetadata(digest: Digest, metadata: Record<string, string>): BlobLocation | null {
  const size = Number(metadata.size);
  if (!metadata.data || !Number.isSafeInteger(size)) return null;
  return { digest, size, dataKey: metadata.data };
}

/** The blob as the repository sees it, or null when it was never pushed or mounted there. */
export async function statBlob({ store }: RegistryDeps, name: string, digest: Digest): Promise<BlobLocation | null> {
  const link = await store.head(keys.repoBlob(name, digest));
  return link ? fromMetadata(digest, link.metadata) : null;
}

export async function requireBlob(deps: RegistryDeps, name: string, digest: Digest): Promise<BlobLocation> {
  const blob = await statBlob(deps, name, digest);
  if (!blob) throw new RegistryError("BLOB_UNKNOWN", `blob ${formatDigest(digest)} unknown to repository ${name}`, { digest: formatDigest(digest) });
  return blob;
}

/** The blob in the shared store, whichever repository holds it. */
export async function statGlobalBlob({ store }: RegistryDeps, digest: Digest): Promise<BlobLocation | null> {
  const record = await store.head(keys.blob(digest));
  return record ? fromMetadata(digest, record.metadata) : null;
}

export async function linkBlob({ store }: RegistryDeps, name: string, blob: BlobLocation): Promise<void> {
  await store.put(keys.repoBlob(name, blob.digest), "", { metadata: { size: String(blob.size), data: blob.dataKey } });
}

/**
 * Makes verified bytes at `dataKey` the blob `digest`. The first upload to complete a digest wins; a later
 * identical one deletes its own copy and links the existing bytes, so concurrent pushes never disagree.
 */
export async function commitBlob(deps: RegistryDeps, name: string, digest: Digest, size: number, dataKey: string): Promise<BlobLocation> {
  const { store } = deps;
  const created = await store.put(keys.blob(digest), "", { metadata: { size: String(size), data: dataKey }, ifNoneMatch: "*" });
  let blob: BlobLocation = { digest, size, dataKey };
  if (!created) {
    const existing = await statGlobalBlob(deps, digest);
    if (existing && existing.dataKey !== dataKey) {
      await store.delete(dataKey);
      blob = existing;
    }
  }
  await linkBlob(deps, name, blob);
  return blob;
}

/** Removes the blob from the repository; the bytes stay for other repositories (garbage collection frees them). */
export async function unlinkBlob(deps: RegistryDeps, name: string, digest: Digest): Promise<void> {
  await requireBlob(deps, name, digest);
  await deps.store.delete(keys.repoBlob(name, digest));
}

/** Mounts a blob from another repository; returns null when `from` does not hold it. */
export async function mountBlob(deps: RegistryDeps, name: string, digest: Digest, from: string | null): Promise<BlobLocation | null> {
  const blob = from ? await statBlob(deps, from, digest) : await statGlobalBlob(deps, digest);
  if (!blob) return null;
  await linkBlob(deps, name, blob);
  return blob;
}
