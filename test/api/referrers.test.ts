import { describe, it, expect } from "vitest";
import { registry, uniqueRepo, pushImage, pushBlob, putManifest, manifestBytes, imageManifest, indexManifest, digestOf, expectError, EMPTY_CONFIG, MEDIA, readJson, type Descriptor } from "./helpers";

const emptyConfig = { mediaType: EMPTY_CONFIG.mediaType, digest: EMPTY_CONFIG.digest, size: EMPTY_CONFIG.size };

async function pushReferrer(repo: string, subject: Descriptor, artifactType: string | undefined, extra: Record<string, unknown> = {}, config: Descriptor = emptyConfig) {
  await pushBlob(repo, "{}");
  const m = imageManifest(config, [], { ...(artifactType ? { artifactType } : {}), subject, ...extra });
  const bytes = manifestBytes(m);
  const digest = await digestOf(bytes);
  const res = await putManifest(repo, digest, m);
  expect(res.status).toBe(201);
  expect(res.headers.get("oci-subject")).toBe(subject.digest);
  return { digest, size: bytes.byteLength, manifest: m };
}

async function referrers(repo: string, digest: string, query = "") {
  const res = await registry(`/v2/${repo}/referrers/${digest}${query}`);
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toBe(MEDIA.ociIndex);
  const body = await readJson<{ schemaVersion: number; mediaType: string; manifests: Descriptor[] }>(res);
  expect(body.schemaVersion).toBe(2);
  expect(body.mediaType).toBe(MEDIA.ociIndex);
  return { res, manifests: body.manifests };
}

describe("GET /v2/<name>/referrers/<digest>", () => {
  it("answers an empty index when there are none, for known and unknown subjects and repositories", async () => {
    const repo = uniqueRepo();
    const img = await pushImage(repo, "v1");
    expect((await referrers(repo, img.digest)).manifests).toEqual([]);
    expect((await referrers(repo, await digestOf("unknown"))).manifests).toEqual([]);
    expect((await referrers(uniqueRepo(), img.digest)).manifests).toEqual([]);
  });

  it("lists referrers with mediaType, digest, size, artifactType and annotations", async () => {
    const repo = uniqueRepo();
    const img = await pushImage(repo, "v1");
    const sig = await pushReferrer(repo, img.descriptor, "application/vnd.example.signature", { annotations: { "org.example.k": "v" } });
    const sbom = await pushReferrer(repo, img.descriptor, "application/vnd.example.sbom");
    const { res, manifests } = await referrers(repo, img.digest);
    expect(res.headers.get("oci-filters-applied")).toBeNull();
    const expected = [
      { mediaType: MEDIA.ociManifest, digest: sig.digest, size: sig.size, artifactType: "application/vnd.example.signature", annotations: { "org.example.k": "v" } },
      { mediaType: MEDIA.ociManifest, digest: sbom.digest, size: sbom.size, artifactType: "application/vnd.example.sbom" },
    ].sort((a, b) => (a.digest < b.digest ? -1 : 1));
    expect(manifests).toEqual(expected);
  });

  it("reports the config media type as artifactType when the manifest has none", async () => {
    const repo = uniqueRepo();
    const img = await pushImage(repo, "v1");
    const cfg = '{"k":"v"}';
    await pushBlob(repo, cfg);
    const cfgDesc = { mediaType: "application/vnd.example.config.v1+json", digest: await digestOf(cfg), size: cfg.length };
    const ref = await pushReferrer(repo, img.descriptor, undefined, {}, cfgDesc);
    const { manifests } = await referrers(repo, img.digest);
    expect(manifests).toEqual([{ mediaType: MEDIA.ociManifest, digest: ref.digest, size: ref.size, artifactType: "application/vnd.example.config.v1+json" }]);
  });

  it("lists an index that has a subject", async () => {
    const repo = uniqueRepo();
    const img = await pushImage(repo, "v1");
    const child = await pushImage(repo, "child");
    const idx = indexManifest([child.descriptor], { artifactType: "application/vnd.example.bundle", subject: img.descriptor });
    const bytes = manifestBytes(idx);
    const res = await putManifest(repo, "bundle", idx);
    expect(res.status).toBe(201);
    expect(res.headers.get("oci-subject")).toBe(img.digest);
    const { manifests } = await referrers(repo, img.digest);
    expect(manifests).toEqual([{ mediaType: MEDIA.ociIndex, digest: await digestOf(bytes), size: bytes.byteLength, artifactType: "application/vnd.example.bundle" }]);
  });

  it("filters by artifactType and says so with OCI-Filters-Applied", async () => {
    const repo = uniqueRepo();
    const img = await pushImage(repo, "v1");
    const sig = await pushReferrer(repo, img.descriptor, "application/vnd.example.signature");
    await pushReferrer(repo, img.descriptor, "application/vnd.example.sbom");
    const { res, manifests } = await referrers(repo, img.digest, `?artifactType=${encodeURIComponent("application/vnd.example.signature")}`);
    expect(res.headers.get("oci-filters-applied")).toBe("artifactType");
    expect(manifests.map((m) => m.digest)).toEqual([sig.digest]);
    const none = await referrers(repo, img.digest, "?artifactType=application/vnd.example.none");
    expect(none.res.headers.get("oci-filters-applied")).toBe("artifactType");
    expect(none.manifests).toEqual([]);
  });

  it("lists referrers pushed before their subject", async () => {
    const repo = uniqueRepo();
    const ghost: Descriptor = { mediaType: MEDIA.ociManifest, digest: await digestOf(`later ${crypto.randomUUID()}`), size: 10 };
    const early = await pushReferrer(repo, ghost, "application/vnd.example.early");
    expect((await referrers(repo, ghost.digest)).manifests.map((m) => m.digest)).toEqual([early.digest]);
  });

  it("drops an entry when the referrer manifest is deleted by digest, not when only its tag is", async () => {
    const repo = uniqueRepo();
    const img = await pushImage(repo, "v1");
    const a = await pushReferrer(repo, img.descriptor, "application/vnd.example.a");
    const b = await pushReferrer(repo, img.descriptor, "application/vnd.example.b");
    expect((await putManifest(repo, "tagged-ref", a.manifest)).status).toBe(201);
    expect((await registry(`/v2/${repo}/manifests/tagged-ref`, { method: "DELETE" })).status).toBe(202);
    expect((await referrers(repo, img.digest)).manifests).toHaveLength(2);
    expect((await registry(`/v2/${repo}/manifests/${a.digest}`, { method: "DELETE" })).status).toBe(202);
    expect((await referrers(repo, img.digest)).manifests.map((m) => m.digest)).toEqual([b.digest]);
    expect((await registry(`/v2/${repo}/manifests/${b.digest}`, { method: "DELETE" })).status).toBe(202);
    expect((await referrers(repo, img.digest)).manifests).toEqual([]);
  });

  it("keeps referrers per repository", async () => {
    const a = uniqueRepo();
    const b = uniqueRepo();
    const img = await pushImage(a, "v1");
    await pushReferrer(a, img.descriptor, "application/vnd.example.sig");
    expect((await referrers(b, img.digest)).manifests).toEqual([]);
  });

  it("works for a sha512 subject", async () => {
    const repo = uniqueRepo();
    const subject: Descriptor = { mediaType: MEDIA.ociManifest, digest: await digestOf("s", "sha512"), size: 1 };
    const r = await pushReferrer(repo, subject, "application/vnd.example.x");
    expect((await referrers(repo, subject.digest)).manifests.map((m) => m.digest)).toEqual([r.digest]);
  });

  it("answers 400 DIGEST_INVALID for a bad digest and 400 NAME_INVALID for a bad name", async () => {
    await expectError(await registry(`/v2/${uniqueRepo()}/referrers/sha256:nope`), 400, "DIGEST_INVALID");
    await expectError(await registry(`/v2/${uniqueRepo()}/referrers/latest`), 400, "DIGEST_INVALID");
    await expectError(await registry(`/v2/UP/referrers/${await digestOf("x")}`), 400, "NAME_INVALID");
  });
});
