// `oci:DIR[:TAG]`: an OCI image layout directory (what skopeo, buildah and podman write). Random access: blobs are
// files, opened at any offset as often as the engine likes; only manifests and index.json are read into memory.
import { createReadStream } from "node:fs";
import { open, readdir, readFile, stat } from "node:fs/promises";
import path from "node:path";
import type { ImageSource, SourceBlob } from "../types";
import { MAX_JSON_BYTES, parseDescriptor, parseJson, parseManifest, REF_NAME, SourceError, verifyDigest, type Descriptor, type ParsedManifest } from "./oci";
import { planPush } from "./push-plan";

export function blobPath(dir: string, digest: string): string {
  const [alg, hex] = digest.split(":");
  return path.join(dir, "blobs", alg, hex);
}

async function readSmallFile(file: string, what: string): Promise<Buffer> {
  let size: number;
  try {
    size = (await stat(file)).size;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") throw new SourceError(`${what}: ${file} does not exist`);
    throw new SourceError(`${what}: cannot read ${file}: ${(err as Error).message}`);
  }
  if (size > MAX_JSON_BYTES) throw new SourceError(`${what}: ${file} is ${size} bytes, too large for JSON metadata (at most ${MAX_JSON_BYTES})`);
  return readFile(file);
}

/** Picks the index.json entry: the one whose ref.name is `tag`, or the only one. */
export function selectEntry(entries: Descriptor[], tag: string | undefined, where: string): Descriptor {
  if (tag !== undefined) {
    const hits = entries.filter((e) => e.annotations?.[REF_NAME] === tag);
    if (hits.length === 1) return hits[0];
    const names = entries.map((e) => e.annotations?.[REF_NAME]).filter(Boolean);
    if (hits.length > 1) throw new SourceError(`${where}: ${hits.length} entries are named ${JSON.stringify(tag)}`);
    throw new SourceError(`${where}: no image named ${JSON.stringify(tag)}${names.length ? ` (it has: ${names.join(", ")})` : " (its entries have no names)"}`);
  }
  if (entries.length === 1) return entries[0];
  if (!entries.length) throw new SourceError(`${where}: index.json lists no image`);
  const names = entries.map((e) => e.annotations?.[REF_NAME] ?? e.digest);
  throw new SourceError(`${where}: index.json lists ${entries.length} images; name one with oci:DIR:TAG (${names.join(", ")})`);
}

export async function openOciLayout(dir: string, tag?: string): Promise<ImageSource> {
  const describe = `oci:${dir}${tag !== undefined ? `:${tag}` : ""}`;
  const layoutFile = path.join(dir, "oci-layout");
  const layout = parseJson(await readSmallFile(layoutFile, `${describe} is not an OCI image layout`), layoutFile) as { imageLayoutVersion?: unknown };
  if (typeof layout?.imageLayoutVersion !== "string") throw new SourceError(`${layoutFile}: no imageLayoutVersion`);
  const indexFile = path.join(dir, "index.json");
  const index = parseJson(await readSmallFile(indexFile, describe), indexFile) as { manifests?: unknown };
  if (!Array.isArray(index?.manifests)) throw new SourceError(`${indexFile}: no "manifests" array`);
  const entries = index.manifests.map((m, i) => parseDescriptor(m, `${indexFile} manifests[${i}]`));
  const selected = selectEntry(entries, tag, describe);

  const loaded = new Map<string, ParsedManifest>();
  const load = async (d: Descriptor, where: string): Promise<ParsedManifest | undefined> => {
    const hit = loaded.get(d.digest);
    if (hit) return hit;
    const file = blobPath(dir, d.digest);
    let bytes: Buffer;
    try {
      bytes = await readSmallFile(file, where);
    } catch (err) {
      if (/does not exist/.test((err as Error).message)) return undefined;
      throw err;
    }
    if (bytes.byteLength !== d.size) throw new SourceError(`${where}: ${file} is ${bytes.byteLength} bytes, its descriptor says ${d.size}`);
    verifyDigest(bytes, d.digest, file);
    const m = parseManifest(bytes, d.digest, file, d.mediaType);
    loaded.set(d.digest, m);
    return m;
  };

  const top = await load(selected, `${describe}: manifest ${selected.digest}`);
  if (!top) throw new SourceError(`${describe}: index.json names ${selected.digest}, but ${blobPath(dir, selected.digest)} does not exist`);
  // Load the whole tree (so that planPush can look up synchronously), then every possible referrer.
  const loadTree = async (m: ParsedManifest) => {
    for (const c of m.children) {
      const child = await load(c, `${describe}: manifest ${c.digest} (listed by ${m.digest})`);
      if (child) await loadTree(child);
    }
  };
  await loadTree(top);
  const candidates = await referrerCandidates(dir, entries, loaded, load);
  for (const c of candidates) await loadTree(c);

  const plan = planPush(top, { get: (d) => loaded.get(d.digest), candidates: () => candidates }, describe);

  // Every blob must be there with its size, before anything is pushed.
  const blobs: SourceBlob[] = [];
  for (const d of plan.blobs) {
    const file = blobPath(dir, d.digest);
    let size: number;
    try {
      size = (await stat(file)).size;
    } catch {
      throw new SourceError(`${describe}: blob ${d.digest} (${d.mediaType}) is missing: ${file} does not exist`);
    }
    if (size !== d.size) throw new SourceError(`${describe}: ${file} is ${size} bytes, its descriptor says ${d.size}`);
    blobs.push({
      digest: d.digest,
      size,
      resumeKey: d.digest,
      open: (offset = 0) => {
        if (!Number.isSafeInteger(offset) || offset < 0 || offset > size) throw new RangeError(`offset ${offset} outside 0..${size} of ${file}`);
        // createReadStream with start = size reads nothing; highWaterMark: large reads for a large file.
        return createReadStream(file, { start: offset, highWaterMark: 1 << 20 });
      },
    });
  }

  return {
    describe,
    randomAccess: true,
    async *blobs() {
      yield* blobs;
    },
    manifests: async () => plan.manifests,
    close: async () => {},
  };
}

/**
 * Manifests in the layout that may refer to others: the other index.json entries, and small blobs that parse as a
 * manifest with a subject (skopeo and oras keep signatures and SBOMs only in blobs/).
 */
async function referrerCandidates(
  dir: string,
  entries: Descriptor[],
  loaded: Map<string, ParsedManifest>,
  load: (d: Descriptor, where: string) => Promise<ParsedManifest | undefined>,
): Promise<ParsedManifest[]> {
  const found = new Map<string, ParsedManifest>();
  for (const e of entries) {
    const m = await load(e, `${path.join(dir, "index.json")} entry ${e.digest}`).catch(() => undefined);
    if (m?.subject) found.set(m.digest, m);
  }
  for (const alg of ["sha256", "sha512"]) {
    let names: string[];
    try {
      names = await readdir(path.join(dir, "blobs", alg));
    } catch {
      continue;
    }
    for (const hex of names) {
      const digest = `${alg}:${hex}`;
      if (found.has(digest) || loaded.has(digest) || !/^[0-9a-f]+$/.test(hex)) continue;
      const file = path.join(dir, "blobs", alg, hex);
      const head = await firstBytes(file, 64);
      // Cheap filter first: a JSON object mentioning "subject" somewhere, small enough to be a manifest.
      if (!head || head.size > MAX_JSON_BYTES || head.bytes[0] !== 0x7b /* { */) continue;
      const bytes = await readFile(file);
      if (!bytes.includes('"subject"')) continue;
      let m: ParsedManifest;
      try {
        verifyDigest(bytes, digest, file);
        m = parseManifest(bytes, digest, file);
      } catch {
        continue; // a JSON blob that is not a valid manifest (a config, an SBOM's payload...)
      }
      if (m.subject) {
        loaded.set(digest, m);
        found.set(digest, m);
      }
    }
  }
  return [...found.values()];
}

async function firstBytes(file: string, n: number): Promise<{ bytes: Buffer; size: number } | null> {
  const fh = await open(file, "r").catch(() => null);
  if (!fh) return null;
  try {
    const { size } = await fh.stat();
    const bytes = Buffer.alloc(Math.min(n, size));
    await fh.read(bytes, 0, bytes.length, 0);
    return { bytes, size };
  } finally {
    await fh.close();
  }
}
