// The edge cache (src/registry/edge-cache.ts) under real workerd: Miniflare's simulated Cache API (`caches.default`),
// the project's real store behind a CountingStore. Hits and misses are told apart by the storage calls a request
// made. Skipped in api-memory (Node has no Cache API); the configuration tests run everywhere.
import { describe, it, expect } from "vitest";
import { env } from "cloudflare:workers";
import type { Env } from "../../src/config/settings";
import { ConfigError, parseConfig } from "../../src/config";
import { keys } from "../../src/registry/paths";
import { readRecord, swapRecord } from "../../src/registry/blob-record";
import { parseDigest } from "../../src/protocol/digest";
import { countedApp, hasCacheApi, type CountedApp } from "./counted-app";
import { MEDIA, descriptorOf, digestOf, imageManifest, manifestBytes, pseudoRandomBytes, readJson, uniqueRepo } from "./helpers";

const ON = { manifestSeconds: 300, blobSeconds: 300, tagSeconds: 0 };

async function pushBlob(app: CountedApp, repo: string, bytes: Uint8Array): Promise<string> {
  const digest = await digestOf(bytes);
  const res = await app.call(`/v2/${repo}/blobs/uploads/?digest=${digest}`, { method: "POST", body: bytes, headers: { "Content-Type": "application/octet-stream" } });
  expect(res.status).toBe(201);
  return digest;
}

/** Pushes a one-layer image under `tag`; its manifest digest and layer digest. */
async function pushImage(app: CountedApp, repo: string, tag: string) {
  const layer = pseudoRandomBytes(2048, Math.floor(Math.random() * 2 ** 31) + 1);
  const configBytes = new TextEncoder().encode(`{"id":"${crypto.randomUUID()}"}`);
  await pushBlob(app, repo, layer);
  await pushBlob(app, repo, configBytes);
  const doc = imageManifest(await descriptorOf(MEDIA.ociConfig, configBytes), [await descriptorOf(MEDIA.ociLayer, layer)]);
  const res = await app.call(`/v2/${repo}/manifests/${tag}`, { method: "PUT", body: manifestBytes(doc), headers: { "Content-Type": MEDIA.ociManifest } });
  expect(res.status).toBe(201);
  return { digest: await digestOf(manifestBytes(doc)), layer: await digestOf(layer), bytes: manifestBytes(doc), blobs: [layer, configBytes] };
}

/** Status, body and storage calls of one request. */
async function read(app: CountedApp, path: string, method = "GET") {
  let status = 0;
  let body = new Uint8Array();
  let headers = new Headers();
  const calls = await app.count(async () => {
    const res = await app.call(path, { method });
    status = res.status;
    headers = res.headers;
    body = new Uint8Array(await res.arrayBuffer());
  });
  return { status, body, headers, calls };
}

describe.skipIf(!hasCacheApi)("edge cache", () => {
  const app = countedApp(ON);

  it("a manifest by digest: a miss reads storage once, a hit reads nothing and answers the same", async () => {
    const repo = uniqueRepo("edge");
    const image = await pushImage(app, repo, "v1");
    const miss = await read(app, `/v2/${repo}/manifests/${image.digest}`);
    const hit = await read(app, `/v2/${repo}/manifests/${image.digest}`);
    expect([miss.status, miss.calls]).toEqual([200, 1]);
    expect([hit.status, hit.calls]).toEqual([200, 0]);
    expect(hit.body).toEqual(image.bytes);
    for (const h of ["content-type", "content-length", "docker-content-digest", "etag"]) expect(hit.headers.get(h), h).toBe(miss.headers.get(h));
    const head = await read(app, `/v2/${repo}/manifests/${image.digest}`, "HEAD");
    expect([head.status, head.calls, head.headers.get("content-length")]).toEqual([200, 0, String(image.bytes.byteLength)]);
  });

  it("blob metadata: HEAD and GET hit after the first read", async () => {
    const repo = uniqueRepo("edge");
    const image = await pushImage(app, repo, "v1");
    expect((await read(app, `/v2/${repo}/blobs/${image.layer}`, "HEAD")).calls).toBe(2);
    const head = await read(app, `/v2/${repo}/blobs/${image.layer}`, "HEAD");
    expect([head.status, head.calls, head.headers.get("content-length")]).toEqual([200, 0, "2048"]);
    const get = await read(app, `/v2/${repo}/blobs/${image.layer}`);
    expect([get.status, get.calls]).toEqual([200, 1]); // the bytes only
    expect(await digestOf(get.body)).toBe(image.layer);
  });

  it("a digest cached for one repository is never served to another that does not hold it", async () => {
    const a = uniqueRepo("edge");
    const b = uniqueRepo("edge");
    const image = await pushImage(app, a, "v1");
    await read(app, `/v2/${a}/manifests/${image.digest}`);
    await read(app, `/v2/${a}/blobs/${image.layer}`, "HEAD");
    expect((await read(app, `/v2/${a}/manifests/${image.digest}`)).calls).toBe(0); // warm in a
    for (let i = 0; i < 2; i++) {
      const m = await read(app, `/v2/${b}/manifests/${image.digest}`);
      const h = await read(app, `/v2/${b}/blobs/${image.layer}`, "HEAD");
      const g = await read(app, `/v2/${b}/blobs/${image.layer}`);
      expect([m.status, h.status, g.status]).toEqual([404, 404, 404]);
      // Each asked storage: no entry of a's answered for b, and no 404 was kept.
      expect(m.calls).toBeGreaterThan(0);
      expect(h.calls).toBeGreaterThan(0);
    }
    // b gets the same image by a push of its own; the 404s before were not kept.
    for (const blob of image.blobs) await pushBlob(app, b, blob);
    const put = await app.call(`/v2/${b}/manifests/${image.digest}`, { method: "PUT", body: image.bytes, headers: { "Content-Type": MEDIA.ociManifest } });
    expect(put.status).toBe(201);
    expect((await read(app, `/v2/${b}/manifests/${image.digest}`)).status).toBe(200);
    expect((await read(app, `/v2/${b}/blobs/${image.layer}`, "HEAD")).status).toBe(200);
  });

  it("manifest DELETE purges the entry: the next GET reads storage and says unknown", async () => {
    const repo = uniqueRepo("edge");
    const image = await pushImage(app, repo, "v1");
    await read(app, `/v2/${repo}/manifests/${image.digest}`);
    expect((await read(app, `/v2/${repo}/manifests/${image.digest}`)).calls).toBe(0);
    expect((await app.call(`/v2/${repo}/manifests/${image.digest}`, { method: "DELETE" })).status).toBe(202);
    const after = await read(app, `/v2/${repo}/manifests/${image.digest}`);
    expect(after.status).toBe(404);
    expect(after.calls).toBe(1);
    expect((await read(app, `/v2/${repo}/manifests/${image.digest}`, "HEAD")).status).toBe(404);
  });

  it("blob DELETE purges the entry: HEAD and GET say unknown at once", async () => {
    const repo = uniqueRepo("edge");
    const image = await pushImage(app, repo, "v1");
    await read(app, `/v2/${repo}/blobs/${image.layer}`, "HEAD");
    expect((await read(app, `/v2/${repo}/blobs/${image.layer}`, "HEAD")).calls).toBe(0);
    expect((await app.call(`/v2/${repo}/blobs/${image.layer}`, { method: "DELETE" })).status).toBe(202);
    expect((await read(app, `/v2/${repo}/blobs/${image.layer}`, "HEAD")).status).toBe(404);
    expect((await read(app, `/v2/${repo}/blobs/${image.layer}`)).status).toBe(404);
  });

  it("garbage collection's and retention's deletes go through the same store, so they purge too", async () => {
    const repo = uniqueRepo("edge");
    const image = await pushImage(app, repo, "v1");
    const { store } = app.runtime.gcDeps();
    await read(app, `/v2/${repo}/blobs/${image.layer}`, "HEAD");
    await read(app, `/v2/${repo}/manifests/${image.digest}`);
    // What the link sweep and retention delete (src/gc/links.ts, retention.ts), as they delete it.
    await store.delete(keys.repoBlob(repo, parseDigest(image.layer)!));
    await store.delete([keys.manifest(repo, parseDigest(image.digest)!)]);
    expect((await read(app, `/v2/${repo}/blobs/${image.layer}`, "HEAD")).status).toBe(404);
    expect((await read(app, `/v2/${repo}/manifests/${image.digest}`)).status).toBe(404);
  });

  it("a cached HEAD may answer for a tombstone until it expires; the manifest PUT still reads storage and revives it", async () => {
    const repo = uniqueRepo("edge");
    const image = await pushImage(app, repo, "v1");
    expect((await read(app, `/v2/${repo}/blobs/${image.layer}`, "HEAD")).status).toBe(200);
    // The sweep tombstones the record behind the cache (docs/gc.md §13): the stale answer is the documented bound.
    const store = app.counter.inner;
    const layer = parseDigest(image.layer)!;
    const live = (await readRecord(store, layer))!;
    expect(await swapRecord(store, live, { size: live.size, dataKey: live.dataKey, state: "tomb", at: live.at, tombAt: Date.now(), run: "test" })).not.toBeNull();
    expect((await read(app, `/v2/${repo}/blobs/${image.layer}`, "HEAD")).status).toBe(200);
    // A pusher that trusted it skips the upload and PUTs a manifest: the post-check revives the tombstone.
    const doc = imageManifest({ mediaType: MEDIA.ociConfig, digest: image.layer, size: 2048 }, []);
    const put = await app.call(`/v2/${repo}/manifests/other`, { method: "PUT", body: manifestBytes(doc), headers: { "Content-Type": MEDIA.ociManifest } });
    expect(put.status).toBe(201);
    expect((await readRecord(store, layer))!.state).toBe("live");
  });

  it("cached blob metadata never feeds a write decision: a mount reads storage", async () => {
    const from = uniqueRepo("edge");
    const to = uniqueRepo("edge");
    const image = await pushImage(app, from, "v1");
    await read(app, `/v2/${from}/blobs/${image.layer}`, "HEAD"); // cached live in `from`
    const store = app.counter.inner;
    const live = (await readRecord(store, parseDigest(image.layer)!))!;
    await swapRecord(store, live, { size: live.size, dataKey: live.dataKey, state: "dead", at: live.at, tombAt: Date.now(), run: "test" });
    const mount = await app.call(`/v2/${to}/blobs/uploads/?mount=${image.layer}&from=${from}`, { method: "POST" });
    expect(mount.status).toBe(202); // an upload session, not a mount of dead bytes
  });

  it("tags are not cached by default: a moved tag is seen at once", async () => {
    const repo = uniqueRepo("edge");
    await pushImage(app, repo, "latest");
    expect((await read(app, `/v2/${repo}/manifests/latest`)).calls).toBe(1);
    expect((await read(app, `/v2/${repo}/manifests/latest`)).calls).toBe(1);
  });

  describe("with TAG_CACHE_SECONDS", () => {
    const tagged = countedApp({ ...ON, tagSeconds: 60 });

    it("a tag lookup hits; pushing the tag elsewhere or deleting it purges this colo's entry", async () => {
      const repo = uniqueRepo("edge");
      const one = await pushImage(tagged, repo, "latest");
      const miss = await read(tagged, `/v2/${repo}/manifests/latest`);
      const hit = await read(tagged, `/v2/${repo}/manifests/latest`);
      expect([miss.calls, hit.calls]).toEqual([1, 0]);
      expect(hit.headers.get("docker-content-digest")).toBe(one.digest);
      expect(hit.body).toEqual(one.bytes);
      const two = await pushImage(tagged, repo, "latest");
      const moved = await read(tagged, `/v2/${repo}/manifests/latest`);
      expect([moved.calls, moved.headers.get("docker-content-digest")]).toEqual([1, two.digest]);
      expect((await tagged.call(`/v2/${repo}/manifests/latest`, { method: "DELETE" })).status).toBe(202);
      expect((await read(tagged, `/v2/${repo}/manifests/latest`)).status).toBe(404);
    });
  });
});

describe("edge cache settings", () => {
  const vars = env as unknown as Env;

  it("defaults: manifests and blob metadata 300 s, tags never", () => {
    expect(parseConfig({ ...vars, EDGE_CACHE_SECONDS: undefined, TAG_CACHE_SECONDS: undefined }).edgeCache).toEqual({ manifestSeconds: 300, blobSeconds: 300, tagSeconds: 0 });
    expect(parseConfig({ ...vars, EDGE_CACHE_SECONDS: "0", TAG_CACHE_SECONDS: "0" }).edgeCache).toEqual({ manifestSeconds: 0, blobSeconds: 0, tagSeconds: 0 });
    expect(parseConfig({ ...vars, EDGE_CACHE_SECONDS: "60", TAG_CACHE_SECONDS: "15" }).edgeCache).toEqual({ manifestSeconds: 60, blobSeconds: 60, tagSeconds: 15 });
  });

  it("blob metadata is cached only for less than the quarantine", () => {
    expect(parseConfig({ ...vars, EDGE_CACHE_SECONDS: "300", GC_QUARANTINE_HOURS: "0" }).edgeCache).toEqual({ manifestSeconds: 300, blobSeconds: 0, tagSeconds: 0 });
    expect(parseConfig({ ...vars, EDGE_CACHE_SECONDS: "3600", GC_QUARANTINE_HOURS: "1" }).edgeCache.blobSeconds).toBe(0);
    expect(parseConfig({ ...vars, EDGE_CACHE_SECONDS: "3599", GC_QUARANTINE_HOURS: "1" }).edgeCache.blobSeconds).toBe(3599);
  });

  it.each([
    ["EDGE_CACHE_SECONDS", "-1"],
    ["EDGE_CACHE_SECONDS", "3601"],
    ["EDGE_CACHE_SECONDS", "5m"],
    ["TAG_CACHE_SECONDS", "1e3"],
    ["TAG_CACHE_SECONDS", "86400"],
  ])("%s=%s is a configuration error naming the setting", (name, value) => {
    let error: unknown;
    try {
      parseConfig({ ...vars, [name]: value });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems.join("\n")).toMatch(new RegExp(`^${name} must be an integer from 0 to 3600`, "m"));
    expect((error as ConfigError).message).not.toContain(value); // problems never quote a value
  });

  it("a bad value answers a generic 503 with no detail, never a 500", async () => {
    const { createApp } = await import("../../src/http/app");
    const { runtimeFor } = await import("../../src/runtime");
    const { requestTo } = await import("./helpers");
    const res = await createApp(runtimeFor).fetch(requestTo("/v2/"), { ...vars, EDGE_CACHE_SECONDS: "soon" });
    expect(res.status).toBe(503);
    expect(JSON.stringify(await readJson(res))).not.toContain("soon");
  });
});
