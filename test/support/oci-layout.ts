// Builds test images as OCI image layouts on disk (no Debian package ships a test image): N layers, each a gzip
// tar holding one file of random (incompressible) bytes of a chosen size, a config, a manifest, index.json and
// oci-layout. Layers stream through tar + gzip + two hashes, so large sizes never sit in memory.
import { createHash, randomBytes } from "node:crypto";
import { createWriteStream } from "node:fs";
import { mkdir, rename, writeFile } from "node:fs/promises";
import path from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGzip } from "node:zlib";
import { run } from "./proc";

export const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
export const OCI_INDEX = "application/vnd.oci.image.index.v1+json";
export const OCI_CONFIG = "application/vnd.oci.image.config.v1+json";
export const OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip";

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
}

export interface OciImage {
  /** The layout directory; skopeo calls it `oci:<dir>:<tag>`. */
  dir: string;
  tag: string;
  manifest: Descriptor;
  config: Descriptor;
  layers: (Descriptor & { diffId: string })[];
  /** All blobs: layers then config. */
  blobs: Descriptor[];
}

function tarHeader(name: string, size: number): Buffer {
  const h = Buffer.alloc(512);
  const field = (offset: number, len: number, value: string) => h.write(value, offset, len, "ascii");
  const octal = (offset: number, len: number, n: number) => field(offset, len, n.toString(8).padStart(len - 1, "0") + "\0");
  field(0, 100, name);
  octal(100, 8, 0o644); // mode
  octal(108, 8, 0); // uid
  octal(116, 8, 0); // gid
  octal(124, 12, size);
  octal(136, 12, 1_700_000_000); // mtime: fixed, the content is random anyway
  field(148, 8, "        "); // checksum is computed with this field as spaces
  field(156, 1, "0"); // regular file
  field(257, 6, "ustar\0");
  field(263, 2, "00");
  let sum = 0;
  for (const b of h) sum += b;
  field(148, 8, sum.toString(8).padStart(6, "0") + "\0 ");
  return h;
}

/** A tar stream with one file of `size` random bytes. */
async function* tarOfRandomFile(name: string, size: number): AsyncGenerator<Buffer> {
  yield tarHeader(name, size);
  for (let left = size; left > 0; ) {
    const n = Math.min(left, 1 << 20);
    yield randomBytes(n);
    left -= n;
  }
  const pad = (512 - (size % 512)) % 512;
  yield Buffer.alloc(pad + 1024); // padding to a block, then two zero blocks end the archive
}

async function writeBlob(blobsDir: string, data: Buffer): Promise<string> {
  const hex = createHash("sha256").update(data).digest("hex");
  await writeFile(path.join(blobsDir, hex), data);
  return `sha256:${hex}`;
}

/** Writes a gzip tar layer into the layout; returns its descriptor and diff id (digest of the uncompressed tar). */
async function writeLayer(blobsDir: string, index: number, size: number): Promise<Descriptor & { diffId: string }> {
  const tmp = path.join(blobsDir, `.layer-${index}-${process.pid}.tmp`);
  const diff = createHash("sha256");
  const compressed = createHash("sha256");
  let compressedSize = 0;
  const tar = Readable.from(tarOfRandomFile(`layer-${index}.bin`, size));
  tar.on("data", (c: Buffer) => diff.update(c));
  const gzip = createGzip({ level: 1 }); // random bytes do not compress; level 1 keeps it fast
  gzip.on("data", (c: Buffer) => {
    compressed.update(c);
    compressedSize += c.byteLength;
  });
  await pipeline(tar, gzip, createWriteStream(tmp));
  const hex = compressed.digest("hex");
  await rename(tmp, path.join(blobsDir, hex));
  return { mediaType: OCI_LAYER_GZIP, digest: `sha256:${hex}`, size: compressedSize, diffId: `sha256:${diff.digest("hex")}` };
}

export interface LayoutOptions {
  /** Uncompressed size of each layer's file, in bytes; one layer per entry. */
  layerSizes: number[];
  tag?: string;
  architecture?: string;
  os?: string;
}

/** Creates an OCI image layout in `dir` (created if needed). */
export async function makeOciLayout(dir: string, opts: LayoutOptions): Promise<OciImage> {
  const tag = opts.tag ?? "latest";
  const blobsDir = path.join(dir, "blobs", "sha256");
  await mkdir(blobsDir, { recursive: true });
  const layers = [];
  for (const [i, size] of opts.layerSizes.entries()) layers.push(await writeLayer(blobsDir, i, size));
  const configJson = Buffer.from(JSON.stringify({
    architecture: opts.architecture ?? "amd64",
    os: opts.os ?? "linux",
    created: "2024-01-01T00:00:00Z",
    config: { Cmd: ["/layer-0.bin"], Labels: { "org.skiff.test": randomBytes(8).toString("hex") } },
    rootfs: { type: "layers", diff_ids: layers.map((l) => l.diffId) },
  }));
  const config: Descriptor = { mediaType: OCI_CONFIG, digest: await writeBlob(blobsDir, configJson), size: configJson.byteLength };
  const manifestJson = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config,
    layers: layers.map(({ mediaType, digest, size }) => ({ mediaType, digest, size })),
  }));
  const manifest: Descriptor = { mediaType: OCI_MANIFEST, digest: await writeBlob(blobsDir, manifestJson), size: manifestJson.byteLength };
  await writeFile(path.join(dir, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
  await writeFile(path.join(dir, "index.json"), JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_INDEX,
    manifests: [{ ...manifest, annotations: { "org.opencontainers.image.ref.name": tag } }],
  }));
  return { dir, tag, manifest, config, layers, blobs: [...layers, config] };
}

/** Converts the layout to a docker-archive tarball (what `docker load` accepts), named `imageName`. */
export async function toDockerArchive(image: OciImage, tarPath: string, imageName: string): Promise<void> {
  await run("skopeo", ["copy", "-q", `oci:${image.dir}:${image.tag}`, `docker-archive:${tarPath}:${imageName}`]);
}
