// Manifests: stored per repository by digest, with each tag holding a copy so that a pull by tag is one read.
import { RegistryError } from "../protocol/errors";
import { digestBytes, formatDigest, parseDigest, type Digest } from "../protocol/digest";
import { parseManifest, referrerDescriptor, type ParsedManifest } from "../protocol/manifest";
import { requireTag, type Reference } from "../protocol/names";
import { keys } from "./paths";
import type { RegistryDeps } from "./deps";
import { statBlob } from "./blobs";
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
 * Checks that every blob and child manifest the manifest names is in the repository: one read per distinct digest
 * (a manifest may name one blob many times), at most REFERENCE_CHECK_CONCURRENCY at once, and no new read once a
 * reference is missing or a read failed. parseManifest has capped the number of descriptors.
 */
async function checkReferences(deps: RegistryDeps, name: string, parsed: ParsedManifest): Promise<void> {
  // Keyed by kind and digest: a blob and a child manifest with one digest are two different checks.
  const checks = new Map<string, { digest: string; exists: () => Promise<boolean> }>();
  for (const d of parsed.blobs) {
    const digest = formatDigest(d);
    checks.set(`blob ${digest}`, { digest, exists: async () => (await statBlob(deps, name, d)) !== null });
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
  await checkReferences(deps, name, parsed);

  const digestText = formatDigest(digest);
  const subject = parsed.subject ? parseDigest(parsed.subject.digest)! : undefined;
  const metadata: Record<string, string> = subject ? { subject: formatDigest(subject) } : {};
  await store.put(keys.manifest(name, digest), bytes, { contentType: parsed.mediaType, metadata });
  const writes: Promise<unknown>[] = tags.map((tag) =>
    store.put(keys.tag(name, tag), bytes, { contentType: parsed.mediaType, metadata: { digest: digestText } }),
  );
  if (subject) {
    const descriptor = referrerDescriptor(parsed, digest, bytes.byteLength);
    writes.push(store.put(keys.referrer(name, subject, digest), JSON.stringify(descriptor), { contentType: "application/json" }));
  }
  writes.push(store.put(keys.catalog(name), ""));
  await Promise.all(writes);
  return { digest, subject: subject ? formatDigest(subject) : undefined };
}

function unknown(name: string, ref: Reference): never {
  const shown = ref.kind === "tag" ? ref.tag : formatDigest(ref.digest);
  throw new RegistryError("MANIFEST_UNKNOWN", `manifest ${shown} unknown to repository ${name}`, { name, reference: shown });
}

function manifestKey(name: string, ref: Reference): string {
  return ref.kind === "tag" ? keys.tag(name, ref.tag) : keys.manifest(name, ref.digest);
}

/** HEAD/GET: the manifest with (`withBody`) or without its bytes. */
export async function getManifest(deps: RegistryDeps, name: string, ref: Reference, withBody: boolean): Promise<StoredManifest> {
  const key = manifestKey(name, ref);
  const obj = withBody ? await deps.store.get(key) : await deps.store.head(key);
  if (!obj) unknown(name, ref);
  const digest = ref.kind === "digest" ? ref.digest : parseDigest(obj.metadata.digest ?? "");
  if (!digest) throw new RegistryError("UNKNOWN", "stored tag is missing its digest");
  return {
    digest,
    mediaType: obj.contentType ?? "application/vnd.oci.image.manifest.v1+json",
    size: obj.size,
    body: "body" in obj ? (obj.body as ReadableStream<Uint8Array>) : undefined,
  };
}

/** DELETE by tag removes the tag; DELETE by digest removes the manifest, every tag on it and its referrer entry. */
export async function deleteManifest(deps: RegistryDeps, name: string, ref: Reference): Promise<void> {
  const { store } = deps;
  if (ref.kind === "tag") {
    if (!(await store.head(keys.tag(name, ref.tag)))) unknown(name, ref);
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
  const subject = head.metadata.subject ? parseDigest(head.metadata.subject) : null;
  if (subject) doomed.push(keys.referrer(name, subject, ref.digest));
  await store.delete(doomed);
}
