// What sources know of OCI and docker image JSON: media types, descriptors, and checked parsing. Pure, no I/O.
import { createHash } from "node:crypto";

export const OCI_INDEX = "application/vnd.oci.image.index.v1+json";
export const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
export const OCI_CONFIG = "application/vnd.oci.image.config.v1+json";
export const OCI_LAYER_TAR = "application/vnd.oci.image.layer.v1.tar";
export const DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json";
export const DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json";
/** Deprecated OCI artifact manifest (image-spec 1.1-rc); registries may refuse it, but a layout may hold one. */
export const OCI_ARTIFACT = "application/vnd.oci.artifact.manifest.v1+json";

export const INDEX_TYPES = new Set([OCI_INDEX, DOCKER_LIST]);
export const MANIFEST_TYPES = new Set([OCI_MANIFEST, DOCKER_MANIFEST, OCI_ARTIFACT]);

/** The annotation naming an index.json entry (a tag, or a whole reference). */
export const REF_NAME = "org.opencontainers.image.ref.name";
/** containerd's (and docker ≥ 25 save's) full image name annotation. */
export const CONTAINERD_NAME = "io.containerd.image.name";

/** Manifests, configs and indexes are small; anything larger is not one (registries cap manifests at 4 MiB). */
export const MAX_JSON_BYTES = 4 * 1024 * 1024;

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
  urls?: string[];
  platform?: { os?: string; architecture?: string; variant?: string };
}

/** A manifest or index read and checked: its exact bytes and what it points at. */
export interface ParsedManifest {
  digest: string;
  mediaType: string;
  bytes: Buffer;
  /** index: the manifests it lists */
  children: Descriptor[];
  /** image manifest: config then layers (and an artifact manifest's blobs) */
  blobs: Descriptor[];
  subject?: Descriptor;
}

export class SourceError extends Error {
  override name = "SourceError";
}

const SHA256 = /^sha256:[0-9a-f]{64}$/;
const SHA512 = /^sha512:[0-9a-f]{128}$/;

export function isDigest(d: unknown): d is string {
  return typeof d === "string" && (SHA256.test(d) || SHA512.test(d));
}

export function digestOf(bytes: Buffer | Uint8Array, algorithm: "sha256" | "sha512" = "sha256"): string {
  return `${algorithm}:${createHash(algorithm).update(bytes).digest("hex")}`;
}

/** Checks bytes against the digest that names them. */
export function verifyDigest(bytes: Buffer, digest: string, where: string): void {
  const alg = digest.startsWith("sha512:") ? "sha512" : "sha256";
  const actual = digestOf(bytes, alg);
  if (actual !== digest) throw new SourceError(`${where}: content does not match its digest ${digest} (it hashes to ${actual})`);
}

export function parseJson(bytes: Buffer, where: string): unknown {
  try {
    return JSON.parse(bytes.toString("utf8"));
  } catch (err) {
    throw new SourceError(`${where} is not valid JSON: ${(err as Error).message}`);
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

export function parseDescriptor(v: unknown, where: string): Descriptor {
  if (!isObject(v)) throw new SourceError(`${where}: a descriptor is not a JSON object`);
  const { mediaType, digest, size } = v;
  if (typeof mediaType !== "string" || !mediaType) throw new SourceError(`${where}: a descriptor has no mediaType`);
  if (!isDigest(digest)) throw new SourceError(`${where}: bad digest ${JSON.stringify(digest)?.slice(0, 100)} (expected sha256:<64 hex> or sha512:<128 hex>)`);
  if (typeof size !== "number" || !Number.isSafeInteger(size) || size < 0) throw new SourceError(`${where}: descriptor ${digest} has a bad size ${JSON.stringify(size)}`);
  const d: Descriptor = { mediaType, digest, size };
  if (isObject(v.annotations)) d.annotations = Object.fromEntries(Object.entries(v.annotations).filter((e): e is [string, string] => typeof e[1] === "string"));
  if (Array.isArray(v.urls)) d.urls = v.urls.filter((u): u is string => typeof u === "string");
  if (isObject(v.platform)) d.platform = v.platform as Descriptor["platform"];
  return d;
}

function descriptors(v: unknown, where: string): Descriptor[] {
  if (v === undefined) return [];
  if (!Array.isArray(v)) throw new SourceError(`${where}: expected an array of descriptors`);
  return v.map((d, i) => parseDescriptor(d, `${where}[${i}]`));
}

/**
 * Parses a manifest or index. `declared` is the media type its referrer named (the descriptor pointing at it);
 * the document's own mediaType wins, and without either the shape decides (manifests → index, config → manifest).
 */
export function parseManifest(bytes: Buffer, digest: string, where: string, declared?: string): ParsedManifest {
  const doc = parseJson(bytes, where);
  if (!isObject(doc)) throw new SourceError(`${where} is not a JSON object`);
  if (doc.schemaVersion !== 2) throw new SourceError(`${where}: schemaVersion is ${JSON.stringify(doc.schemaVersion)}, only 2 is supported`);
  const own = typeof doc.mediaType === "string" ? doc.mediaType : undefined;
  const mediaType = own ?? declared ?? (Array.isArray(doc.manifests) ? OCI_INDEX : OCI_MANIFEST);
  const out: ParsedManifest = { digest, mediaType, bytes, children: [], blobs: [] };
  if (INDEX_TYPES.has(mediaType)) {
    out.children = descriptors(doc.manifests, `${where} manifests`);
  } else if (MANIFEST_TYPES.has(mediaType)) {
    if (doc.config !== undefined) out.blobs.push(parseDescriptor(doc.config, `${where} config`));
    out.blobs.push(...descriptors(doc.layers, `${where} layers`), ...descriptors(doc.blobs, `${where} blobs`));
  } else {
    throw new SourceError(`${where}: unsupported manifest media type ${JSON.stringify(mediaType)}`);
  }
  if (doc.subject !== undefined) out.subject = parseDescriptor(doc.subject, `${where} subject`);
  return out;
}

/** A layer that registries need not hold (foreign/non-distributable, fetched from its urls). */
export function isForeignLayer(d: Descriptor): boolean {
  return /foreign|nondistributable/.test(d.mediaType) && Boolean(d.urls?.length);
}
