// docker-archive:PATH[:REF] on tarballs made by skopeo (legacy format, as docker ≤ 24 saves) and packed from an
// OCI layout (docker ≥ 25's format); docker-daemon:NAME on a real dockerd 20.10 (its save format is legacy); and
// that docker 20.10 pulls the OCI manifest with uncompressed layers built for the legacy format.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createReadStream } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { openSource } from "../../cli/sources/index";
import { dockerArchiveSource } from "../../cli/sources/docker-archive";
import { createRegistryClient } from "../../cli/registry/client";
import { makeOciLayout, toDockerArchive, type OciImage } from "../support/oci-layout";
import { removeDir, run, tempDir } from "../support/proc";
import { startDockerd, type DockerEngine } from "../support/docker";
import { startDistribution, type RegistryUnderTest } from "../support/registries";
import { consumeAll, packOciArchive } from "./layouts";
import { miniPush } from "./mini-push";

const OCI_LAYER_TAR = "application/vnd.oci.image.layer.v1.tar";
let root: string;
let image: OciImage;
let legacyTar: string;

beforeAll(async () => {
  root = await tempDir("cli-archive");
  image = await makeOciLayout(path.join(root, "layout"), { layerSizes: [50_000, 3_000_000], tag: "v1" });
  legacyTar = path.join(root, "legacy.tar");
  await toDockerArchive(image, legacyTar, "example.com/team/img:v1");
});
afterAll(async () => {
  await removeDir(root);
});

/** The built manifest: OCI, config as in the archive, uncompressed layers whose digests are the diff ids. */
function expectLegacyManifest(manifest: { bytes: Buffer; mediaType: string; top: boolean }) {
  const doc = JSON.parse(manifest.bytes.toString());
  expect(manifest.mediaType).toBe("application/vnd.oci.image.manifest.v1+json");
  expect(manifest.top).toBe(true);
  expect(doc.config.mediaType).toBe("application/vnd.oci.image.config.v1+json");
  expect(doc.layers.map((l: { mediaType: string }) => l.mediaType)).toEqual([OCI_LAYER_TAR, OCI_LAYER_TAR]);
  expect(doc.layers.map((l: { digest: string }) => l.digest)).toEqual(image.layers.map((l) => l.diffId));
  return doc;
}

describe("docker-archive: legacy format (skopeo, docker ≤ 24)", () => {
  it("streams layers without a digest, hashes them, and builds the manifest from manifest.json and the config", async () => {
    const source = await openSource(`docker-archive:${legacyTar}`);
    expect(source.randomAccess).toBe(false);
    const seen: { digest: string | null; resumeKey: string }[] = [];
    const blobs = await consumeAll({ ...source, blobs: async function* () {
      for await (const b of source.blobs()) {
        seen.push({ digest: b.digest, resumeKey: b.resumeKey });
        yield b;
      }
    } });
    const [manifest] = await source.manifests();
    const doc = expectLegacyManifest(manifest);
    // layers arrive without a digest and with a stable resume key; the config with its digest
    expect(seen.filter((s) => s.digest === null)).toHaveLength(2);
    expect(seen.filter((s) => s.digest === null).every((s) => s.resumeKey.includes(legacyTar) && s.resumeKey.endsWith(".tar:" + s.resumeKey.split(":").pop()))).toBe(true);
    expect(blobs.get(doc.config.digest)?.size).toBe(doc.config.size);
    for (const l of doc.layers) expect(blobs.get(l.digest)?.size).toBe(l.size);
  });

  it("drains blobs the engine skipped or abandoned, and still knows their digests", async () => {
    const source = await openSource(`docker-archive:${legacyTar}:example.com/team/img:v1`);
    let i = 0;
    for await (const blob of source.blobs()) {
      if (i++ % 2 === 0) continue; // never opened (e.g. the registry has it already)
      const s = blob.open();
      s.once("data", () => s.destroy()); // read a little, then give up
      await new Promise((r) => s.once("close", r));
    }
    expectLegacyManifest((await source.manifests())[0]);
  });

  it("REF picks the image by its RepoTags (docker.io/library/ spelled out or not); an unknown REF names those it has", async () => {
    const tar = path.join(root, "hub.tar");
    await toDockerArchive(image, tar, "img:v1");
    const ok = await openSource(`docker-archive:${tar}:img:v1`);
    await consumeAll(ok);
    expectLegacyManifest((await ok.manifests())[0]);
    const bad = await openSource(`docker-archive:${tar}:other:v2`);
    await consumeAll(bad);
    await expect(bad.manifests()).rejects.toThrow(/no image "other:v2" in the archive \(it has: docker.io\/library\/img:v1\)/);
  });

  it("fails clearly when the layers do not match the config's diff_ids", async () => {
    // Swap the two layers in manifest.json: each still hashes fine, but the order contradicts the config.
    const dir = path.join(root, "swap");
    await run("mkdir", ["-p", dir]);
    await run("tar", ["-xf", legacyTar, "-C", dir]);
    const list = JSON.parse(await readFile(path.join(dir, "manifest.json"), "utf8"));
    list[0].Layers.reverse();
    await writeFile(path.join(dir, "manifest.json"), JSON.stringify(list));
    const tar = path.join(root, "swap.tar");
    await run("tar", ["-cf", tar, "-C", dir, "."]);
    const source = await openSource(`docker-archive:${tar}`);
    await consumeAll(source);
    await expect(source.manifests()).rejects.toThrow(/the layers do not match the config's rootfs.diff_ids/);
  });

  it("reads stdin for PATH -, and a truncated archive is an error", async () => {
    const bytes = await readFile(legacyTar);
    const cut = path.join(root, "cut.tar");
    await writeFile(cut, bytes.subarray(0, Math.floor(bytes.length / 2)));
    const source = dockerArchiveSource(createReadStream(cut), { describe: "docker-archive:-", resumePrefix: "stdin" });
    await expect(consumeAll(source)).rejects.toThrow(/Unexpected end of data|ended after/);
    await expect(openSource(`docker-archive:${path.join(root, "missing.tar")}`)).rejects.toThrow(/missing.tar does not exist/);
  });
});

describe("docker-archive: OCI format (docker ≥ 25)", () => {
  it("takes the manifests from blobs/ through index.json, and yields the other blobs with their digests", async () => {
    const img = await makeOciLayout(path.join(root, "oci-in-tar"), { layerSizes: [6_000_000, 1000], tag: "v2" });
    const tar = path.join(root, "oci.tar");
    await packOciArchive(img, tar, "docker.io/library/thing:v2");
    const source = await openSource(`docker-archive:${tar}:thing:v2`);
    const blobs = await consumeAll(source);
    expect(new Set(blobs.keys())).toEqual(new Set(img.blobs.map((b) => b.digest)));
    const manifests = await source.manifests();
    expect(manifests.map((m) => [m.digest, m.top])).toEqual([[img.manifest.digest, true]]);
  });
});

describe("docker-daemon: a real dockerd 20.10", () => {
  let engine: DockerEngine;
  let registry: RegistryUnderTest;
  let env: NodeJS.ProcessEnv;
  beforeAll(async () => {
    [engine, registry] = await Promise.all([startDockerd(), startDistribution()]);
    env = { ...process.env, DOCKER_HOST: `unix://${engine.socket}` };
    await engine.docker(["load", "-i", legacyTar]);
  }, 120_000);
  afterAll(async () => {
    await engine?.stop();
    await registry?.stop();
  });

  it("streams `docker save` from the engine's socket (prefix and bare name); the manifest's layers are the diff ids", async () => {
    for (const spec of ["docker-daemon:example.com/team/img:v1", "example.com/team/img:v1"]) {
      const source = await openSource(spec, env);
      const blobs = await consumeAll(source);
      const doc = expectLegacyManifest((await source.manifests())[0]);
      expect(blobs.get(doc.config.digest)).toBeDefined();
      await source.close();
    }
  });

  it("says so when the image is unknown or the engine is not there", async () => {
    await expect(openSource("docker-daemon:example.com/team/nope", env)).rejects.toThrow(/the Docker engine has no image example.com\/team\/nope:latest/);
    await expect(openSource("docker-daemon:img", { ...env, DOCKER_HOST: `unix://${path.join(root, "no.sock")}` })).rejects.toThrow(
      /cannot reach the Docker engine at unix:\/\/.*no.sock: is the Docker engine running\?/,
    );
  });

  it("docker 20.10 pulls the OCI manifest with uncompressed layers built from its own save", async () => {
    const source = await openSource("docker-daemon:example.com/team/img:v1", env);
    const client = createRegistryClient({ host: registry.host, credentials: null });
    const digest = await miniPush(source, client, "team/rebuilt", "v1");
    const ref = `${registry.host}/team/rebuilt:v1`;
    const pull = await engine.docker(["pull", ref]);
    expect(pull.stdout).toContain(digest);
    const inspect = JSON.parse((await engine.docker(["image", "inspect", ref])).stdout);
    expect(inspect[0].RootFS.Layers).toEqual(image.layers.map((l) => l.diffId));
  });
});
