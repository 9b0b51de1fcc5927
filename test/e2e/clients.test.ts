// Real container clients against Skiff (under `wrangler dev`, started as `npm start` starts it) and against CNCF
// distribution 2.8.2 as the reference, with the same suite. A registry is only as good as what docker, podman,
// skopeo, ctr and buildah manage to do with it.
import { createHash, randomBytes } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect } from "vitest";
import { ContainerTools, ctrRegistryArgs, itWith, unavailable } from "../support/clients";
import { startDockerd, type DockerEngine } from "../support/docker";
import { digestOfGet, request } from "../support/http";
import { makeOciLayout, toDockerArchive, OCI_INDEX, OCI_MANIFEST, type OciImage } from "../support/oci-layout";
import { removeDir, tempDir } from "../support/proc";
import { REGISTRY_KINDS, startRegistry, type LoggedRequest, type RegistryUnderTest } from "../support/registries";

const DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json";
const DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json";
const ACCEPT_ALL = [OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST].join(", ");
const HOST_ARCH = process.arch === "x64" ? "amd64" : process.arch;

let work: string;
let tools: ContainerTools;
let engine: DockerEngine | undefined;
/** A 3-layer image (random, incompressible layers) as an OCI layout, and as a docker-archive for docker and ctr. */
let image: OciImage;
let imageTar: string;
const IMAGE_NAME = "e2e/img-a:v1";

beforeAll(async () => {
  work = await tempDir("e2e");
  image = await makeOciLayout(path.join(work, "img-a"), { layerSizes: [1536 * 1024, 256 * 1024, 10 * 1024], tag: "v1", architecture: HOST_ARCH });
  if (!unavailable("skopeo")) {
    imageTar = path.join(work, "img-a.tar");
    await toDockerArchive(image, imageTar, IMAGE_NAME);
  }
  tools = await new ContainerTools(path.join(work, "tools")).init();
  if (!unavailable("docker")) {
    engine = await startDockerd();
    await engine.docker(["load", "-i", imageTar]);
  }
});

afterAll(async () => {
  await engine?.stop();
  if (work) await removeDir(work);
});

/** HEAD a manifest: its digest and media type as the registry reports them (null when absent). */
async function headManifest(reg: RegistryUnderTest, repo: string, ref: string): Promise<{ digest: string; mediaType: string } | null> {
  const r = await request(`${reg.url}/v2/${repo}/manifests/${ref}`, { method: "HEAD", headers: { Accept: ACCEPT_ALL } });
  if (r.status === 404) return null;
  expect(r.status, `HEAD ${repo}:${ref}`).toBe(200);
  return { digest: String(r.headers["docker-content-digest"]), mediaType: String(r.headers["content-type"]) };
}

async function getManifestJson(reg: RegistryUnderTest, repo: string, ref: string): Promise<any> {
  const r = await request(`${reg.url}/v2/${repo}/manifests/${ref}`, { headers: { Accept: ACCEPT_ALL } });
  expect(r.status, `GET manifest ${repo}:${ref}: ${r.body.toString().slice(0, 300)}`).toBe(200);
  return JSON.parse(r.body.toString());
}

/** Every blob of the manifest can be read back, with the right digest and size. */
async function expectBlobsReadable(reg: RegistryUnderTest, repo: string, manifest: { config: { digest: string; size: number }; layers: { digest: string; size: number }[] }) {
  for (const d of [manifest.config, ...manifest.layers]) {
    const got = await digestOfGet(`${reg.url}/v2/${repo}/blobs/${d.digest}`);
    expect(got.status, `GET blob ${d.digest}`).toBe(200);
    expect(got.digest).toBe(d.digest);
    expect(got.size).toBe(d.size);
  }
}

/** Requests to `repo`'s blob upload endpoints logged after index `from`. */
async function uploadRequests(reg: RegistryUnderTest, repo: string, from: number): Promise<LoggedRequest[]> {
  return (await reg.requests()).slice(from).filter((r) => r.path.startsWith(`/v2/${repo}/blobs/uploads/`));
}

/** podman/skopeo/buildah: local Skiff has a self-signed certificate, distribution plain http: both need this. */
const NO_TLS_VERIFY = "--tls-verify=false";

describe.each(REGISTRY_KINDS)("real clients against %s", (kind) => {
  let reg: RegistryUnderTest;
  const needsRegistry = kind === "distribution" ? (["distribution"] as const) : ([] as const);

  beforeAll(async () => {
    if (kind === "distribution" && unavailable("distribution")) return;
    reg = await startRegistry(kind);
  });
  afterAll(async () => {
    await reg?.stop();
  });

  itWith(["docker", "skopeo", ...needsRegistry], "docker push and pull a multi-layer image, then pull it by digest", async () => {
    const d = engine!.docker;
    const ref = `${reg.host}/docker/app:v1`;
    await d(["tag", IMAGE_NAME, ref]);
    const push = await d(["push", ref]);
    const pushed = /digest: (sha256:[0-9a-f]{64}) size: (\d+)/.exec(push.stdout);
    expect(pushed, push.stdout).not.toBeNull();
    const digest = pushed![1];

    const head = await headManifest(reg, "docker/app", "v1");
    expect(head).toEqual({ digest, mediaType: DOCKER_MANIFEST });
    const manifest = await getManifestJson(reg, "docker/app", digest);
    expect(manifest.layers).toHaveLength(3);
    await expectBlobsReadable(reg, "docker/app", manifest);

    const imageId = (await d(["image", "inspect", "-f", "{{.Id}}", ref])).stdout.trim();
    await d(["rmi", ref]);
    await d(["pull", ref]);
    expect((await d(["image", "inspect", "-f", "{{.Id}}", ref])).stdout.trim()).toBe(imageId);
    await d(["rmi", ref]);
    const byDigest = `${reg.host}/docker/app@${digest}`;
    const pull = await d(["pull", byDigest]);
    expect(pull.stdout).toContain(`Digest: ${digest}`);
    expect((await d(["image", "inspect", "-f", "{{.Id}}", byDigest])).stdout.trim()).toBe(imageId);
    await d(["rmi", byDigest]);
  });

  itWith(["docker", ...needsRegistry], "docker build FROM scratch + COPY, push, pull back", async () => {
    const d = engine!.docker;
    const ctx = path.join(work, `build-${kind}`);
    await mkdir(ctx, { recursive: true });
    await writeFile(path.join(ctx, "data.bin"), randomBytes(700 * 1024));
    await writeFile(path.join(ctx, "Dockerfile"), "FROM scratch\nCOPY data.bin /data.bin\nCOPY Dockerfile /Dockerfile\n");
    const ref = `${reg.host}/built/app:v1`;
    await d(["build", "-q", "-t", ref, ctx]);
    const imageId = (await d(["image", "inspect", "-f", "{{.Id}}", ref])).stdout.trim();
    const push = await d(["push", ref]);
    const digest = /digest: (sha256:[0-9a-f]{64})/.exec(push.stdout)![1];
    expect((await headManifest(reg, "built/app", "v1"))?.digest).toBe(digest);
    await d(["rmi", ref]);
    await d(["pull", ref]);
    expect((await d(["image", "inspect", "-f", "{{.Id}}", ref])).stdout.trim()).toBe(imageId);
    await d(["rmi", ref]);
  });

  itWith(["podman", "skopeo", ...needsRegistry], "podman push and pull", async () => {
    // An image of its own: podman recompresses layers on push, and containers/image's blob-info cache (shared with
    // skopeo under /var/lib/containers/cache when root) would later let skopeo reuse those variants, which changes
    // the manifests the skopeo tests compare.
    const own = await makeOciLayout(path.join(work, `img-podman-${kind}`), { layerSizes: [512 * 1024, 64 * 1024], tag: "v1", architecture: HOST_ARCH });
    const tar = path.join(work, `img-podman-${kind}.tar`);
    const name = `e2e/podman-${kind}:v1`;
    await toDockerArchive(own, tar, name);
    const ref = `${reg.host}/podman/app:v1`;
    await tools.podman(["load", "-q", "-i", tar]);
    const imageId = (await tools.podman(["image", "inspect", "-f", "{{.Id}}", name])).stdout.trim();
    await tools.podman(["push", "-q", NO_TLS_VERIFY, name, `docker://${ref}`]);
    // podman recompresses layers from its store, so compare what the layers contain (diff ids), not their digests.
    const manifest = await getManifestJson(reg, "podman/app", "v1");
    await expectBlobsReadable(reg, "podman/app", manifest);
    const config = JSON.parse((await request(`${reg.url}/v2/podman/app/blobs/${manifest.config.digest}`)).body.toString());
    expect(config.rootfs.diff_ids).toEqual(own.layers.map((l) => l.diffId));

    await tools.podman(["rmi", "-f", name]);
    await tools.podman(["pull", "-q", NO_TLS_VERIFY, ref]);
    const inspected = JSON.parse((await tools.podman(["image", "inspect", ref])).stdout)[0];
    expect(inspected.Id).toBe(imageId);
    expect(inspected.RootFS.Layers).toEqual(own.layers.map((l) => l.diffId));
    await tools.podman(["rmi", "-f", ref]);
  });

  itWith(["skopeo", ...needsRegistry], "skopeo copy in OCI format, both directions, keeps the manifest digest", async () => {
    await tools.skopeo(["copy", "-q", "--dest-tls-verify=false", `oci:${image.dir}:${image.tag}`, `docker://${reg.host}/skopeo/oci:v1`]);
    expect(await headManifest(reg, "skopeo/oci", "v1")).toEqual({ digest: image.manifest.digest, mediaType: OCI_MANIFEST });
    const back = path.join(work, `oci-back-${kind}`);
    await tools.skopeo(["copy", "-q", "--src-tls-verify=false", `docker://${reg.host}/skopeo/oci:v1`, `oci:${back}:v1`]);
    const index = JSON.parse(await readFile(path.join(back, "index.json"), "utf8"));
    expect(index.manifests[0].digest).toBe(image.manifest.digest);
    for (const b of image.blobs) {
      const bytes = await readFile(path.join(back, "blobs", "sha256", b.digest.slice(7)));
      expect(bytes.byteLength).toBe(b.size);
    }
  });

  itWith(["skopeo", ...needsRegistry], "skopeo copy in Docker v2s2 format, both directions", async () => {
    await tools.skopeo(["copy", "-q", "--dest-tls-verify=false", "--format", "v2s2", `oci:${image.dir}:${image.tag}`, `docker://${reg.host}/skopeo/docker:v1`]);
    const head = await headManifest(reg, "skopeo/docker", "v1");
    expect(head?.mediaType).toBe(DOCKER_MANIFEST);
    const manifest = await getManifestJson(reg, "skopeo/docker", "v1");
    expect(manifest.layers.map((l: { digest: string }) => l.digest)).toEqual(image.layers.map((l) => l.digest));
    const out = path.join(work, `dir-back-${kind}`);
    await tools.skopeo(["copy", "-q", "--src-tls-verify=false", `docker://${reg.host}/skopeo/docker:v1`, `dir:${out}`]);
    const raw = await readFile(path.join(out, "manifest.json"));
    expect(`sha256:${createHash("sha256").update(raw).digest("hex")}`).toBe(head!.digest);
    for (const l of image.layers) expect((await readFile(path.join(out, l.digest.slice(7)))).byteLength).toBe(l.size);
  });

  itWith(["skopeo", ...needsRegistry], "skopeo inspect, list-tags and delete", async () => {
    const repo = `${reg.host}/skopeo/tags`;
    for (const tag of ["v1", "v2", "latest"]) {
      await tools.skopeo(["copy", "-q", "--dest-tls-verify=false", `oci:${image.dir}:${image.tag}`, `docker://${repo}:${tag}`]);
    }
    const tags = JSON.parse((await tools.skopeo(["list-tags", "--tls-verify=false", `docker://${repo}`])).stdout);
    expect(tags.Tags.sort()).toEqual(["latest", "v1", "v2"]);
    const info = JSON.parse((await tools.skopeo(["inspect", "--tls-verify=false", `docker://${repo}:v2`])).stdout);
    expect(info.Digest).toBe(image.manifest.digest);
    expect(info.Layers).toEqual(image.layers.map((l) => l.digest));
    expect(info.Architecture).toBe(HOST_ARCH);
    const raw = JSON.parse((await tools.skopeo(["inspect", "--raw", "--tls-verify=false", `docker://${repo}:v1`])).stdout);
    expect(raw.config.digest).toBe(image.config.digest);

    // skopeo delete removes the manifest (by digest), so every tag pointing at it goes too.
    await tools.skopeo(["delete", "--tls-verify=false", `docker://${repo}:v1`]);
    expect(await headManifest(reg, "skopeo/tags", image.manifest.digest)).toBeNull();
    const gone = await tools.skopeo(["inspect", "--tls-verify=false", `docker://${repo}:v2`], { allowFail: true });
    expect(gone.code).not.toBe(0);
    expect(gone.stderr).toMatch(/manifest unknown|not found/i);
  });

  itWith(["skopeo", ...needsRegistry], "skopeo copy between repositories of one registry mounts the layers", async () => {
    await tools.skopeo(["copy", "-q", "--dest-tls-verify=false", `oci:${image.dir}:${image.tag}`, `docker://${reg.host}/mount/src:v1`]);
    const before = (await reg.requests()).length;
    await tools.skopeo(["copy", "-q", "--src-tls-verify=false", "--dest-tls-verify=false", `docker://${reg.host}/mount/src:v1`, `docker://${reg.host}/mount/dst:v1`]);
    expect(await headManifest(reg, "mount/dst", "v1")).toEqual({ digest: image.manifest.digest, mediaType: OCI_MANIFEST });
    await expectBlobsReadable(reg, "mount/dst", await getManifestJson(reg, "mount/dst", "v1"));
    // Seen from the server: a 201 on POST /blobs/uploads/ is a mount; no layer bytes were uploaded again.
    await new Promise((r) => setTimeout(r, 300)); // let the log lines arrive
    const uploads = await uploadRequests(reg, "mount/dst", before);
    const mounted = uploads.filter((r) => r.method === "POST" && r.status === 201).length;
    const dataRequests = uploads.filter((r) => r.method === "PATCH" || r.method === "PUT");
    console.log(`[e2e ${kind}] cross-repo copy: ${mounted} blobs mounted, upload requests: ${JSON.stringify(uploads)}`);
    expect(mounted).toBeGreaterThanOrEqual(image.layers.length);
    // At most the small config blob may be uploaded again (containers/image copies configs without trying a mount).
    expect(dataRequests.length).toBeLessThanOrEqual(2);
  });

  itWith(["ctr", "skopeo", ...needsRegistry], "ctr (containerd) push with monolithic PUT, then pull", async () => {
    const ctr = engine!.ctr;
    const regArgs = await ctrRegistryArgs(reg, path.join(work, `ctr-${kind}`));
    await ctr(["images", "import", "--digests", imageTar]);
    const list = (await ctr(["images", "ls", "-q"])).stdout.split("\n");
    const imported = list.find((n) => n.includes("e2e/img-a:v1"));
    expect(imported, list.join(",")).toBeDefined();
    const ref = `${reg.host}/ctr/app:v1`;
    await ctr(["images", "tag", "--force", imported!, ref]);
    const before = (await reg.requests()).length;
    await ctr(["images", "push", ...regArgs, ref]);
    await new Promise((r) => setTimeout(r, 300));
    const uploads = await uploadRequests(reg, "ctr/app", before);
    // containerd's path: POST, then one PUT ?digest= with the whole blob; never a PATCH.
    expect(uploads.filter((r) => r.method === "PATCH")).toEqual([]);
    expect(uploads.filter((r) => r.method === "PUT" && r.status === 201).length).toBe(image.blobs.length);
    const manifest = await getManifestJson(reg, "ctr/app", "v1");
    await expectBlobsReadable(reg, "ctr/app", manifest);

    await ctr(["images", "rm", ref]);
    await ctr(["content", "prune", "references"], { allowFail: true });
    await ctr(["images", "pull", ...regArgs, ref]);
    const pulled = (await ctr(["images", "ls"])).stdout;
    expect(pulled).toContain(ref);
    await ctr(["images", "rm", ref]);
  });

  itWith(["buildah", "skopeo", ...needsRegistry], "buildah manifest create/add/push --all pushes an index; inspect it", async () => {
    const other = await makeOciLayout(path.join(work, `img-arm-${kind}`), { layerSizes: [64 * 1024], tag: "v1", architecture: "arm64" });
    await tools.skopeo(["copy", "-q", "--dest-tls-verify=false", `oci:${image.dir}:${image.tag}`, `docker://${reg.host}/multi/amd:v1`]);
    await tools.skopeo(["copy", "-q", "--dest-tls-verify=false", `oci:${other.dir}:${other.tag}`, `docker://${reg.host}/multi/arm:v1`]);
    const list = `e2e-list-${kind}`;
    await tools.buildah(["manifest", "create", list]);
    await tools.buildah(["manifest", "add", "--tls-verify=false", list, `docker://${reg.host}/multi/amd:v1`]);
    await tools.buildah(["manifest", "add", "--tls-verify=false", "--arch", "arm64", list, `docker://${reg.host}/multi/arm:v1`]);
    await tools.buildah(["manifest", "push", "--all", "--tls-verify=false", list, `docker://${reg.host}/multi/app:v1`]);

    const head = await headManifest(reg, "multi/app", "v1");
    expect([OCI_INDEX, DOCKER_LIST]).toContain(head?.mediaType);
    const index = JSON.parse((await tools.skopeo(["inspect", "--raw", "--tls-verify=false", `docker://${reg.host}/multi/app:v1`])).stdout);
    expect(index.mediaType).toBe(head!.mediaType);
    const byArch = Object.fromEntries(index.manifests.map((m: { platform: { architecture: string }; digest: string }) => [m.platform.architecture, m.digest]));
    expect(byArch).toEqual({ [HOST_ARCH]: image.manifest.digest, arm64: other.manifest.digest });
    // --all pushed the children into multi/app too: each resolves there by digest.
    for (const d of Object.values(byArch) as string[]) expect((await headManifest(reg, "multi/app", d))?.digest).toBe(d);
    const arm = JSON.parse((await tools.skopeo(["inspect", "--tls-verify=false", "--override-arch", "arm64", `docker://${reg.host}/multi/app:v1`])).stdout);
    expect(arm.Digest).toBe(head!.digest); // skopeo reports the digest of what the tag names: the index
    expect(arm.Architecture).toBe("arm64");
    expect(arm.Layers).toEqual(other.layers.map((l) => l.digest));
    await tools.buildah(["manifest", "rm", list], { allowFail: true });
  });
});
