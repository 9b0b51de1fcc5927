// Test images for the cli tests, built on test/support/oci-layout.ts: a multi-platform layout (an index of two
// images) with referrers (a signature-like artifact of the index, and an SBOM-like artifact of one child kept only
// in blobs/), and an OCI layout packed as a docker ≥ 25 `docker save` tarball.
import { createHash } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { makeOciLayout, OCI_INDEX, OCI_MANIFEST, type Descriptor, type OciImage } from "../support/oci-layout";
import { run } from "../support/proc";

export async function writeJsonBlob(dir: string, value: unknown): Promise<Descriptor & { bytes: Buffer }> {
  const bytes = Buffer.from(JSON.stringify(value));
  const hex = createHash("sha256").update(bytes).digest("hex");
  await writeFile(path.join(dir, "blobs", "sha256", hex), bytes);
  const mediaType = (value as { mediaType?: string }).mediaType ?? "application/octet-stream";
  return { mediaType, digest: `sha256:${hex}`, size: bytes.byteLength, bytes };
}

export interface MultiPlatform {
  dir: string;
  images: OciImage[];
  index: Descriptor;
  /** artifact manifest whose subject is the index; listed in index.json */
  signature: Descriptor;
  /** artifact manifest whose subject is the amd64 image; only in blobs/ */
  sbom: Descriptor;
  /** every blob a push needs */
  blobs: Set<string>;
}

const EMPTY_CONFIG = { mediaType: "application/vnd.oci.empty.v1+json", value: {} };

async function artifact(dir: string, subject: Descriptor, artifactType: string, payload: string): Promise<{ manifest: Descriptor; blobs: string[] }> {
  const config = await writeJsonBlob(dir, EMPTY_CONFIG.value);
  const layer = await writeJsonBlob(dir, { payload });
  const manifest = await writeJsonBlob(dir, {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    artifactType,
    config: { mediaType: EMPTY_CONFIG.mediaType, digest: config.digest, size: config.size },
    layers: [{ mediaType: "application/json", digest: layer.digest, size: layer.size }],
    subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.size },
  });
  return { manifest: { mediaType: OCI_MANIFEST, digest: manifest.digest, size: manifest.size }, blobs: [config.digest, layer.digest] };
}

export async function makeMultiPlatformLayout(dir: string, tag = "multi"): Promise<MultiPlatform> {
  const amd = await makeOciLayout(dir, { layerSizes: [3000, 5000], tag: "amd", architecture: "amd64" });
  const arm = await makeOciLayout(dir, { layerSizes: [4000], tag: "arm", architecture: "arm64" });
  const index = await writeJsonBlob(dir, {
    schemaVersion: 2,
    mediaType: OCI_INDEX,
    manifests: [
      { ...amd.manifest, platform: { os: "linux", architecture: "amd64" } },
      { ...arm.manifest, platform: { os: "linux", architecture: "arm64" } },
    ],
  });
  const indexDesc = { mediaType: OCI_INDEX, digest: index.digest, size: index.size };
  const sig = await artifact(dir, indexDesc, "application/vnd.test.signature", "signed");
  const sbom = await artifact(dir, amd.manifest, "application/vnd.test.sbom", "sbom");
  await writeFile(
    path.join(dir, "index.json"),
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_INDEX,
      manifests: [
        { ...indexDesc, annotations: { "org.opencontainers.image.ref.name": tag } },
        { ...amd.manifest, annotations: { "org.opencontainers.image.ref.name": "amd" } },
        sig.manifest,
      ],
    }),
  );
  const blobs = new Set([...amd.blobs, ...arm.blobs, ...sig.blobs, ...sbom.blobs].map((b) => (typeof b === "string" ? b : b.digest)));
  return { dir, images: [amd, arm], index: indexDesc, signature: sig.manifest, sbom: sbom.manifest, blobs };
}

/**
 * A docker ≥ 25 style `docker save` tarball: the OCI layout (oci-layout, index.json, blobs/sha256/*) plus a
 * manifest.json, packed with GNU tar (docker 20.10 here writes only the legacy format). index.json entries get
 * the name annotations docker writes.
 */
export async function packOciArchive(image: OciImage, tarPath: string, imageName: string): Promise<void> {
  const index = JSON.parse(await readFile(path.join(image.dir, "index.json"), "utf8"));
  index.manifests = [{ ...image.manifest, annotations: { "io.containerd.image.name": imageName, "org.opencontainers.image.ref.name": image.tag } }];
  await writeFile(path.join(image.dir, "index.json"), JSON.stringify(index));
  const hex = (d: string) => `blobs/sha256/${d.slice("sha256:".length)}`;
  await writeFile(
    path.join(image.dir, "manifest.json"),
    JSON.stringify([{ Config: hex(image.config.digest), RepoTags: [imageName], Layers: image.layers.map((l) => hex(l.digest)) }]),
  );
  // blobs first, as docker writes them, so the reader meets index.json after every blob
  await run("tar", ["-cf", tarPath, "-C", image.dir, "blobs", "oci-layout", "index.json", "manifest.json"]);
}

/** Reads a source's blobs to the end, each fully, returning digest → sha256 of the bytes and size. */
export async function consumeAll(source: import("../../cli/types").ImageSource): Promise<Map<string, { sha: string; size: number; resumeKey: string }>> {
  const out = new Map<string, { sha: string; size: number; resumeKey: string }>();
  for await (const blob of source.blobs()) {
    const h = createHash("sha256");
    let size = 0;
    for await (const c of blob.open(0)) {
      h.update(c as Buffer);
      size += (c as Buffer).byteLength;
    }
    const sha = `sha256:${h.digest("hex")}`;
    if (!blob.digest) blob.digested?.(sha);
    out.set(blob.digest ?? sha, { sha, size, resumeKey: blob.resumeKey });
  }
  return out;
}
