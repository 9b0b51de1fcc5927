// What a stored manifest keeps alive: the digests garbage collection marks from it (docs/gc.md, "Roots and marks").
// Pure: the parsing and validation are parseManifest's (manifest.ts); this only turns its result into distinct
// digests, so that the mark reads each referenced record once however often a manifest names it.
import { formatDigest, parseDigest, type Digest } from "./digest";
import { parseManifest, type ParsedManifest } from "./manifest";
import type { ManifestKind } from "./mediatypes";

export interface ManifestReferences {
  kind: ManifestKind;
  /**
   * Blobs: the config and the layers, each once, in the order the manifest first names them, then foreign layers
   * (with `urls`) that a push need not hold but that are kept when the registry has them (docs/gc.md §12.1).
   */
  blobs: Digest[];
  /** Child manifests of an index, each once, in order. */
  manifests: Digest[];
  /** The manifest this one is a referrer of. It may not exist in the repository (a referrer may come first). */
  subject?: Digest;
}

function distinct(digests: Digest[]): Digest[] {
  const seen = new Set<string>();
  return digests.filter((d) => {
    const key = formatDigest(d);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** The references of a manifest parseManifest has accepted (so the subject's digest is known to parse). */
export function referencesOf(parsed: ParsedManifest): ManifestReferences {
  const refs: ManifestReferences = { kind: parsed.kind, blobs: distinct([...parsed.blobs, ...parsed.foreignBlobs]), manifests: distinct(parsed.manifests) };
  if (parsed.subject) refs.subject = parseDigest(parsed.subject.digest)!;
  return refs;
}

/**
 * The references of stored manifest bytes, given the media type they were stored with (the object's Content-Type).
 * Throws RegistryError MANIFEST_INVALID exactly when parseManifest does: a caller marking for garbage collection
 * must stop the run on that, never treat the manifest as referencing nothing.
 */
export function manifestReferences(mediaType: string | null, bytes: Uint8Array): ManifestReferences {
  return referencesOf(parseManifest(bytes, mediaType));
}
