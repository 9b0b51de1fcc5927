import { describe, it, expect } from "vitest";
import { env } from "cloudflare:workers";
import type { Env } from "../../src/config/settings";
import { runtimeFor } from "../../src/runtime";
import { createStorage } from "../../src/storage";
import type { ObjectStore } from "../../src/storage/types";
import { StorageError } from "../../src/storage/types";
import { putManifest as putManifestOp, REFERENCE_CHECK_CONCURRENCY } from "../../src/registry/manifests";
import { parseReference } from "../../src/protocol/names";
import { RegistryError } from "../../src/protocol/errors";
import {
  registry,
  uniqueRepo,
  pushBlob,
  pushImage,
  putManifest,
  manifestBytes,
  imageManifest,
  indexManifest,
  descriptorOf,
  digestOf,
  expectError,
  EMPTY_CONFIG,
  MEDIA,
  pseudoRandomBytes,
  type Descriptor,
} from "./helpers";

async function expectManifest(repo: string, reference: string, bytes: Uint8Array, mediaType: string) {
  const digest = await digestOf(bytes);
  const get = await registry(`/v2/${repo}/manifests/${reference}`, { headers: { Accept: `${mediaType}, ${MEDIA.ociIndex}` } });
  expect(get.status).toBe(200);
  expect(get.headers.get("content-type")).toBe(mediaType);
  expect(get.headers.get("content-length")).toBe(String(bytes.byteLength));
  expect(get.headers.get("docker-content-digest")).toBe(reference.includes(":") ? reference : digest);
  const body = new Uint8Array(await get.arrayBuffer());
  expect(body.byteLength).toBe(bytes.byteLength);
  expect(await digestOf(body)).toBe(digest); // compares the bytes; a deep-equal of 4 MiB is slow and unreadable

  const head = await registry(`/v2/${repo}/manifests/${reference}`, { method: "HEAD" });
  expect(head.status).toBe(200);
  expect(head.headers.get("content-type")).toBe(mediaType);
  expect(head.headers.get("content-length")).toBe(String(bytes.byteLength));
  expect(head.headers.get("docker-content-digest")).toBe(reference.includes(":") ? reference : digest);
  expect((await head.arrayBuffer()).byteLength).toBe(0);
}

describe("image manifests", () => {
  it("PUT by tag answers 201 with Location and Docker-Content-Digest; GET and HEAD by tag and digest", async () => {
    const repo = uniqueRepo();
    const { bytes, digest } = await pushImage(repo, "v1", { layerCount: 2 });
    await expectManifest(repo, "v1", bytes, MEDIA.ociManifest);
    await expectManifest(repo, digest, bytes, MEDIA.ociManifest);
  });

  it("PUT answers with the Location of the manifest by digest", async () => {
    const repo = uniqueRepo();
    const config = await descriptorOf(MEDIA.ociConfig, "{}");
    await pushBlob(repo, "{}");
    const m = imageManifest(config, []);
    const res = await putManifest(repo, "latest", m);
    expect(res.status).toBe(201);
    const digest = await digestOf(manifestBytes(m));
    expect(res.headers.get("location")).toBe(`/v2/${repo}/manifests/${digest}`);
    expect(res.headers.get("docker-content-digest")).toBe(digest);
  });

  it("stores a Docker schema2 manifest and serves it with its media type", async () => {
    const repo = uniqueRepo();
    const { bytes, digest } = await pushImage(repo, "docker", { mediaType: MEDIA.dockerManifest });
    await expectManifest(repo, "docker", bytes, MEDIA.dockerManifest);
    await expectManifest(repo, digest, bytes, MEDIA.dockerManifest);
  });

  it("takes the media type from Content-Type when the body has none", async () => {
    const repo = uniqueRepo();
    const cfg = "{\"os\":\"linux\"}";
    await pushBlob(repo, cfg);
    const { mediaType: _omit, ...m } = imageManifest(await descriptorOf(MEDIA.dockerConfig, cfg), [], {}, MEDIA.dockerManifest);
    const res = await putManifest(repo, "v", m, MEDIA.dockerManifest);
    expect(res.status).toBe(201);
    await expectManifest(repo, "v", manifestBytes(m), MEDIA.dockerManifest);
  });

  it("keeps the exact bytes (whitespace and key order matter for the digest)", async () => {
    const repo = uniqueRepo();
    await pushBlob(repo, "{}");
    const text = `{\n  "schemaVersion": 2,\n  "mediaType": "${MEDIA.ociManifest}",\n  "layers": [],\n  "config": {"size": 2, "digest": "${await digestOf("{}")}", "mediaType": "${MEDIA.ociConfig}"}\n}\n`;
    const bytes = new TextEncoder().encode(text);
    const res = await registry(`/v2/${repo}/manifests/pretty`, { method: "PUT", body: bytes, headers: { "Content-Type": MEDIA.ociManifest } });
    expect(res.status).toBe(201);
    expect(res.headers.get("docker-content-digest")).toBe(await digestOf(bytes));
    await expectManifest(repo, "pretty", bytes, MEDIA.ociManifest);
  });

  it("a newer PUT of a tag replaces it; the old manifest stays reachable by digest", async () => {
    const repo = uniqueRepo();
    const a = await pushImage(repo, "moving");
    const b = await pushImage(repo, "moving");
    expect(a.digest).not.toBe(b.digest);
    await expectManifest(repo, "moving", b.bytes, MEDIA.ociManifest);
    await expectManifest(repo, a.digest, a.bytes, MEDIA.ociManifest);
  });

  it("accepts foreign layers that are not in the registry", async () => {
    const repo = uniqueRepo();
    const cfg = "{\"os\":\"windows\"}";
    await pushBlob(repo, cfg);
    const foreign: Descriptor = {
      mediaType: "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
      digest: await digestOf("windows base layer"),
      size: 1234,
      urls: ["https://example.com/layer"],
    };
    const m = imageManifest(await descriptorOf(MEDIA.dockerConfig, cfg), [foreign], {}, MEDIA.dockerManifest);
    expect((await putManifest(repo, "win", m)).status).toBe(201);
  });

  it("a manifest is not visible in another repository", async () => {
    const a = uniqueRepo();
    const b = uniqueRepo();
    const { digest } = await pushImage(a, "v1");
    await expectError(await registry(`/v2/${b}/manifests/v1`), 404, "MANIFEST_UNKNOWN");
    await expectError(await registry(`/v2/${b}/manifests/${digest}`), 404, "MANIFEST_UNKNOWN");
  });
});

describe("artifacts", () => {
  it("stores an artifact with artifactType and the OCI empty config", async () => {
    const repo = uniqueRepo();
    const emptyDigest = await pushBlob(repo, "{}");
    expect(emptyDigest).toBe(EMPTY_CONFIG.digest);
    const payload = "sbom contents";
    await pushBlob(repo, payload);
    const m = imageManifest(
      { mediaType: EMPTY_CONFIG.mediaType, digest: EMPTY_CONFIG.digest, size: EMPTY_CONFIG.size },
      [await descriptorOf("application/spdx+json", payload)],
      { artifactType: "application/vnd.example.sbom.v1", annotations: { "org.opencontainers.image.created": "2024-01-01T00:00:00Z" } },
    );
    const res = await putManifest(repo, "sbom", m);
    expect(res.status).toBe(201);
    await expectManifest(repo, "sbom", manifestBytes(m), MEDIA.ociManifest);
  });

  it("stores an artifact with a custom config media type (helm chart)", async () => {
    const repo = uniqueRepo();
    const cfg = JSON.stringify({ name: "chart", version: "1.0.0" });
    await pushBlob(repo, cfg);
    const chart = pseudoRandomBytes(300, 8);
    await pushBlob(repo, chart);
    const m = imageManifest(await descriptorOf("application/vnd.cncf.helm.config.v1+json", cfg), [
      await descriptorOf("application/vnd.cncf.helm.chart.content.v1.tar+gzip", chart),
    ]);
    expect((await putManifest(repo, "1.0.0", m)).status).toBe(201);
    await expectManifest(repo, "1.0.0", manifestBytes(m), MEDIA.ociManifest);
  });

  it("accepts the empty config pushed as a blob with inline data in the descriptor", async () => {
    const repo = uniqueRepo();
    await pushBlob(repo, "{}");
    const m = imageManifest({ ...EMPTY_CONFIG }, [{ ...EMPTY_CONFIG }], { artifactType: "application/vnd.example.thing" });
    expect((await putManifest(repo, "thing", m)).status).toBe(201);
  });
});

describe("indexes", () => {
  it("stores an OCI index whose children are in the repository", async () => {
    const repo = uniqueRepo();
    const amd = await pushImage(repo, "amd64");
    const arm = await pushImage(repo, "arm64");
    const idx = indexManifest([
      { ...amd.descriptor, platform: { os: "linux", architecture: "amd64" } },
      { ...arm.descriptor, platform: { os: "linux", architecture: "arm64" } },
    ]);
    const res = await putManifest(repo, "multi", idx);
    expect(res.status).toBe(201);
    await expectManifest(repo, "multi", manifestBytes(idx), MEDIA.ociIndex);
  });

  it("stores a Docker manifest list", async () => {
    const repo = uniqueRepo();
    const img = await pushImage(repo, "one", { mediaType: MEDIA.dockerManifest });
    const list = indexManifest([{ ...img.descriptor, platform: { os: "linux", architecture: "amd64" } }], {}, MEDIA.dockerList);
    expect((await putManifest(repo, "list", list)).status).toBe(201);
    await expectManifest(repo, "list", manifestBytes(list), MEDIA.dockerList);
  });

  it("children pushed by digest only (no tag) count as present", async () => {
    const repo = uniqueRepo();
    const img = await pushImage(repo, "tmp");
    const child = await putManifest(repo, img.digest, img.manifest);
    expect(child.status).toBe(201);
    expect((await putManifest(repo, "idx", indexManifest([img.descriptor]))).status).toBe(201);
  });

  it("answers 404 MANIFEST_BLOB_UNKNOWN for a missing child manifest, and stores nothing", async () => {
    const repo = uniqueRepo();
    const present = await pushImage(repo, "present");
    const missing: Descriptor = { mediaType: MEDIA.ociManifest, digest: await digestOf("no such manifest"), size: 10 };
    const idx = indexManifest([present.descriptor, missing]);
    const err = await expectError(await putManifest(repo, "broken", idx), 404, "MANIFEST_BLOB_UNKNOWN");
    expect(err.detail).toMatchObject({ missing: [missing.digest] });
    await expectError(await registry(`/v2/${repo}/manifests/broken`), 404, "MANIFEST_UNKNOWN");
    await expectError(await registry(`/v2/${repo}/manifests/${await digestOf(manifestBytes(idx))}`), 404, "MANIFEST_UNKNOWN");
  });

  it("answers 404 MANIFEST_BLOB_UNKNOWN for a child that only another repository holds", async () => {
    const a = uniqueRepo();
    const b = uniqueRepo();
    const img = await pushImage(a, "v1");
    await expectError(await putManifest(b, "idx", indexManifest([img.descriptor])), 404, "MANIFEST_BLOB_UNKNOWN");
  });
});

describe("missing blobs", () => {
  it.each(["config", "layer"])("answers 404 MANIFEST_BLOB_UNKNOWN when the %s is missing, and stores nothing", async (which) => {
    const repo = uniqueRepo();
    const cfg = `{"which":"${which}"}`;
    const layer = `layer ${crypto.randomUUID()}`;
    if (which !== "config") await pushBlob(repo, cfg);
    if (which !== "layer") await pushBlob(repo, layer);
    const m = imageManifest(await descriptorOf(MEDIA.ociConfig, cfg), [await descriptorOf(MEDIA.ociLayer, layer)]);
    const err = await expectError(await putManifest(repo, "v1", m), 404, "MANIFEST_BLOB_UNKNOWN");
    expect(err.detail).toMatchObject({ missing: [await digestOf(which === "config" ? cfg : layer)] });
    await expectError(await registry(`/v2/${repo}/manifests/v1`), 404, "MANIFEST_UNKNOWN");
  });

  it("answers 404 MANIFEST_BLOB_UNKNOWN for a layer held only by another repository, or deleted", async () => {
    const a = uniqueRepo();
    const b = uniqueRepo();
    const layer = `layer ${crypto.randomUUID()}`;
    await pushBlob(a, layer);
    await pushBlob(b, "{}");
    const m = imageManifest(await descriptorOf(MEDIA.ociConfig, "{}"), [await descriptorOf(MEDIA.ociLayer, layer)]);
    await expectError(await putManifest(b, "v1", m), 404, "MANIFEST_BLOB_UNKNOWN");
    await pushBlob(a, "{}");
    expect((await registry(`/v2/${a}/blobs/${await digestOf(layer)}`, { method: "DELETE" })).status).toBe(202);
    await expectError(await putManifest(a, "v1", m), 404, "MANIFEST_BLOB_UNKNOWN");
  });
});

describe("PUT by digest and ?tag=", () => {
  it("PUT by digest stores the manifest without a tag", async () => {
    const repo = uniqueRepo();
    const img = await pushImage(repo, "seed");
    const other = imageManifest(img.manifest.config, img.manifest.layers, { annotations: { by: "digest" } });
    const bytes = manifestBytes(other);
    const digest = await digestOf(bytes);
    const res = await putManifest(repo, digest, other);
    expect(res.status).toBe(201);
    expect(res.headers.get("location")).toBe(`/v2/${repo}/manifests/${digest}`);
    expect(res.headers.get("docker-content-digest")).toBe(digest);
    await expectManifest(repo, digest, bytes, MEDIA.ociManifest);
    const tags = (await (await registry(`/v2/${repo}/tags/list`)).json()) as { tags: string[] };
    expect(tags.tags).toEqual(["seed"]);
  });

  it("answers 400 DIGEST_INVALID when the URL digest does not match the body, and stores nothing", async () => {
    const repo = uniqueRepo();
    const img = await pushImage(repo, "seed");
    const m = imageManifest(img.manifest.config, img.manifest.layers, { annotations: { x: "y" } });
    const wrong = await digestOf("not this manifest");
    const err = await expectError(await putManifest(repo, wrong, m), 400, "DIGEST_INVALID");
    expect(err.detail).toMatchObject({ expected: wrong, actual: await digestOf(manifestBytes(m)) });
    await expectError(await registry(`/v2/${repo}/manifests/${wrong}`), 404, "MANIFEST_UNKNOWN");
    await expectError(await registry(`/v2/${repo}/manifests/${await digestOf(manifestBytes(m))}`), 404, "MANIFEST_UNKNOWN");
  });

  it("answers 400 DIGEST_INVALID for a malformed digest reference", async () => {
    const repo = uniqueRepo();
    const img = await pushImage(repo, "seed");
    await expectError(await putManifest(repo, "sha256:abc", img.manifest), 400, "DIGEST_INVALID");
    // GET and HEAD of it: no manifest has that name (see "GET errors")
    await expectError(await registry(`/v2/${repo}/manifests/sha256:abc`), 404, "MANIFEST_UNKNOWN");
  });

  it("PUT by digest with ?tag=a&tag=b tags it under every name", async () => {
    const repo = uniqueRepo();
    const img = await pushImage(repo, "seed");
    const m = imageManifest(img.manifest.config, img.manifest.layers, { annotations: { tagged: "yes" } });
    const digest = await digestOf(manifestBytes(m));
    const res = await putManifest(repo, digest, m, undefined, "?tag=a&tag=b&tag=c");
    expect(res.status).toBe(201);
    for (const tag of ["a", "b", "c"]) await expectManifest(repo, tag, manifestBytes(m), MEDIA.ociManifest);
    const tags = (await (await registry(`/v2/${repo}/tags/list`)).json()) as { tags: string[] };
    expect(tags.tags).toEqual(["a", "b", "c", "seed"]);
  });

  it("PUT by tag with ?tag= adds the extra tags", async () => {
    const repo = uniqueRepo();
    const img = await pushImage(repo, "seed");
    const res = await putManifest(repo, "main", img.manifest, undefined, "?tag=extra");
    expect(res.status).toBe(201);
    await expectManifest(repo, "main", img.bytes, MEDIA.ociManifest);
    await expectManifest(repo, "extra", img.bytes, MEDIA.ociManifest);
  });

  it("answers 400 for an invalid ?tag= and stores nothing", async () => {
    const repo = uniqueRepo();
    const img = await pushImage(repo, "seed");
    const m = imageManifest(img.manifest.config, img.manifest.layers, { annotations: { n: "1" } });
    const digest = await digestOf(manifestBytes(m));
    await expectError(await putManifest(repo, digest, m, undefined, `?tag=good&tag=${"x".repeat(129)}`), 400, "MANIFEST_INVALID");
    await expectError(await registry(`/v2/${repo}/manifests/good`), 404, "MANIFEST_UNKNOWN");
    await expectError(await registry(`/v2/${repo}/manifests/${digest}`), 404, "MANIFEST_UNKNOWN");
  });

  it("stores a manifest under a sha512 digest", async () => {
    const repo = uniqueRepo();
    const img = await pushImage(repo, "seed");
    const digest = await digestOf(img.bytes, "sha512");
    const res = await registry(`/v2/${repo}/manifests/${digest}`, { method: "PUT", body: img.bytes, headers: { "Content-Type": MEDIA.ociManifest } });
    expect(res.status).toBe(201);
    expect(res.headers.get("docker-content-digest")).toBe(digest);
    const get = await registry(`/v2/${repo}/manifests/${digest}`);
    expect(get.status).toBe(200);
    expect(get.headers.get("docker-content-digest")).toBe(digest);
    expect(new Uint8Array(await get.arrayBuffer())).toEqual(img.bytes);
    const wrong = await digestOf("other", "sha512");
    await expectError(await registry(`/v2/${repo}/manifests/${wrong}`, { method: "PUT", body: img.bytes, headers: { "Content-Type": MEDIA.ociManifest } }), 400, "DIGEST_INVALID");
  });
});

describe("invalid manifests", () => {
  const cases: [string, string | ((cfg: Descriptor) => unknown), string?][] = [
    ["not JSON", "{not json"],
    ["empty body", ""],
    ["a JSON array", "[]"],
    ["schemaVersion 1", (cfg) => ({ ...imageManifest(cfg, []), schemaVersion: 1 })],
    ["no config", (cfg) => ({ schemaVersion: 2, mediaType: MEDIA.ociManifest, layers: [], _cfg: cfg.digest })],
    ["layers not an array", (cfg) => ({ ...imageManifest(cfg, []), layers: "none" })],
    ["a descriptor with a string size", (cfg) => imageManifest({ ...cfg, size: "2" as unknown as number }, [])],
    ["an index with layers", (cfg) => ({ ...indexManifest([]), layers: [cfg] })],
    ["an unsupported mediaType", (cfg) => imageManifest(cfg, [], {}, "application/vnd.docker.distribution.manifest.v1+json")],
    ["a mediaType that contradicts Content-Type", (cfg) => imageManifest(cfg, []), MEDIA.dockerManifest],
    ["an index body sent as an image manifest", () => indexManifest([]), MEDIA.ociManifest],
    ["an inherited member as mediaType", () => ({ ...indexManifest([]), mediaType: "constructor" })],
  ];
  it.each(cases)("answers 400 MANIFEST_INVALID for %s and stores nothing", async (_what, make, contentType) => {
    const repo = uniqueRepo();
    await pushBlob(repo, "{}");
    const cfg = await descriptorOf(MEDIA.ociConfig, "{}");
    const body = typeof make === "string" ? make : JSON.stringify(make(cfg));
    const res = await registry(`/v2/${repo}/manifests/bad`, { method: "PUT", body, headers: { "Content-Type": contentType ?? MEDIA.ociManifest } });
    await expectError(res, 400, "MANIFEST_INVALID");
    await expectError(await registry(`/v2/${repo}/manifests/bad`), 404, "MANIFEST_UNKNOWN");
  });

  it("answers 400 MANIFEST_INVALID for invalid UTF-8", async () => {
    const repo = uniqueRepo();
    const body = new Uint8Array([...new TextEncoder().encode('{"schemaVersion":2,"x":"'), 0xc3, 0x28, ...new TextEncoder().encode('"}')]);
    await expectError(await registry(`/v2/${repo}/manifests/bad`, { method: "PUT", body, headers: { "Content-Type": MEDIA.ociManifest } }), 400, "MANIFEST_INVALID");
  });

  it("answers 400 for an invalid tag in the URL", async () => {
    const repo = uniqueRepo();
    const img = await pushImage(repo, "seed");
    await expectError(await putManifest(repo, "-bad", img.manifest), 400, "MANIFEST_INVALID");
    await expectError(await putManifest(repo, "x".repeat(129), img.manifest), 400, "MANIFEST_INVALID");
    expect((await putManifest(repo, "x".repeat(128), img.manifest)).status).toBe(201);
  });
});

describe("manifest size limit (4 MiB)", () => {
  const LIMIT = 4 * 1024 * 1024;
  async function padded(repo: string, size: number) {
    await pushBlob(repo, "{}");
    const base = imageManifest(await descriptorOf(MEDIA.ociConfig, "{}"), [], { annotations: { pad: "" } });
    const overhead = manifestBytes(base).byteLength;
    const m = imageManifest(base.config, [], { annotations: { pad: "p".repeat(size - overhead) } });
    const bytes = manifestBytes(m);
    expect(bytes.byteLength).toBe(size);
    return bytes;
  }

  it("accepts a manifest of exactly 4 MiB", async () => {
    const repo = uniqueRepo();
    const bytes = await padded(repo, LIMIT);
    const res = await registry(`/v2/${repo}/manifests/big`, { method: "PUT", body: bytes, headers: { "Content-Type": MEDIA.ociManifest } });
    expect(res.status, await res.clone().text()).toBe(201);
    await expectManifest(repo, "big", bytes, MEDIA.ociManifest);
  });

  it("answers 413 for 4 MiB + 1 with Content-Length", async () => {
    const repo = uniqueRepo();
    const bytes = await padded(repo, LIMIT + 1);
    const res = await registry(`/v2/${repo}/manifests/big`, { method: "PUT", body: bytes, headers: { "Content-Type": MEDIA.ociManifest } });
    await expectError(res, 413, "SIZE_INVALID");
    await expectError(await registry(`/v2/${repo}/manifests/big`), 404, "MANIFEST_UNKNOWN");
  });

  it("answers 413 for an oversized manifest streamed without Content-Length", async () => {
    const repo = uniqueRepo();
    const bytes = await padded(repo, LIMIT + 1);
    let sent = false;
    const body = new ReadableStream<Uint8Array>({
      pull(c) {
        if (sent) return c.close();
        sent = true;
        c.enqueue(bytes);
      },
    });
    const res = await registry(`/v2/${repo}/manifests/big`, { method: "PUT", body, headers: { "Content-Type": MEDIA.ociManifest } });
    await expectError(res, 413, "SIZE_INVALID");
  });
});

describe("subject", () => {
  it("answers OCI-Subject when the manifest has a subject", async () => {
    const repo = uniqueRepo();
    const target = await pushImage(repo, "target");
    await pushBlob(repo, "{}");
    const sig = imageManifest({ mediaType: EMPTY_CONFIG.mediaType, digest: EMPTY_CONFIG.digest, size: 2 }, [], {
      artifactType: "application/vnd.example.signature",
      subject: target.descriptor,
    });
    const res = await putManifest(repo, await digestOf(manifestBytes(sig)), sig);
    expect(res.status).toBe(201);
    expect(res.headers.get("oci-subject")).toBe(target.digest);
  });

  it("accepts a manifest whose subject does not exist (yet)", async () => {
    const repo = uniqueRepo();
    await pushBlob(repo, "{}");
    const ghost: Descriptor = { mediaType: MEDIA.ociManifest, digest: await digestOf("ghost"), size: 100 };
    const sig = imageManifest({ mediaType: EMPTY_CONFIG.mediaType, digest: EMPTY_CONFIG.digest, size: 2 }, [], { artifactType: "application/vnd.example.sig", subject: ghost });
    const res = await putManifest(repo, "sig", sig);
    expect(res.status).toBe(201);
    expect(res.headers.get("oci-subject")).toBe(ghost.digest);
  });

  it("a manifest without subject has no OCI-Subject header", async () => {
    const repo = uniqueRepo();
    await pushBlob(repo, "{}");
    const res = await putManifest(repo, "plain", imageManifest(await descriptorOf(MEDIA.ociConfig, "{}"), []));
    expect(res.status).toBe(201);
    expect(res.headers.get("oci-subject")).toBeNull();
  });
});

describe("DELETE manifests", () => {
  it("DELETE by tag answers 202 and removes only the tag", async () => {
    const repo = uniqueRepo();
    const img = await pushImage(repo, "v1");
    expect((await putManifest(repo, "v2", img.manifest)).status).toBe(201);
    const res = await registry(`/v2/${repo}/manifests/v1`, { method: "DELETE" });
    expect(res.status).toBe(202);
    await expectError(await registry(`/v2/${repo}/manifests/v1`), 404, "MANIFEST_UNKNOWN");
    expect((await registry(`/v2/${repo}/manifests/v1`, { method: "HEAD" })).status).toBe(404);
    await expectManifest(repo, "v2", img.bytes, MEDIA.ociManifest);
    await expectManifest(repo, img.digest, img.bytes, MEDIA.ociManifest);
  });

  it("DELETE by digest answers 202 and removes the manifest and every tag on it", async () => {
    const repo = uniqueRepo();
    const img = await pushImage(repo, "v1");
    expect((await putManifest(repo, "v2", img.manifest)).status).toBe(201);
    const keep = await pushImage(repo, "other");
    const res = await registry(`/v2/${repo}/manifests/${img.digest}`, { method: "DELETE" });
    expect(res.status).toBe(202);
    await expectError(await registry(`/v2/${repo}/manifests/${img.digest}`), 404, "MANIFEST_UNKNOWN");
    await expectError(await registry(`/v2/${repo}/manifests/v1`), 404, "MANIFEST_UNKNOWN");
    await expectError(await registry(`/v2/${repo}/manifests/v2`), 404, "MANIFEST_UNKNOWN");
    await expectManifest(repo, "other", keep.bytes, MEDIA.ociManifest);
    const tags = (await (await registry(`/v2/${repo}/tags/list`)).json()) as { tags: string[] };
    expect(tags.tags).toEqual(["other"]);
  });

  it("answers 404 MANIFEST_UNKNOWN for unknown tags and digests, 400 for bad references", async () => {
    const repo = uniqueRepo();
    await pushImage(repo, "v1");
    await expectError(await registry(`/v2/${repo}/manifests/nope`, { method: "DELETE" }), 404, "MANIFEST_UNKNOWN");
    await expectError(await registry(`/v2/${repo}/manifests/${await digestOf("none")}`, { method: "DELETE" }), 404, "MANIFEST_UNKNOWN");
    await expectError(await registry(`/v2/${repo}/manifests/sha256:zz`, { method: "DELETE" }), 400, "DIGEST_INVALID");
  });

  it("a deleted manifest can be pushed again", async () => {
    const repo = uniqueRepo();
    const img = await pushImage(repo, "v1");
    expect((await registry(`/v2/${repo}/manifests/${img.digest}`, { method: "DELETE" })).status).toBe(202);
    expect((await putManifest(repo, "v1", img.manifest)).status).toBe(201);
    await expectManifest(repo, "v1", img.bytes, MEDIA.ociManifest);
  });
});

describe("GET errors", () => {
  it("answers 404 MANIFEST_UNKNOWN for an unknown tag, digest or repository", async () => {
    const repo = uniqueRepo();
    await pushImage(repo, "v1");
    await expectError(await registry(`/v2/${repo}/manifests/v9`), 404, "MANIFEST_UNKNOWN");
    await expectError(await registry(`/v2/${repo}/manifests/${await digestOf("x")}`), 404, "MANIFEST_UNKNOWN");
    await expectError(await registry(`/v2/${uniqueRepo()}/manifests/v1`), 404, "MANIFEST_UNKNOWN");
    const head = await registry(`/v2/${repo}/manifests/v9`, { method: "HEAD" });
    expect(head.status).toBe(404);
  });

  // As distribution and zot answer: a reference that is neither a valid tag nor a digest names no manifest.
  // PUT keeps its 400 (the client tries to create something invalid).
  it.each([
    ["a tag starting with '-'", "-bad-"],
    ["a tag starting with '.'", ".x"],
    ["colons in a tag", "v1:tag:with:colons"],
    ["a tag of 129 characters", "x".repeat(129)],
    ["a tag of 5000 characters", "x".repeat(5000)],
    ["a short sha256 digest", "sha256:abc"],
    ["an uppercase sha256 digest", `sha256:${"A".repeat(64)}`],
    ["an unknown algorithm", `md5:${"a".repeat(32)}`],
    ["a space", encodeURIComponent("a b")],
  ])("GET and HEAD of %s answer 404 MANIFEST_UNKNOWN; PUT answers 400", async (_what, reference) => {
    const repo = uniqueRepo();
    const img = await pushImage(repo, "v1");
    await expectError(await registry(`/v2/${repo}/manifests/${reference}`), 404, "MANIFEST_UNKNOWN");
    const head = await registry(`/v2/${repo}/manifests/${reference}`, { method: "HEAD" });
    expect(head.status).toBe(404);
    expect((await head.arrayBuffer()).byteLength).toBe(0);
    const put = await putManifest(repo, reference, img.manifest);
    expect(put.status).toBe(400);
    expect((await put.json<{ errors: { code: string }[] }>()).errors[0].code).toMatch(/^(MANIFEST_INVALID|DIGEST_INVALID)$/);
  });

  it("answers 400 NAME_INVALID for a bad repository name", async () => {
    await expectError(await registry(`/v2/Bad/Name/manifests/v1`), 400, "NAME_INVALID");
    await expectError(await registry(`/v2/a__-b/manifests/v1`, { method: "PUT", body: "{}" }), 400, "NAME_INVALID");
    await expectError(await registry(`/v2/-x/manifests/v1`, { method: "DELETE" }), 400, "NAME_INVALID");
  });
});

describe("references: cap, de-duplication and bounded concurrency", () => {
  /** The real store of this project (R2 or S3), with its reads counted and the reads in flight tracked. */
  function countingStore(failAt?: number) {
    const store = createStorage(runtimeFor(env as unknown as Env).config).store;
    const stats = { reads: [] as string[], inFlight: 0, maxInFlight: 0 };
    const counted = (method: "head" | "get") => async (key: string, ...rest: unknown[]) => {
      stats.reads.push(key);
      if (failAt !== undefined && stats.reads.length === failAt) throw new StorageError("injected failure");
      stats.inFlight++;
      stats.maxInFlight = Math.max(stats.maxInFlight, stats.inFlight);
      try {
        return await (store[method] as (...a: unknown[]) => Promise<unknown>).call(store, key, ...rest);
      } finally {
        stats.inFlight--;
      }
    };
    const wrapped = new Proxy(store, {
      get(target, prop) {
        if (prop === "head" || prop === "get") return counted(prop);
        const v = Reflect.get(target, prop);
        return typeof v === "function" ? v.bind(target) : v;
      },
    }) as ObjectStore;
    return { deps: { store: wrapped, settings: runtimeFor(env as unknown as Env).config.registry }, stats };
  }
  const body = (doc: unknown) => manifestBytes(doc);

  // 20,000 descriptors are at least 140,000 JSON tokens: the token limit refuses them before the cap is counted.
  it.each([
    [20000, /more than 100000 JSON tokens/, { limit: 100000 }],
    [1000, /at most 1000/, { limit: 1000, references: 1001 }],
  ])("answers 400 MANIFEST_INVALID for %i layers that name one blob, and stores nothing", async (count, message, detail) => {
    const repo = uniqueRepo();
    await pushBlob(repo, "{}");
    await pushBlob(repo, "one layer");
    const layer = await descriptorOf(MEDIA.ociLayer, "one layer");
    const m = imageManifest(await descriptorOf(MEDIA.ociConfig, "{}"), Array(count).fill(layer));
    const err = await expectError(await putManifest(repo, "huge", m), 400, "MANIFEST_INVALID");
    expect(err.message).toMatch(message);
    expect(err.detail).toEqual(detail);
    await expectError(await registry(`/v2/${repo}/manifests/huge`), 404, "MANIFEST_UNKNOWN");
  });

  it("the cap answers before any storage read", async () => {
    const repo = uniqueRepo();
    const { deps, stats } = countingStore();
    const layer = await descriptorOf(MEDIA.ociLayer, "never pushed");
    const m = imageManifest(await descriptorOf(MEDIA.ociConfig, "{}"), Array(1000).fill(layer));
    await expect(putManifestOp(deps, repo, parseReference("t"), body(m), MEDIA.ociManifest)).rejects.toMatchObject({ code: "MANIFEST_INVALID" });
    expect(stats.reads).toEqual([]);
  });

  it("accepts a manifest that names one blob 999 times (1,000 descriptors with the config)", async () => {
    const repo = uniqueRepo();
    await pushBlob(repo, "{}");
    await pushBlob(repo, "one layer");
    const layer = await descriptorOf(MEDIA.ociLayer, "one layer");
    const m = imageManifest(await descriptorOf(MEDIA.ociConfig, "{}"), Array(999).fill(layer));
    const res = await putManifest(repo, "many", m);
    expect(res.status, await res.clone().text()).toBe(201);
    await expectManifest(repo, "many", manifestBytes(m), MEDIA.ociManifest);
  });

  it("reads each distinct blob once, with at most REFERENCE_CHECK_CONCURRENCY reads in flight", async () => {
    const repo = uniqueRepo();
    await pushBlob(repo, "{}");
    const distinct: Descriptor[] = [];
    for (let i = 0; i < 16; i++) {
      await pushBlob(repo, `layer ${i}`);
      distinct.push(await descriptorOf(MEDIA.ociLayer, `layer ${i}`));
    }
    // 640 layers: each of the 16 blobs 40 times, interleaved; the config once more as a layer
    const config = await descriptorOf(MEDIA.ociConfig, "{}");
    const layers = [...Array.from({ length: 640 }, (_, i) => distinct[i % 16]), { ...config, mediaType: MEDIA.ociLayer }];
    const { deps, stats } = countingStore();
    const result = await putManifestOp(deps, repo, parseReference("dedup"), body(imageManifest(config, layers)), MEDIA.ociManifest);
    expect(formatted(result.digest)).toBe(await digestOf(body(imageManifest(config, layers))));
    // The pre-check reads each link once, the post-check each blob record once (docs/gc.md §5), and the manifest
    // is read back once at the end.
    const links = stats.reads.filter((k) => k.startsWith(`repos/${repo}/_blobs/`));
    const records = stats.reads.filter((k) => k.startsWith("blobs/"));
    expect(links).toHaveLength(17);
    expect(new Set(links).size).toBe(17);
    expect(records).toHaveLength(17);
    expect(new Set(records).size).toBe(17);
    expect(stats.reads.filter((k) => k === `repos/${repo}/_manifests/${formatted(result.digest).replace(":", "/")}`)).toHaveLength(1);
    expect(stats.reads).toHaveLength(35);
    expect(REFERENCE_CHECK_CONCURRENCY).toBe(8);
    expect(stats.maxInFlight).toBe(REFERENCE_CHECK_CONCURRENCY);
  });

  it("reads each distinct index child once before and once after writing, with bounded concurrency", async () => {
    const repo = uniqueRepo();
    const children: Descriptor[] = [];
    for (let i = 0; i < 9; i++) children.push((await pushImage(repo, `c${i}`)).descriptor);
    const entries = Array.from({ length: 300 }, (_, i) => children[i % 9]);
    const { deps, stats } = countingStore();
    const result = await putManifestOp(deps, repo, parseReference("idx"), body(indexManifest(entries)), MEDIA.ociIndex);
    // Nine children, each read by the pre-check and again by the post-check (retention may have deleted one in
    // between: docs/gc.md §9), and the index itself read back once at the end.
    const own = `repos/${repo}/_manifests/${formatted(result.digest).replace(":", "/")}`;
    expect(stats.reads.filter((k) => k !== own)).toHaveLength(18);
    expect(new Set(stats.reads.filter((k) => k !== own)).size).toBe(9);
    expect(stats.reads.filter((k) => k === own)).toHaveLength(1);
    expect(stats.maxInFlight).toBeLessThanOrEqual(REFERENCE_CHECK_CONCURRENCY);
  });

  it("stops reading once a reference is missing", async () => {
    const repo = uniqueRepo();
    await pushBlob(repo, "{}");
    const missing = await Promise.all(Array.from({ length: 200 }, (_, i) => descriptorOf(MEDIA.ociLayer, `missing ${i}`)));
    const { deps, stats } = countingStore();
    const err = await putManifestOp(deps, repo, parseReference("t"), body(imageManifest(await descriptorOf(MEDIA.ociConfig, "{}"), missing)), MEDIA.ociManifest).catch((e) => e);
    expect(err).toBeInstanceOf(RegistryError);
    expect((err as RegistryError).code).toBe("MANIFEST_BLOB_UNKNOWN");
    // the first 8 reads start together; only the config, which exists, can be followed by one more read
    expect(stats.reads.length).toBeLessThanOrEqual(REFERENCE_CHECK_CONCURRENCY + 1);
    expect(((err as RegistryError).detail as { missing: string[] }).missing.length).toBeGreaterThan(0);
  });

  it("a storage failure stops the checks: no read starts after the error", async () => {
    const repo = uniqueRepo();
    await pushBlob(repo, "{}");
    const layers = await Promise.all(Array.from({ length: 200 }, (_, i) => descriptorOf(MEDIA.ociLayer, `absent ${i}`)));
    const { deps, stats } = countingStore(3);
    await expect(putManifestOp(deps, repo, parseReference("t"), body(imageManifest(await descriptorOf(MEDIA.ociConfig, "{}"), layers)), MEDIA.ociManifest)).rejects.toBeInstanceOf(StorageError);
    const after = stats.reads.length;
    await new Promise((r) => setTimeout(r, 200));
    expect(stats.reads.length).toBe(after);
    expect(after).toBeLessThanOrEqual(REFERENCE_CHECK_CONCURRENCY + 1);
  });
});

describe("hostile manifests", () => {
  const LIMIT = 4 * 1024 * 1024;
  const hostile = (value: string) =>
    new TextEncoder().encode(`{"schemaVersion":2,"mediaType":"${MEDIA.ociManifest}","x":${value}}`.padEnd(LIMIT, " "));

  it.each([
    ["deep arrays", () => "[".repeat(LIMIT / 2 - 100) + "]".repeat(LIMIT / 2 - 100), /nested deeper than 32/],
    ["2M tiny array elements", () => "[" + "0,".repeat(LIMIT / 2 - 100) + "0]", /more than 100000 JSON tokens/],
  ])("answers 400 MANIFEST_INVALID for 4 MiB of %s, and stores nothing", async (_what, make, message) => {
    const repo = uniqueRepo();
    const bytes = hostile(make());
    expect(bytes.byteLength).toBe(LIMIT);
    const res = await registry(`/v2/${repo}/manifests/t`, { method: "PUT", body: bytes, headers: { "Content-Type": MEDIA.ociManifest } });
    expect((await expectError(res, 400, "MANIFEST_INVALID")).message).toMatch(message);
    await expectError(await registry(`/v2/${repo}/manifests/t`), 404, "MANIFEST_UNKNOWN");
  });
});

function formatted(d: { algorithm: string; hex: string }): string {
  return `${d.algorithm}:${d.hex}`;
}
