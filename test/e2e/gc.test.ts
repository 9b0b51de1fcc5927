// Garbage collection with real clients, on the S3 backend (Ceph RGW) so that the test can list the bucket itself.
// skopeo and docker push images that share layers, some are deleted, a GC run (grace and quarantine 0, which only
// GC_MIN_GRACE_HOURS=0 allows) frees what nothing references, and everything still referenced pulls back intact;
// then every object left in the bucket is accounted for. Also: a dry run changes nothing, immutable tags refuse a
// move, retention keeps the newest tags, and an abandoned upload (its state aged through the S3 API, the one thing
// the test fakes: waiting 24 hours is not an option) loses its state, tail and multipart upload.
import { createHash } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import {
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect } from "vitest";
import { startLocalS3, type LocalS3 } from "../../scripts/lib/dev-server";
import { ContainerTools, itWith, unavailable } from "../support/clients";
import { startDockerd, type DockerEngine } from "../support/docker";
import { digestOfGet, request } from "../support/http";
import { makeOciLayout, toDockerArchive, OCI_CONFIG, OCI_INDEX, OCI_MANIFEST, type Descriptor } from "../support/oci-layout";
import { removeDir, sleep, tempDir } from "../support/proc";
import { startSkiffRegistry, type RegistryUnderTest } from "../support/registries";

const DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json";
const ACCEPT_ALL = [OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST].join(", ");
const HOST_ARCH = process.arch === "x64" ? "amd64" : process.arch;
const NO_TLS = "--tls-verify=false";

let work: string;
let layoutDir: string;
let tools: ContainerTools;
let engine: DockerEngine | undefined;
let s3: LocalS3 | undefined;
let s3Client: S3Client;
let reg: RegistryUnderTest;
/** Images in one OCI layout, by tag: four layers shared between them. */
const images = new Map<string, { manifest: Descriptor; blobs: Descriptor[] }>();

async function writeBlob(data: Buffer): Promise<string> {
  const hex = createHash("sha256").update(data).digest("hex");
  await writeFile(path.join(layoutDir, "blobs", "sha256", hex), data);
  return `sha256:${hex}`;
}

/** Adds an image made of the given layers (with a config of its own) to the layout, under `tag`. */
async function composeImage(tag: string, layers: (Descriptor & { diffId: string })[]): Promise<void> {
  const configJson = Buffer.from(JSON.stringify({
    architecture: HOST_ARCH,
    os: "linux",
    created: "2024-01-01T00:00:00Z",
    config: { Cmd: ["/layer-0.bin"], Labels: { "org.skiff.gc-test": tag } },
    rootfs: { type: "layers", diff_ids: layers.map((l) => l.diffId) },
  }));
  const config: Descriptor = { mediaType: OCI_CONFIG, digest: await writeBlob(configJson), size: configJson.byteLength };
  const layerDescriptors = layers.map(({ mediaType, digest, size }) => ({ mediaType, digest, size }));
  const manifestJson = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config, layers: layerDescriptors }));
  const manifest: Descriptor = { mediaType: OCI_MANIFEST, digest: await writeBlob(manifestJson), size: manifestJson.byteLength };
  images.set(tag, { manifest, blobs: [...layerDescriptors, config] });
  const indexPath = path.join(layoutDir, "index.json");
  const index = JSON.parse(await readFile(indexPath, "utf8"));
  index.manifests.push({ ...manifest, annotations: { "org.opencontainers.image.ref.name": tag } });
  await writeFile(indexPath, JSON.stringify(index));
}

beforeAll(async () => {
  if (unavailable("skopeo")) return;
  work = await tempDir("e2e-gc");
  layoutDir = path.join(work, "layout");
  const base = await makeOciLayout(layoutDir, { layerSizes: [700 * 1024, 500 * 1024, 300 * 1024, 200 * 1024], tag: "base", architecture: HOST_ARCH });
  const [l0, l1, l2, l3] = base.layers;
  await composeImage("one", [l0, l1]);
  await composeImage("two", [l0, l2]);
  await composeImage("three", [l1, l3]);
  await composeImage("four", [l2, l3]);
  tools = await new ContainerTools(path.join(work, "tools")).init();
  s3 = await startLocalS3({ bucket: "skiff-gc" });
  s3Client = new S3Client({
    endpoint: s3.endpoint,
    region: "us-east-1",
    forcePathStyle: true,
    credentials: { accessKeyId: s3.vars.S3_ACCESS_KEY_ID, secretAccessKey: s3.vars.S3_SECRET_ACCESS_KEY },
  });
  reg = await startSkiffRegistry({
    auth: "open",
    vars: {
      ...s3.vars,
      GC_MIN_GRACE_HOURS: "0",
      UPLOAD_PART_SIZE_MIB: "5",
      IMMUTABLE_TAGS: "gc/frozen",
      RETENTION: JSON.stringify([{ repositories: ["gc/ret"], keepTags: [{ match: "pr-*", newest: 2 }], protectTags: ["keep-*"] }]),
    },
  });
  if (!unavailable("docker")) engine = await startDockerd();
}, 300_000);

afterAll(async () => {
  await engine?.stop();
  await reg?.stop();
  s3Client?.destroy();
  await s3?.stop();
  if (work) await removeDir(work);
});

async function skopeoPush(tag: string, dest: string): Promise<void> {
  await tools.skopeo(["copy", "-q", `--dest-tls-verify=false`, `oci:${layoutDir}:${tag}`, `docker://${reg.host}/${dest}`]);
}

async function manifestJson(repo: string, ref: string): Promise<{ digest: string; json: any } | null> {
  const r = await request(`${reg.url}/v2/${repo}/manifests/${ref}`, { headers: { Accept: ACCEPT_ALL } });
  if (r.status === 404) return null;
  expect(r.status, `GET ${repo}:${ref}`).toBe(200);
  return { digest: String(r.headers["docker-content-digest"]), json: JSON.parse(r.body.toString()) };
}

function blobsOf(json: any): { digest: string; size: number }[] {
  return [json.config, ...json.layers].map((d: any) => ({ digest: d.digest, size: d.size }));
}

/** Every object in the bucket with its size and metadata (a HEAD each: S3 lists no metadata). */
async function bucketObjects(): Promise<Map<string, { size: number; metadata: Record<string, string> }>> {
  const out = new Map<string, { size: number; metadata: Record<string, string> }>();
  const Bucket = s3!.vars.S3_BUCKET;
  for (let token: string | undefined; ; ) {
    const page = await s3Client.send(new ListObjectsV2Command({ Bucket, ContinuationToken: token }));
    for (const o of page.Contents ?? []) {
      const head = await s3Client.send(new HeadObjectCommand({ Bucket, Key: o.Key! }));
      out.set(o.Key!, { size: o.Size ?? 0, metadata: head.Metadata ?? {} });
    }
    if (!page.IsTruncated) break;
    token = page.NextContinuationToken;
  }
  return out;
}

/** GETs a blob, following the 307 to the presigned URL; its digest and size. */
async function blobGet(repo: string, digest: string): Promise<{ status: number; digest: string; size: number }> {
  const first = await digestOfGet(`${reg.url}/v2/${repo}/blobs/${digest}`);
  return first.status === 307 ? digestOfGet(String(first.headers.location)) : first;
}

interface GcRun {
  status: any;
  report: any;
}

/** Starts a run and steps it to the end through the admin endpoints, as `npm run gc` does. */
async function runGc(opts: { dryRun?: boolean } = {}): Promise<GcRun> {
  const start = await request(`${reg.url}/_skiff/gc?grace=0&quarantine=0${opts.dryRun ? "&dry-run=1" : ""}`, { method: "POST" });
  expect(start.status, start.body.toString()).toBeLessThan(300);
  let status = JSON.parse(start.body.toString());
  for (let i = 0; !status.done; i++) {
    expect(i, "steps of one small run").toBeLessThan(200);
    const step = await request(`${reg.url}/_skiff/gc/step`, { method: "POST" });
    expect(step.status, step.body.toString()).toBe(200);
    status = JSON.parse(step.body.toString());
  }
  const report = await request(`${reg.url}/_skiff/gc/runs/${status.run}`);
  expect(report.status).toBe(200);
  return { status, report: JSON.parse(report.body.toString()) };
}

describe("garbage collection with real clients (S3 backend)", () => {
  itWith(["skopeo", "docker"], "shared layers: delete some images, GC frees exactly their own blobs, the rest pulls intact, the bucket holds nothing unneeded", async () => {
    // skopeo: one and two in gc/app, three in gc/other; docker: four in gc/docker (docker recompresses: own digests).
    await skopeoPush("one", "gc/app:one");
    await skopeoPush("two", "gc/app:two");
    await skopeoPush("three", "gc/other:three");
    const d = engine!.docker;
    const tar = path.join(work, "four.tar");
    await toDockerArchive({ dir: layoutDir, tag: "four" } as never, tar, "gc/four:v1");
    await d(["load", "-i", tar]);
    const dockerRef = `${reg.host}/gc/docker:four`;
    await d(["tag", "gc/four:v1", dockerRef]);
    await d(["push", dockerRef]);
    const dockerKeptRef = `${reg.host}/gc/docker:kept`;
    const tar3 = path.join(work, "three.tar");
    await toDockerArchive({ dir: layoutDir, tag: "three" } as never, tar3, "gc/three:v1");
    await d(["load", "-i", tar3]);
    await d(["tag", "gc/three:v1", dockerKeptRef]);
    await d(["push", dockerKeptRef]);
    const keptImageId = (await d(["image", "inspect", "-f", "{{.Id}}", dockerKeptRef])).stdout.trim();

    const all = new Map<string, { digest: string; json: any }>();
    for (const [repo, tag] of [["gc/app", "one"], ["gc/app", "two"], ["gc/other", "three"], ["gc/docker", "four"], ["gc/docker", "kept"]]) {
      all.set(`${repo}:${tag}`, (await manifestJson(repo, tag))!);
    }
    // Delete two and four (by digest: the manifest and its tag).
    for (const ref of ["gc/app:two", "gc/docker:four"]) {
      const [repo] = ref.split(":");
      const del = await request(`${reg.url}/v2/${repo}/manifests/${all.get(ref)!.digest}`, { method: "DELETE" });
      expect(del.status, ref).toBe(202);
    }
    const kept = ["gc/app:one", "gc/other:three", "gc/docker:kept"];
    const keptBlobs = new Map(kept.flatMap((r) => blobsOf(all.get(r)!.json)).map((b) => [b.digest, b.size]));
    const freed = new Map(["gc/app:two", "gc/docker:four"].flatMap((r) => blobsOf(all.get(r)!.json)).filter((b) => !keptBlobs.has(b.digest)).map((b) => [b.digest, b.size]));
    expect(freed.size).toBeGreaterThanOrEqual(4); // two's own layer and config, four's docker layers and config

    // A dry run reports the same and changes nothing in the registry's data.
    const before = await bucketObjects();
    const dry = await runGc({ dryRun: true });
    expect(dry.report.dryRun).toBe(true);
    const afterDry = await bucketObjects();
    const data = (m: Map<string, unknown>) => [...m.keys()].filter((k) => !k.startsWith("gc/")).sort();
    expect(data(afterDry)).toEqual(data(before));
    for (const [k, v] of before) if (!k.startsWith("gc/")) expect(afterDry.get(k)?.metadata, k).toEqual(v.metadata);

    const { report } = await runGc();
    expect(report.dryRun).toBe(false);
    expect(report.errors ?? []).toEqual([]);
    const freedBytes = [...freed.values()].reduce((a, b) => a + b, 0);
    expect(report.deleted.blobs).toBe(freed.size);
    expect(report.deleted.bytesFreed).toBe(freedBytes);
    expect(dry.report.deleted.blobs).toBe(freed.size); // what the dry run said it would do
    console.log(`[e2e gc] freed ${freed.size} blobs, ${freedBytes} bytes; kept ${keptBlobs.size} blobs`);

    // Everything kept pulls back, byte for byte (skopeo checks every digest; docker checks diff ids).
    for (const ref of ["gc/app:one", "gc/other:three"]) {
      const out = path.join(work, `pulled-${ref.replace(/\W/g, "-")}`);
      await tools.skopeo(["copy", "-q", "--src-tls-verify=false", `docker://${reg.host}/${ref}`, `oci:${out}:x`]);
    }
    for (const ref of kept) {
      const repo = ref.split(":")[0];
      for (const b of blobsOf(all.get(ref)!.json)) {
        const got = await blobGet(repo, b.digest);
        expect(got.status, `${repo} ${b.digest}`).toBe(200);
        expect(got.digest).toBe(b.digest);
        expect(got.size).toBe(b.size);
      }
    }
    await d(["rmi", dockerKeptRef, "gc/three:v1"]);
    await d(["pull", dockerKeptRef]);
    expect((await d(["image", "inspect", "-f", "{{.Id}}", dockerKeptRef])).stdout.trim()).toBe(keptImageId);
    for (const digest of freed.keys()) {
      const r = await request(`${reg.url}/v2/gc/app/blobs/${digest}`, { method: "HEAD" });
      expect(r.status, `freed ${digest}`).toBe(404);
    }

    // The bucket: every object is needed by something, or is a dead record (an empty object the protocol keeps).
    const objects = await bucketObjects();
    const liveRecords = new Map<string, string>(); // digest → data key
    const deadRecords = new Set<string>();
    for (const [key, o] of objects) {
      const m = /^blobs\/sha256\/([0-9a-f]{64})$/.exec(key);
      if (!m) continue;
      const digest = `sha256:${m[1]}`;
      if (o.metadata.state === "dead") deadRecords.add(digest);
      else liveRecords.set(digest, o.metadata.data);
    }
    expect(new Set(liveRecords.keys())).toEqual(new Set(keptBlobs.keys()));
    expect(deadRecords).toEqual(new Set(freed.keys()));
    const unexplained: string[] = [];
    const liveData = new Set(liveRecords.values());
    const keptManifests = new Set(kept.map((r) => `${r.split(":")[0]}/${all.get(r)!.digest}`));
    for (const [key, o] of objects) {
      if (key.startsWith("blobs/")) {
        expect(o.size, key).toBeLessThan(64); // a version token: R2 and S3 etags are the MD5 of the body
        continue;
      }
      if (key.startsWith("data/")) {
        if (!liveData.has(key)) unexplained.push(key);
        continue;
      }
      if (key.startsWith("gc/")) continue; // the collector's own state and reports
      if (key.startsWith("catalog/")) {
        if (!kept.some((r) => `catalog/${r.split(":")[0]}` === key)) unexplained.push(key);
        continue;
      }
      const link = /^repos\/(.+)\/_blobs\/sha256\/([0-9a-f]{64})$/.exec(key);
      if (link) {
        if (!liveRecords.has(`sha256:${link[2]}`)) unexplained.push(key);
        continue;
      }
      const manifest = /^repos\/(.+)\/_manifests\/sha256\/([0-9a-f]{64})$/.exec(key);
      if (manifest) {
        if (!keptManifests.has(`${manifest[1]}/sha256:${manifest[2]}`)) unexplained.push(key);
        continue;
      }
      const tag = /^repos\/(.+)\/_tags\/(.+)$/.exec(key);
      if (tag) {
        if (!kept.includes(`${tag[1]}:${tag[2]}`)) unexplained.push(key);
        continue;
      }
      unexplained.push(key);
    }
    expect(unexplained).toEqual([]);
  }, 600_000);

  itWith(["skopeo", "docker"], "immutable tags: a push over an existing tag is denied, the identical push succeeds", async () => {
    await skopeoPush("one", "gc/frozen:v1");
    const first = await manifestJson("gc/frozen", "v1");
    expect(first?.digest).toBe(images.get("one")!.manifest.digest);
    const moved = await tools.skopeo(["copy", "-q", "--dest-tls-verify=false", `oci:${layoutDir}:three`, `docker://${reg.host}/gc/frozen:v1`], { allowFail: true });
    expect(moved.code).not.toBe(0);
    expect(moved.stderr).toMatch(/immutable|denied/i);
    expect((await manifestJson("gc/frozen", "v1"))?.digest).toBe(first!.digest);
    await skopeoPush("one", "gc/frozen:v1"); // the same manifest again: fine
    const d = engine!.docker;
    const tar = path.join(work, "frozen.tar");
    await toDockerArchive({ dir: layoutDir, tag: "four" } as never, tar, "gc/frozen-four:v1");
    await d(["load", "-i", tar]);
    await d(["tag", "gc/frozen-four:v1", `${reg.host}/gc/frozen:v1`]);
    const push = await d(["push", `${reg.host}/gc/frozen:v1`], { allowFail: true });
    expect(push.code).not.toBe(0);
    expect(push.stdout + push.stderr).toMatch(/immutable|denied/i);
    expect((await manifestJson("gc/frozen", "v1"))?.digest).toBe(first!.digest);
    const del = await request(`${reg.url}/v2/gc/frozen/manifests/v1`, { method: "DELETE" });
    expect(del.status).toBe(403);
  }, 300_000);

  itWith(["skopeo"], "retention keeps the newest pr- tags and every protected tag", async () => {
    for (const tag of ["pr-1", "pr-2", "pr-3", "pr-4", "keep-1"]) {
      await skopeoPush(tag === "pr-2" ? "three" : "one", `gc/ret:${tag}`);
      await sleep(1100); // S3 times have one-second resolution: the order of pushes must be visible
    }
    const { report } = await runGc();
    const removedTags = (report.retention?.tags ?? []).filter((t: any) => t.repo === "gc/ret").map((t: any) => t.tag).sort();
    expect(removedTags).toEqual(["pr-1", "pr-2"]);
    for (const tag of ["pr-3", "pr-4", "keep-1"]) expect(await manifestJson("gc/ret", tag), tag).not.toBeNull();
    for (const tag of ["pr-1", "pr-2"]) expect(await manifestJson("gc/ret", tag), tag).toBeNull();
    await tools.skopeo(["copy", "-q", "--src-tls-verify=false", `docker://${reg.host}/gc/ret:pr-4`, `oci:${path.join(work, "ret-pulled")}:x`]);
  }, 300_000);

  itWith(["skopeo"], "an abandoned upload loses its state, its tail object and its multipart upload", async () => {
    const post = await request(`${reg.url}/v2/gc/abandoned/blobs/uploads/`, { method: "POST" });
    expect(post.status).toBe(202);
    const location = new URL(String(post.headers.location), reg.url).toString();
    const chunk = Buffer.alloc(6 * 1024 * 1024, 7); // more than one 5 MiB part: a multipart upload and a tail
    const patch = await request(location, { method: "PATCH", body: chunk, headers: { "Content-Type": "application/octet-stream", "Content-Range": `0-${chunk.length - 1}`, "Content-Length": String(chunk.length) } });
    expect(patch.status, patch.body.toString()).toBe(202);
    const id = /uploads\/([0-9a-f-]{36})/.exec(location)![1];
    const Bucket = s3!.vars.S3_BUCKET;
    const stateKey = `uploads/${id}/state`;
    const state = JSON.parse(await (await s3Client.send(new GetObjectCommand({ Bucket, Key: stateKey }))).Body!.transformToString());
    expect(state.content.kind).toBe("chunks");
    expect(state.content.multipart).not.toBeNull();
    // The one fake: the session is made two days old.
    state.createdAt = Date.now() - 2 * 24 * 3600 * 1000;
    await s3Client.send(new PutObjectCommand({ Bucket, Key: stateKey, Body: JSON.stringify(state), ContentType: "application/json" }));
    const uploadsBefore = (await s3Client.send(new ListMultipartUploadsCommand({ Bucket }))).Uploads ?? [];
    expect(uploadsBefore.some((u) => u.UploadId === state.content.multipart.uploadId)).toBe(true);

    const { report } = await runGc();
    expect(report.deleted.sessions).toBeGreaterThanOrEqual(1);
    const left = [...(await bucketObjects()).keys()].filter((k) => k.startsWith(`uploads/${id}/`));
    expect(left).toEqual([]);
    const uploadsAfter = (await s3Client.send(new ListMultipartUploadsCommand({ Bucket }))).Uploads ?? [];
    expect(uploadsAfter.some((u) => u.UploadId === state.content.multipart.uploadId)).toBe(false);
    const status = await request(location);
    expect(status.status).toBe(404);
  }, 300_000);
});
