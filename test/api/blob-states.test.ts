// The registry's read and write paths against the blob record's garbage-collection states (docs/gc.md §2, §5), and
// immutable tags (§9). The sweep does not exist in these tests: they put a record into the state the sweep would
// (tomb, or dead with its bytes deleted) directly through this project's real store (R2 simulator, Ceph RGW or the
// MemoryStore), and check what pulls, pushes and mounts then do.
import { describe, it, expect } from "vitest";
import { env } from "cloudflare:workers";
import type { Env } from "../../src/config/settings";
import { runtimeFor, createRuntime } from "../../src/runtime";
import { createApp } from "../../src/http/app";
import { createStorage } from "../../src/storage";
import type { ObjectStore } from "../../src/storage/types";
import { keys } from "../../src/registry/paths";
import { readRecord, swapRecord, type BlobRecord, type BlobState } from "../../src/registry/blob-record";
import { appendChunk, loadUpload, startUpload as startUploadOp } from "../../src/registry/uploads";
import { claimUpload, readStoredUpload } from "../../src/registry/upload-state";
import { parseDigest, type Digest } from "../../src/protocol/digest";
import { parseRepoPattern } from "../../src/protocol/repo-patterns";
import {
  MEDIA,
  descriptorOf,
  digestOf,
  expectError,
  imageManifest,
  manifestBytes,
  pseudoRandomBytes,
  pushBlob,
  pushBlobMonolithic,
  putManifest,
  registry,
  requestTo,
  startUpload,
  streamDigest,
  uniqueRepo,
  withQuery,
} from "./helpers";

const runtime = runtimeFor(env as unknown as Env);
const config = runtime.config;
const store = runtime.deps.store;
const deps = runtime.deps;

const digestOfText = (d: string): Digest => parseDigest(d)!;

async function record(d: string): Promise<BlobRecord | null> {
  return readRecord(store, digestOfText(d));
}

/** Puts the record into `state` as the sweep would (compare-and-swap on the version just read). */
async function setState(d: string, state: BlobState, opts: { deleteData?: boolean } = {}): Promise<BlobRecord> {
  const r = (await record(d))!;
  expect(r, `record of ${d}`).not.toBeNull();
  const next = await swapRecord(store, r, { size: r.size, dataKey: r.dataKey, state, at: r.at, tombAt: Date.now() - 1000, run: "test-run" });
  expect(next).not.toBeNull();
  if (opts.deleteData) await store.delete(r.dataKey);
  return next!;
}

/** A blob no other test pushes (its bytes are random). */
function uniqueBytes(label: string): Uint8Array {
  return new TextEncoder().encode(`${label} ${crypto.randomUUID()}`);
}

/** Pushes config and one layer, returns the manifest (not pushed) and the layer's digest. */
async function imageWithLayer(repo: string, layer: Uint8Array) {
  const configBytes = uniqueBytes("config");
  await pushBlob(repo, configBytes);
  const layerDigest = await pushBlob(repo, layer);
  const manifest = imageManifest(await descriptorOf(MEDIA.ociConfig, configBytes), [await descriptorOf(MEDIA.ociLayer, layer)]);
  return { manifest, layerDigest, digest: await digestOf(manifestBytes(manifest)) };
}

const manifestKey = (repo: string, d: string) => keys.manifest(repo, digestOfText(d));

describe("blob reads and the record's state", () => {
  it("a tombstone: HEAD says unknown (a pusher uploads again), GET still serves the bytes", async () => {
    const repo = uniqueRepo("states");
    const bytes = uniqueBytes("tomb read");
    const d = await pushBlob(repo, bytes);
    expect((await registry(`/v2/${repo}/blobs/${d}`, { method: "HEAD" })).status).toBe(200);
    await setState(d, "tomb");
    const head = await registry(`/v2/${repo}/blobs/${d}`, { method: "HEAD" });
    expect(head.status).toBe(404);
    const get = await registry(`/v2/${repo}/blobs/${d}`);
    expect(get.status).toBe(200);
    expect(await streamDigest(get.body)).toEqual({ digest: d, size: bytes.byteLength });
  });

  it("a dead record: HEAD and GET say unknown", async () => {
    const repo = uniqueRepo("states");
    const d = await pushBlob(repo, uniqueBytes("dead read"));
    await setState(d, "dead", { deleteData: true });
    expect((await registry(`/v2/${repo}/blobs/${d}`, { method: "HEAD" })).status).toBe(404);
    await expectError(await registry(`/v2/${repo}/blobs/${d}`), 404, "BLOB_UNKNOWN");
  });

  it("a link without a record is unknown; a record without state metadata (written before GC) is live", async () => {
    const repo = uniqueRepo("states");
    const bytes = uniqueBytes("legacy");
    const d = await pushBlob(repo, bytes);
    const r = (await record(d))!;
    // As a record was written before GC: {size, data} only.
    await store.put(keys.blob(digestOfText(d)), "", { metadata: { size: String(r.size), data: r.dataKey } });
    expect((await registry(`/v2/${repo}/blobs/${d}`, { method: "HEAD" })).status).toBe(200);
    expect(await streamDigest((await registry(`/v2/${repo}/blobs/${d}`)).body)).toEqual({ digest: d, size: bytes.byteLength });
    await store.delete(keys.blob(digestOfText(d)));
    expect((await registry(`/v2/${repo}/blobs/${d}`, { method: "HEAD" })).status).toBe(404);
    await expectError(await registry(`/v2/${repo}/blobs/${d}`), 404, "BLOB_UNKNOWN");
  });

  it("GET takes the bytes from the record, never from the link's metadata", async () => {
    const repo = uniqueRepo("states");
    const bytes = uniqueBytes("record data");
    const d = await pushBlob(repo, bytes);
    await store.put(keys.repoBlob(repo, digestOfText(d)), "", { metadata: { size: "3", data: "data/not-the-bytes" } });
    const get = await registry(`/v2/${repo}/blobs/${d}`);
    expect(get.status).toBe(200);
    expect(await streamDigest(get.body)).toEqual({ digest: d, size: bytes.byteLength });
  });
});

describe("mount and the record's state", () => {
  it.each(["tomb", "dead"] as const)("a mount from a %s record is refused: the client gets an upload session (202)", async (state) => {
    const from = uniqueRepo("states");
    const to = uniqueRepo("states");
    const d = await pushBlob(from, uniqueBytes(`mount ${state}`));
    await setState(d, state);
    const res = await registry(`/v2/${to}/blobs/uploads/?mount=${d}&from=${from}`, { method: "POST" });
    expect(res.status).toBe(202);
    expect((await registry(`/v2/${to}/blobs/${d}`, { method: "HEAD" })).status).toBe(404);
    expect(await store.head(keys.repoBlob(to, digestOfText(d)))).toBeNull();
  });

  it("a mount from a live record links it (201)", async () => {
    const from = uniqueRepo("states");
    const to = uniqueRepo("states");
    const d = await pushBlob(from, uniqueBytes("mount live"));
    const res = await registry(`/v2/${to}/blobs/uploads/?mount=${d}&from=${from}`, { method: "POST" });
    expect(res.status).toBe(201);
    expect((await registry(`/v2/${to}/blobs/${d}`, { method: "HEAD" })).status).toBe(200);
  });
});

describe("manifest PUT post-check", () => {
  it("revives a tombstoned blob it references (state live, `at` renewed)", async () => {
    const repo = uniqueRepo("states");
    const { manifest, layerDigest, digest } = await imageWithLayer(repo, uniqueBytes("revive"));
    const tomb = await setState(layerDigest, "tomb");
    const res = await putManifest(repo, "v1", manifest);
    expect(res.status, await res.clone().text()).toBe(201);
    const after = (await record(layerDigest))!;
    expect(after.state).toBe("live");
    expect(after.dataKey).toBe(tomb.dataKey);
    expect(after.at).toBeGreaterThan(tomb.tombAt!);
    expect(after.tombAt).toBeUndefined();
    expect((await registry(`/v2/${repo}/blobs/${layerDigest}`, { method: "HEAD" })).status).toBe(200);
    const stored = await store.head(manifestKey(repo, digest));
    expect(Number(stored!.metadata.at)).toBeGreaterThan(0);
  });

  it("retracts itself when a blob it references is dead: MANIFEST_BLOB_UNKNOWN, no manifest and no tag left", async () => {
    const repo = uniqueRepo("states");
    const { manifest, layerDigest, digest } = await imageWithLayer(repo, uniqueBytes("dead ref"));
    await setState(layerDigest, "dead", { deleteData: true });
    const err = await expectError(await putManifest(repo, "v1", manifest), 404, "MANIFEST_BLOB_UNKNOWN");
    expect(err.detail).toEqual({ missing: [layerDigest] });
    expect(await store.head(manifestKey(repo, digest))).toBeNull();
    expect(await store.head(keys.tag(repo, "v1"))).toBeNull();
    await expectError(await registry(`/v2/${repo}/manifests/${digest}`), 404, "MANIFEST_UNKNOWN");
  });

  it("after the blob is pushed again, the same manifest is accepted", async () => {
    const repo = uniqueRepo("states");
    const layer = uniqueBytes("dead then pushed");
    const { manifest, layerDigest } = await imageWithLayer(repo, layer);
    await setState(layerDigest, "dead", { deleteData: true });
    await expectError(await putManifest(repo, "v1", manifest), 404, "MANIFEST_BLOB_UNKNOWN");
    expect((await registry(`/v2/${repo}/blobs/${layerDigest}`, { method: "HEAD" })).status).toBe(404);
    await pushBlob(repo, layer);
    expect((await putManifest(repo, "v1", manifest)).status).toBe(201);
  });
});

describe("an upload completing over a tombstoned or dead record", () => {
  it.each(["tomb", "dead"] as const)("replaces a %s record with a live one naming its own bytes, which GET serves", async (state) => {
    const repo = uniqueRepo("states");
    const bytes = uniqueBytes(`reupload ${state}`);
    const d = await pushBlob(repo, bytes);
    const old = await setState(d, state, { deleteData: state === "dead" });
    // Whole blob in one PUT, and POST ?digest=: both commit over the record.
    await pushBlob(repo, bytes);
    const after = (await record(d))!;
    expect(after.state).toBe("live");
    expect(after.dataKey).not.toBe(old.dataKey);
    expect(after.at).toBeGreaterThanOrEqual(old.tombAt!);
    const get = await registry(`/v2/${repo}/blobs/${d}`);
    expect(get.status).toBe(200);
    expect(await streamDigest(get.body)).toEqual({ digest: d, size: bytes.byteLength });
    // Another repository committing the same digest now finds it live: it links those bytes and drops its own copy.
    const other = uniqueRepo("states");
    expect((await pushBlobMonolithic(other, bytes)).status).toBe(201);
    expect((await record(d))!.dataKey).toBe(after.dataKey);
  });
});

async function stateText(id: string): Promise<string> {
  const obj = await store.get(keys.uploadState(id));
  expect(obj).not.toBeNull();
  return new Response(obj!.body).text();
}

describe("claim keeps the session's content", () => {
  it("the ended marker names what the state named, with its time; the session is unknown afterwards", async () => {
    const repo = uniqueRepo("states");
    const started = await startUploadOp(deps, repo, null);
    const live = readStoredUpload(await stateText(started.state.id));
    expect(live).toMatchObject({ id: started.state.id, ended: null, content: { kind: "empty" } });
    await appendChunk(deps, started, new Blob([pseudoRandomBytes(1000, 5)]).stream(), { length: 1000 });
    const session = await loadUpload(deps, repo, started.state.id, null);
    expect(session.state.content.kind).toBe("object");
    const before = Date.now();
    expect(await claimUpload(deps, session, "cancel")).toBe(true);
    const stored = readStoredUpload(await stateText(session.state.id));
    expect(stored).toEqual({ id: session.state.id, ended: "cancel", createdAt: session.state.createdAt, endedAt: expect.any(Number), content: session.state.content });
    expect(stored!.endedAt).toBeGreaterThanOrEqual(before);
    await expect(loadUpload(deps, repo, session.state.id, null)).rejects.toMatchObject({ code: "BLOB_UPLOAD_UNKNOWN" });
    await store.delete([keys.uploadState(session.state.id), (session.state.content as { key: string }).key]);
  });

  it("readStoredUpload refuses what is no session state", () => {
    expect(readStoredUpload("not json")).toBeNull();
    expect(readStoredUpload(JSON.stringify({ v: 1, id: "x" }))).toBeNull();
    expect(readStoredUpload(JSON.stringify({ v: 2, id: "x", createdAt: 1 }))).toBeNull();
    // An ended marker written before markers kept content: still a marker.
    expect(readStoredUpload(JSON.stringify({ v: 2, id: "x", ended: "complete" }))).toEqual({ id: "x", ended: "complete", createdAt: null, endedAt: null, content: null });
  });
});

/** The app with other registry settings, on this project's store (wrapped by `wrap` when given). */
function appWith(settings: Partial<typeof config.registry>, wrap?: (s: ObjectStore) => ObjectStore) {
  const storage = createStorage(config);
  const custom = createRuntime({ ...config, registry: { ...config.registry, ...settings } }, wrap ? { ...storage, store: wrap(storage.store) } : storage);
  const app = createApp(() => custom);
  return (path: string, init?: RequestInit) => Promise.resolve(app.fetch(requestTo(path, init), env as unknown as Env));
}

describe("immutable tags (IMMUTABLE_TAGS)", () => {
  const call = appWith({ immutableTags: [parseRepoPattern("immutable/*")!] });
  const put = (repo: string, ref: string, doc: unknown) =>
    call(`/v2/${repo}/manifests/${ref}`, { method: "PUT", body: manifestBytes(doc), headers: { "Content-Type": MEDIA.ociManifest } });
  const image = async (repo: string, label: string) => {
    const cfg = uniqueBytes(label);
    await pushBlob(repo, cfg);
    const manifest = imageManifest(await descriptorOf(MEDIA.ociConfig, cfg), []);
    return { manifest, digest: await digestOf(manifestBytes(manifest)) };
  };

  it("a tag never moves: an identical re-push succeeds, another manifest is DENIED (403) and leaves nothing", async () => {
    const repo = uniqueRepo("immutable");
    const one = await image(repo, "one");
    const two = await image(repo, "two");
    expect((await put(repo, "v1", one.manifest)).status).toBe(201);
    expect((await put(repo, "v1", one.manifest)).status).toBe(201);
    const err = await expectError(await put(repo, "v1", two.manifest), 403, "DENIED");
    expect(err.message).toMatch(/tag v1 is immutable in repository immutable\/.*IMMUTABLE_TAGS/);
    expect(await store.head(manifestKey(repo, two.digest))).toBeNull();
    expect((await call(`/v2/${repo}/manifests/v1`, { method: "HEAD" })).headers.get("docker-content-digest")).toBe(one.digest);
    // Another tag, and a push by digest, are fine.
    expect((await put(repo, "v2", two.manifest)).status).toBe(201);
    expect((await put(repo, two.digest, two.manifest)).status).toBe(201);
  });

  it("a tag cannot be deleted, nor a manifest a tag names; an untagged manifest can", async () => {
    const repo = uniqueRepo("immutable");
    const one = await image(repo, "del one");
    const two = await image(repo, "del two");
    expect((await put(repo, "v1", one.manifest)).status).toBe(201);
    expect((await put(repo, two.digest, two.manifest)).status).toBe(201);
    await expectError(await call(`/v2/${repo}/manifests/v1`, { method: "DELETE" }), 403, "DENIED");
    await expectError(await call(`/v2/${repo}/manifests/${one.digest}`, { method: "DELETE" }), 403, "DENIED");
    expect((await call(`/v2/${repo}/manifests/v1`, { method: "HEAD" })).status).toBe(200);
    expect((await call(`/v2/${repo}/manifests/${two.digest}`, { method: "DELETE" })).status).toBe(202);
  });

  it("two racing pushes of different manifests to one new tag: exactly one wins", async () => {
    const repo = uniqueRepo("immutable");
    const images = await Promise.all([image(repo, "race a"), image(repo, "race b"), image(repo, "race c")]);
    const results = await Promise.all(images.map((i) => put(repo, "race", i.manifest)));
    const statuses = results.map((r) => r.status).sort();
    expect(statuses).toEqual([201, 403, 403]);
    const winner = images[results.findIndex((r) => r.status === 201)];
    expect((await call(`/v2/${repo}/manifests/race`, { method: "HEAD" })).headers.get("docker-content-digest")).toBe(winner.digest);
    for (const r of results.filter((r) => r.status === 403)) await expectError(r, 403, "DENIED");
  });

  it("repositories the patterns do not name keep mutable tags", async () => {
    const repo = uniqueRepo("mutable");
    const one = await image(repo, "m one");
    const two = await image(repo, "m two");
    expect((await put(repo, "v1", one.manifest)).status).toBe(201);
    expect((await put(repo, "v1", two.manifest)).status).toBe(201);
    expect((await call(`/v2/${repo}/manifests/v1`, { method: "DELETE" })).status).toBe(202);
  });
});

describe("a request that wrote a data object publishes or commits it within half the grace window", () => {
  /** The store with every data object write recorded and slowed down, so that a 2 ms grace window is over. */
  function slowData() {
    const written: string[] = [];
    const wrap = (s: ObjectStore): ObjectStore =>
      new Proxy(s, {
        get(target, prop) {
          const v = Reflect.get(target, prop);
          if (prop !== "put") return typeof v === "function" ? v.bind(target) : v;
          return async (key: string, ...rest: unknown[]) => {
            if (key.startsWith("data/")) {
              written.push(key);
              await new Promise((r) => setTimeout(r, 20));
            }
            return (v as (...a: unknown[]) => unknown).call(target, key, ...rest);
          };
        },
      });
    return { call: appWith({ graceMs: 2 }, wrap), written };
  }

  it("POST ?digest= past the bound: 503, nothing committed, its object deleted", async () => {
    const { call, written } = slowData();
    const repo = uniqueRepo("grace");
    const bytes = uniqueBytes("late monolithic");
    const d = await digestOf(bytes);
    await expectError(await call(`/v2/${repo}/blobs/uploads/?digest=${d}`, { method: "POST", body: bytes }), 503, "UNAVAILABLE");
    expect(written).toHaveLength(1);
    expect(await store.head(written[0])).toBeNull();
    expect(await record(d)).toBeNull();
    expect(await store.head(keys.repoBlob(repo, digestOfText(d)))).toBeNull();
  });

  it("a whole blob in the final PUT past the bound: 503, the session ended and its objects deleted", async () => {
    const { call, written } = slowData();
    const repo = uniqueRepo("grace");
    const bytes = uniqueBytes("late put");
    const d = await digestOf(bytes);
    const location = await startUpload(repo);
    await expectError(await call(withQuery(location, { digest: d }), { method: "PUT", body: bytes }), 503, "UNAVAILABLE");
    expect(written).toHaveLength(1);
    expect(await store.head(written[0])).toBeNull();
    expect(await record(d)).toBeNull();
    expect((await registry(location)).status).toBe(404);
  });

  it("a PATCH past the bound: 503, its object deleted, the session as it was", async () => {
    const { call, written } = slowData();
    const repo = uniqueRepo("grace");
    const location = await startUpload(repo);
    await expectError(await call(location, { method: "PATCH", body: uniqueBytes("late patch") }), 503, "UNAVAILABLE");
    expect(written).toHaveLength(1);
    expect(await store.head(written[0])).toBeNull();
    const status = await registry(location);
    expect(status.status).toBe(204);
    expect(status.headers.get("range")).toBe("0-0");
  });

  it("within the bound (the configured window) the same requests succeed", async () => {
    const repo = uniqueRepo("grace");
    expect(config.registry.graceMs).toBeGreaterThan(60_000);
    expect((await pushBlobMonolithic(repo, uniqueBytes("in time"))).status).toBe(201);
  });
});
