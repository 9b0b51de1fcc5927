// `docker-archive:PATH[:REF]` (and the engine's `docker save` stream): a tarball read once, front to back. Each blob
// is yielded as its entry arrives and streams straight from the tar to the engine; only small JSON (configs,
// manifests, index.json, manifest.json) is kept. Two formats:
//   legacy (docker ≤ 24, skopeo): manifest.json lists Config "<hex>.json" and Layers "<id>/layer.tar" (uncompressed
//     tars, named by no digest: hashed on the way); the manifest is built here at the end.
//   OCI (docker ≥ 25): an OCI layout inside the tar (oci-layout, index.json, blobs/sha256/<hex>); its manifests are
//     pushed as they are.
import { createHash, type Hash } from "node:crypto";
import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import path from "node:path";
import { Readable } from "node:stream";
import type { ImageSource, SourceBlob, SourceManifest } from "../types";
import { sameImageName } from "../registry/reference";
import {
  CONTAINERD_NAME, digestOf, INDEX_TYPES, isDigest, MANIFEST_TYPES, MAX_JSON_BYTES, OCI_CONFIG, OCI_LAYER_TAR, OCI_MANIFEST,
  parseDescriptor, parseJson, parseManifest, REF_NAME, SourceError, verifyDigest, type Descriptor, type ParsedManifest,
} from "./oci";
import { planPush } from "./push-plan";
import { drain, readAll, relay, tarEntries, type TarEntry } from "./tar-entries";

/** A legacy layer as it went by: its digest, computed here while the engine read it. */
interface SeenLayer {
  digest: string;
  size: number;
}

interface ArchiveState {
  /** small JSON files by entry name: manifest.json, index.json, oci-layout, legacy configs */
  json: Map<string, Buffer>;
  /** manifests and indexes found in blobs/, by digest */
  manifests: Map<string, ParsedManifest>;
  /** legacy layers by entry name */
  layers: Map<string, SeenLayer>;
  /** digests of every blob yielded */
  blobs: Set<string>;
  /** symlinks and hard links: entry name → the name it points at */
  links: Map<string, string>;
  /** digests the engine reported for blobs yielded without one, by entry name */
  reported: Map<string, string>;
}

const LEGACY_CONFIG = /^([0-9a-f]{64})\.json$/;
const OCI_BLOB = /^blobs\/(sha256|sha512)\/([0-9a-f]+)$/;
/** Legacy metadata that no manifest needs. */
const IRRELEVANT = /^(repositories|[^/]+\/(json|VERSION))$/;

export interface ArchiveOptions {
  /** what the user named, for messages */
  describe: string;
  /** The image to push when the archive holds several (matched against RepoTags / image names). */
  ref?: string;
  /** A stable prefix for resume keys of unhashed layers (the archive's path, or the daemon's image id). */
  resumePrefix: string;
  /** Called by close(): stop producing the tar (kill the request, close the file). */
  stop?: () => void;
}

/** A sequential source over a tar stream made by `docker save` or skopeo. */
export function dockerArchiveSource(input: Readable, opts: ArchiveOptions): ImageSource {
  const { describe } = opts;
  const state: ArchiveState = { json: new Map(), manifests: new Map(), layers: new Map(), blobs: new Set(), links: new Map(), reported: new Map() };
  let started = false;
  let ended = false;
  let planned: Promise<SourceManifest[]> | null = null;

  async function* blobs(): AsyncGenerator<SourceBlob> {
    if (started) throw new Error(`${describe}: blobs() can be read once (a tar stream is read front to back)`);
    started = true;
    for await (const entry of tarEntries(input)) {
      const type = entry.header.type;
      if (type === "symlink" || type === "link") {
        const target = entry.header.linkname ?? "";
        state.links.set(entry.name, type === "symlink" ? path.posix.normalize(path.posix.join(path.posix.dirname(entry.name), target)) : target.replace(/^(\.\/)+/, ""));
        await drain(entry);
        continue;
      }
      if (type !== "file" && type !== "contiguous-file") {
        await drain(entry);
        continue;
      }
      const size = entry.header.size ?? 0;
      const name = entry.name;
      const oci = OCI_BLOB.exec(name);
      if (name === "manifest.json" || name === "index.json" || name === "oci-layout") {
        state.json.set(name, await readSmall(entry, size, describe));
      } else if (IRRELEVANT.test(name)) {
        await drain(entry);
      } else if (LEGACY_CONFIG.test(name)) {
        const bytes = await readSmall(entry, size, describe);
        const digest = `sha256:${LEGACY_CONFIG.exec(name)![1]}`;
        verifyDigest(bytes, digest, `${describe}: ${name}`);
        state.json.set(name, bytes);
        yield* yieldMemory(bytes, digest, state);
      } else if (oci) {
        const digest = `${oci[1]}:${oci[2]}`;
        if (!isDigest(digest)) throw new SourceError(`${describe}: ${name} is not named by a valid digest`);
        if (size <= MAX_JSON_BYTES) {
          // Small: maybe a manifest or an index (kept, pushed as manifests), else a config or small layer.
          const bytes = await readAll(entry);
          verifyDigest(bytes, digest, `${describe}: ${name}`);
          const manifest = asManifest(bytes, digest, `${describe}: ${name}`);
          if (manifest) state.manifests.set(digest, manifest);
          else yield* yieldMemory(bytes, digest, state);
        } else {
          yield* yieldStreamed(entry, { digest, size, resumeKey: digest }, state, describe);
        }
      } else {
        // A legacy layer ("<id>/layer.tar", skopeo's "<diffid>.tar") or anything else that may be one: hashed here.
        yield* yieldStreamed(entry, { digest: null, size, resumeKey: `${opts.resumePrefix}:${name}:${size}`, name }, state, describe);
      }
    }
    ended = true;
  }

  return {
    describe,
    randomAccess: false,
    blobs,
    manifests() {
      if (!ended) return Promise.reject(new Error(`${describe}: manifests() is known only after blobs() was read to the end`));
      planned ??= Promise.resolve().then(() => (state.json.has("index.json") ? planOci(state, opts) : planLegacy(state, opts)));
      return planned;
    },
    async close() {
      opts.stop?.();
      // With an error, so that a reader still waiting on the tar ends instead of waiting for bytes forever.
      if (!ended) input.destroy(new SourceError(`${describe}: closed`));
    },
  };
}

/** `docker-archive:PATH[:REF]`; PATH "-" is stdin. */
export async function openDockerArchive(file: string, ref?: string): Promise<ImageSource> {
  const describe = `docker-archive:${file}${ref ? `:${ref}` : ""}`;
  if (file !== "-") {
    const st = await stat(file).catch((err: NodeJS.ErrnoException) => {
      throw new SourceError(`${describe}: ${err.code === "ENOENT" ? `${file} does not exist` : err.message}`);
    });
    if (!st.isFile()) throw new SourceError(`${describe}: ${file} is not a file`);
  }
  const input = file === "-" ? process.stdin : createReadStream(file, { highWaterMark: 1 << 20 });
  input.on("error", () => {}); // surfaced by the tar reader, which the input errors
  return dockerArchiveSource(input, { describe, ref, resumePrefix: file === "-" ? "stdin" : path.resolve(file) });
}

async function readSmall(entry: TarEntry, size: number, describe: string): Promise<Buffer> {
  if (size > MAX_JSON_BYTES) throw new SourceError(`${describe}: ${entry.name} is ${size} bytes, too large for JSON metadata`);
  return readAll(entry);
}

/** A parsed manifest if these bytes are one (a JSON object with schemaVersion 2 and a manifest's shape), else null. */
function asManifest(bytes: Buffer, digest: string, where: string): ParsedManifest | null {
  if (bytes[0] !== 0x7b) return null;
  let doc: unknown;
  try {
    doc = JSON.parse(bytes.toString("utf8"));
  } catch {
    return null;
  }
  const d = doc as { schemaVersion?: unknown; mediaType?: unknown; manifests?: unknown; layers?: unknown };
  if (d?.schemaVersion !== 2) return null;
  const typed = typeof d.mediaType === "string" && (INDEX_TYPES.has(d.mediaType) || MANIFEST_TYPES.has(d.mediaType));
  if (!typed && !Array.isArray(d.manifests) && !Array.isArray(d.layers)) return null;
  return parseManifest(bytes, digest, where);
}

async function* yieldMemory(bytes: Buffer, digest: string, state: ArchiveState): AsyncGenerator<SourceBlob> {
  if (state.blobs.has(digest)) return;
  state.blobs.add(digest);
  yield { digest, size: bytes.byteLength, resumeKey: digest, open: (offset = 0) => Readable.from([bytes.subarray(offset)]) };
}

/**
 * Yields an entry's blob, whose bytes flow from the tar to whoever opens it; waits until the engine is done with
 * it, then drains what it left. Unhashed blobs (digest null) are hashed on the way, read or drained.
 */
async function* yieldStreamed(
  entry: TarEntry,
  blob: { digest: string | null; size: number; resumeKey: string; name?: string },
  state: ArchiveState,
  describe: string,
): AsyncGenerator<SourceBlob> {
  if (blob.digest && state.blobs.has(blob.digest)) return drain(entry);
  const hash: Hash | null = blob.digest ? null : createHash("sha256");
  let seen = 0;
  const onChunk = (c: Buffer) => {
    seen += c.byteLength;
    hash?.update(c);
  };
  let finished: Promise<void> | null = null;
  const name = entry.name;
  yield {
    digest: blob.digest,
    size: blob.size,
    resumeKey: blob.resumeKey,
    open(offset = 0) {
      if (offset !== 0) throw new RangeError(`${describe}: ${name} is read from a tar stream, from its start only`);
      if (finished) throw new Error(`${describe}: ${name} is read from a tar stream and can be opened once`);
      const r = relay(entry, onChunk);
      finished = r.finished;
      return r.stream;
    },
    digested(digest: string) {
      state.reported.set(name, digest);
    },
  };
  // The engine asked for the next blob: wait until it is done with this one, then skip what it did not read.
  if (finished) await finished;
  await drain(entry, onChunk);
  if (seen !== blob.size) throw new SourceError(`${describe}: ${name} ended after ${seen} of ${blob.size} bytes`);
  if (blob.digest) {
    state.blobs.add(blob.digest);
  } else {
    const digest = `sha256:${hash!.digest("hex")}`;
    state.layers.set(name, { digest, size: seen });
    state.blobs.add(digest);
  }
}

/** An entry name with links followed. */
function resolveName(state: ArchiveState, name: string): string {
  let n = path.posix.normalize(name.replace(/^(\.\/)+/, ""));
  for (let hops = 0; state.links.has(n) && hops < 10; hops++) n = state.links.get(n)!;
  return n;
}

interface LegacyEntry {
  Config?: unknown;
  RepoTags?: unknown;
  Layers?: unknown;
}

function readManifestJson(state: ArchiveState, describe: string): LegacyEntry[] {
  const bytes = state.json.get("manifest.json");
  if (!bytes) throw new SourceError(`${describe}: not a docker archive (no manifest.json, no index.json)`);
  const list = parseJson(bytes, `${describe}: manifest.json`);
  if (!Array.isArray(list) || !list.length) throw new SourceError(`${describe}: manifest.json lists no image`);
  return list as LegacyEntry[];
}

function repoTags(e: LegacyEntry): string[] {
  return Array.isArray(e.RepoTags) ? e.RepoTags.filter((t): t is string => typeof t === "string") : [];
}

function selectLegacy(list: LegacyEntry[], ref: string | undefined, describe: string): LegacyEntry {
  const all = list.flatMap(repoTags);
  if (ref) {
    const hits = list.filter((e) => repoTags(e).some((t) => t === ref || sameImageName(t, ref)));
    if (hits.length) return hits[0];
    // `docker save IMAGE-ID` writes no tags; one image is the one asked for.
    if (list.length === 1 && !repoTags(list[0]).length) return list[0];
    throw new SourceError(`${describe}: no image ${JSON.stringify(ref)} in the archive${all.length ? ` (it has: ${all.join(", ")})` : ""}`);
  }
  if (list.length === 1) return list[0];
  throw new SourceError(`${describe}: the archive holds ${list.length} images; name one with docker-archive:PATH:REF (${all.join(", ") || "untagged"})`);
}

/** Legacy format: the image manifest, built from manifest.json, the config and the layers' digests. */
function planLegacy(state: ArchiveState, opts: ArchiveOptions): SourceManifest[] {
  const { describe } = opts;
  const entry = selectLegacy(readManifestJson(state, describe), opts.ref, describe);
  if (typeof entry.Config !== "string" || !Array.isArray(entry.Layers)) throw new SourceError(`${describe}: manifest.json: an entry lacks Config or Layers`);
  const configName = resolveName(state, entry.Config);
  const config = state.json.get(configName);
  if (!config) throw new SourceError(`${describe}: the config ${entry.Config} named by manifest.json is not in the archive`);
  const configDigest = LEGACY_CONFIG.test(path.posix.basename(configName)) ? `sha256:${path.posix.basename(configName, ".json")}` : digestOf(config);
  const layers = entry.Layers.map((l: unknown) => {
    if (typeof l !== "string") throw new SourceError(`${describe}: manifest.json: a layer path is not a string`);
    const name = resolveName(state, l);
    const seen = state.layers.get(name);
    if (!seen) throw new SourceError(`${describe}: the layer ${l} named by manifest.json is not in the archive`);
    const reported = state.reported.get(name);
    if (reported && reported !== seen.digest) throw new SourceError(`${describe}: ${l} hashed to ${seen.digest} here but ${reported} in the upload`);
    return seen;
  });
  const doc = parseJson(config, `${describe}: ${entry.Config}`) as { rootfs?: { diff_ids?: unknown } };
  const diffIds = doc?.rootfs?.diff_ids;
  if (!Array.isArray(diffIds)) throw new SourceError(`${describe}: the config ${entry.Config} has no rootfs.diff_ids`);
  const digests = layers.map((l) => l.digest);
  if (diffIds.length !== digests.length || diffIds.some((d, i) => d !== digests[i])) {
    throw new SourceError(
      `${describe}: the layers do not match the config's rootfs.diff_ids (layers hash to ${digests.join(", ") || "nothing"}; ` +
        `the config lists ${diffIds.join(", ") || "nothing"}); the archive is damaged or not from docker save`,
    );
  }
  // OCI media types with uncompressed layers: docker 20.10 and newer, containerd, podman and skopeo pull these.
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: OCI_CONFIG, digest: configDigest, size: config.byteLength },
      layers: layers.map((l) => ({ mediaType: OCI_LAYER_TAR, digest: l.digest, size: l.size })),
    }),
  );
  return [{ digest: digestOf(manifest), mediaType: OCI_MANIFEST, bytes: manifest, tags: [], top: true }];
}

/** OCI format: the index.json entry REF names, its tree and referrers, all from blobs/. */
function planOci(state: ArchiveState, opts: ArchiveOptions): SourceManifest[] {
  const { describe } = opts;
  const index = parseJson(state.json.get("index.json")!, `${describe}: index.json`) as { manifests?: unknown };
  if (!Array.isArray(index?.manifests)) throw new SourceError(`${describe}: index.json has no "manifests" array`);
  const entries = index.manifests.map((m, i) => parseDescriptor(m, `${describe}: index.json manifests[${i}]`));
  const selected = selectOciEntry(entries, opts.ref, describe);
  const top = state.manifests.get(selected.digest);
  if (!top) throw new SourceError(`${describe}: index.json names ${selected.digest}, which the archive does not hold`);
  const where = (d: Descriptor) => `${describe}: blobs/${d.digest.replace(":", "/")}`;
  const plan = planPush(
    top,
    {
      get: (d) => {
        const m = state.manifests.get(d.digest);
        if (m && m.bytes.byteLength !== d.size) throw new SourceError(`${where(d)} is ${m.bytes.byteLength} bytes, its descriptor says ${d.size}`);
        return m;
      },
      candidates: () => state.manifests.values(),
    },
    describe,
  );
  for (const b of plan.blobs) {
    if (!state.blobs.has(b.digest)) throw new SourceError(`${describe}: blob ${b.digest} (${b.mediaType}) is not in the archive`);
  }
  return plan.manifests;
}

function selectOciEntry(entries: Descriptor[], ref: string | undefined, describe: string): Descriptor {
  const names = (e: Descriptor) => [e.annotations?.[CONTAINERD_NAME], e.annotations?.[REF_NAME]].filter((n): n is string => Boolean(n));
  if (ref) {
    const hits = entries.filter((e) => names(e).some((n) => n === ref || sameImageName(n, ref)));
    if (hits.length) return hits[0];
    if (entries.length === 1 && !names(entries[0]).length) return entries[0];
    throw new SourceError(`${describe}: no image ${JSON.stringify(ref)} in the archive (it has: ${entries.flatMap(names).join(", ") || "untagged"})`);
  }
  if (entries.length === 1) return entries[0];
  throw new SourceError(`${describe}: the archive holds ${entries.length} images; name one with docker-archive:PATH:REF (${entries.flatMap(names).join(", ")})`);
}
