// Parsing and validating manifests (OCI image manifest and index, Docker schema2 manifest and manifest list).
// Pure: it says what a manifest references; the registry checks that those exist.
import { RegistryError } from "./errors";
import { parseDigest, formatDigest, type Digest } from "./digest";
import { MANIFEST_KINDS, FOREIGN_LAYER_TYPES, essence, isValidMediaType, type ManifestKind } from "./mediatypes";
import { checkJsonLimits, type JsonLimits } from "./json-limits";

/**
 * Most descriptors one manifest may hold: config, layers, index entries and subject together. Each distinct one
 * costs a storage read when the manifest is pushed (a subrequest: the Free plan allows 1,000 per request), and real
 * images stay far below (overlayfs stacks at most 128 layers). Beyond it: 400 MANIFEST_INVALID before any read.
 */
export const MAX_MANIFEST_REFERENCES = 1000;

/**
 * What JSON.parse may be asked to build from a manifest (checked on the bytes first, see json-limits.ts). A real
 * manifest nests 5 deep (index, manifests, entry, platform, os.features) and a 1,000-entry index with platforms and
 * a few annotations is about 25,000 tokens.
 */
export const MANIFEST_JSON_LIMITS: JsonLimits = { maxDepth: 32, maxTokens: 100_000 };

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
  urls?: string[];
  platform?: unknown;
}

export interface ParsedManifest {
  mediaType: string;
  kind: ManifestKind;
  /** Blobs the registry must hold in the repository (config and layers, foreign layers excepted). */
  blobs: Digest[];
  /**
   * Foreign layers (a foreign media type with `urls`): a push need not hold them, but one that did (docker with
   * allow-nondistributable-artifacts) must keep them, so garbage collection marks them too.
   */
  foreignBlobs: Digest[];
  /** Manifests the registry must hold in the repository (entries of an index). */
  manifests: Digest[];
  subject?: Descriptor;
  /** `artifactType`, or for an image manifest without one, its config's media type (as referrers reports it). */
  artifactType?: string;
  annotations?: Record<string, string>;
}

function invalid(message: string, detail?: unknown): never {
  throw new RegistryError("MANIFEST_INVALID", message, detail);
}

function parseDescriptor(value: unknown, where: string): Descriptor {
  if (typeof value !== "object" || value === null || Array.isArray(value)) invalid(`${where}: descriptor must be an object`);
  const d = value as Record<string, unknown>;
  if (!isValidMediaType(d.mediaType)) invalid(`${where}: mediaType missing or invalid`);
  if (typeof d.digest !== "string" || !parseDigest(d.digest)) invalid(`${where}: digest missing or invalid`);
  if (typeof d.size !== "number" || !Number.isSafeInteger(d.size) || d.size < 0) invalid(`${where}: size must be a non-negative integer`);
  if (d.artifactType !== undefined && !isValidMediaType(d.artifactType)) invalid(`${where}: artifactType invalid`);
  if (d.urls !== undefined && (!Array.isArray(d.urls) || d.urls.some((u) => typeof u !== "string"))) invalid(`${where}: urls must be strings`);
  if (d.annotations !== undefined) checkAnnotations(d.annotations, `${where}.annotations`);
  return d as unknown as Descriptor;
}

function checkAnnotations(value: unknown, where: string): asserts value is Record<string, string> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) invalid(`${where} must be an object`);
  for (const v of Object.values(value as object)) if (typeof v !== "string") invalid(`${where} values must be strings`);
}

/**
 * Parses manifest bytes sent with `contentType`. The media type is the body's `mediaType` field, else the
 * Content-Type; when both are present they must agree.
 */
export function parseManifest(bytes: Uint8Array, contentType: string | null): ParsedManifest {
  const exceeded = checkJsonLimits(bytes, MANIFEST_JSON_LIMITS);
  if (exceeded?.limit === "depth") invalid(`manifest JSON is nested deeper than ${exceeded.max} levels (at byte ${exceeded.offset})`, { limit: exceeded.max });
  if (exceeded) invalid(`manifest has more than ${exceeded.max} JSON tokens (arrays, objects, strings, numbers, literals)`, { limit: exceeded.max });
  let doc: unknown;
  try {
    doc = JSON.parse(new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(bytes));
  } catch {
    invalid("manifest is not valid UTF-8 JSON");
  }
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) invalid("manifest must be a JSON object");
  const m = doc as Record<string, unknown>;
  if (m.schemaVersion !== 2) invalid("unsupported schemaVersion: only 2 is accepted");

  const headerType = essence(contentType);
  const bodyType = m.mediaType;
  if (bodyType !== undefined && typeof bodyType !== "string") invalid("mediaType must be a string");
  let mediaType: string;
  if (bodyType !== undefined) {
    if (headerType && MANIFEST_KINDS[headerType] && headerType !== bodyType) {
      invalid(`mediaType ${JSON.stringify(bodyType)} does not match Content-Type ${JSON.stringify(headerType)}`);
    }
    mediaType = bodyType;
  } else if (headerType && MANIFEST_KINDS[headerType]) {
    mediaType = headerType;
  } else {
    // Neither says: infer as the OCI image spec allows for manifests without mediaType.
    mediaType = Array.isArray(m.manifests) ? "application/vnd.oci.image.index.v1+json" : "application/vnd.oci.image.manifest.v1+json";
  }
  const kind = MANIFEST_KINDS[mediaType];
  if (!kind) invalid(`unsupported manifest media type ${JSON.stringify(mediaType.slice(0, 200))}`);

  if (m.artifactType !== undefined && !isValidMediaType(m.artifactType)) invalid("artifactType invalid");
  if (m.annotations !== undefined) checkAnnotations(m.annotations, "annotations");
  const subject = m.subject === undefined ? undefined : parseDescriptor(m.subject, "subject");
  // Counted before any descriptor is read, so a huge list costs no more than its length.
  const listed = kind === "image" ? 1 + (Array.isArray(m.layers) ? m.layers.length : 0) : Array.isArray(m.manifests) ? m.manifests.length : 0;
  const references = listed + (subject ? 1 : 0);
  if (references > MAX_MANIFEST_REFERENCES) {
    invalid(`manifest has ${references} descriptors (config, layers, manifests and subject); at most ${MAX_MANIFEST_REFERENCES} are accepted`, {
      limit: MAX_MANIFEST_REFERENCES,
      references,
    });
  }

  const result: ParsedManifest = { mediaType, kind, blobs: [], foreignBlobs: [], manifests: [], subject, annotations: m.annotations as Record<string, string> | undefined };
  if (kind === "image") {
    if (Array.isArray(m.manifests)) invalid("an image manifest has no manifests field");
    const config = parseDescriptor(m.config, "config");
    if (!Array.isArray(m.layers)) invalid("layers must be an array");
    const layers = m.layers.map((l, i) => parseDescriptor(l, `layers[${i}]`));
    result.blobs.push(parseDigest(config.digest)!);
    for (const layer of layers) {
      const foreign = FOREIGN_LAYER_TYPES.has(layer.mediaType) && layer.urls?.length;
      (foreign ? result.foreignBlobs : result.blobs).push(parseDigest(layer.digest)!);
    }
    result.artifactType = (m.artifactType as string | undefined) ?? config.mediaType;
  } else {
    if (!Array.isArray(m.manifests)) invalid("manifests must be an array");
    if (m.layers !== undefined || m.config !== undefined) invalid("an index has no config or layers");
    const entries = m.manifests.map((e, i) => parseDescriptor(e, `manifests[${i}]`));
    for (const e of entries) result.manifests.push(parseDigest(e.digest)!);
    result.artifactType = m.artifactType as string | undefined;
  }
  return result;
}

/** The descriptor of a manifest as a referrers index lists it. */
export function referrerDescriptor(parsed: ParsedManifest, digest: Digest, size: number): Descriptor {
  const d: Descriptor = { mediaType: parsed.mediaType, digest: formatDigest(digest), size };
  if (parsed.artifactType) d.artifactType = parsed.artifactType;
  if (parsed.annotations && Object.keys(parsed.annotations).length) d.annotations = parsed.annotations;
  return d;
}
