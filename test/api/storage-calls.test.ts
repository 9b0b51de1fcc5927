// Storage calls per registry operation, counted by a CountingStore under the real app (issue 13, part 4). Each
// figure is a ceiling: a change that makes an operation cost more storage calls fails here and must say why. Runs on
// every API project (R2 simulator, Ceph RGW, MemoryStore): the calls are the registry's, not the adapter's.
// Targets: <= 1 read per manifest GET by tag or digest, <= 1 per blob HEAD with a warm edge cache (2 cold: below),
// <= 2 per blob GET redirect, a push of N layers in O(N) small calls plus the data.
import { describe, it, expect } from "vitest";
import { countedApp, hasCacheApi, type CountedApp } from "./counted-app";
import { MEDIA, descriptorOf, digestOf, imageManifest, manifestBytes, pseudoRandomBytes, uniqueRepo, type Descriptor } from "./helpers";

/** POST, PATCH (one Content-Range chunk), PUT ?digest: the calls of each step. */
async function pushCounted(app: CountedApp, repo: string, bytes: Uint8Array) {
  const digest = await digestOf(bytes);
  let location = "";
  const post = await app.count(async () => {
    const res = await app.call(`/v2/${repo}/blobs/uploads/`, { method: "POST" });
    expect(res.status).toBe(202);
    location = res.headers.get("location")!;
  });
  const patch = await app.count(async () => {
    const res = await app.call(location, { method: "PATCH", body: bytes, headers: { "Content-Range": `0-${bytes.byteLength - 1}`, "Content-Type": "application/octet-stream" } });
    expect(res.status).toBe(202);
    location = res.headers.get("location")!;
  });
  const put = await app.count(async () => {
    const sep = location.includes("?") ? "&" : "?";
    const res = await app.call(`${location}${sep}digest=${digest}`, { method: "PUT" });
    expect(res.status).toBe(201);
  });
  return { digest, post, patch, put };
}

/** Pushes an image of `layers` small layers; the calls of each blob step (the worst of all blobs) and of the manifest PUT. */
async function pushImageCounted(app: CountedApp, repo: string, layers: number) {
  const steps = { post: 0, patch: 0, put: 0 };
  const descriptors: Descriptor[] = [];
  for (let i = 0; i < layers; i++) {
    const bytes = pseudoRandomBytes(1000 + i, Math.floor(Math.random() * 2 ** 31) + 1);
    const pushed = await pushCounted(app, repo, bytes);
    steps.post = Math.max(steps.post, pushed.post);
    steps.patch = Math.max(steps.patch, pushed.patch);
    steps.put = Math.max(steps.put, pushed.put);
    descriptors.push(await descriptorOf(MEDIA.ociLayer, bytes));
  }
  const configBytes = new TextEncoder().encode(`{"id":"${crypto.randomUUID()}"}`);
  await pushCounted(app, repo, configBytes);
  const doc = imageManifest(await descriptorOf(MEDIA.ociConfig, configBytes), descriptors);
  const manifest = await app.count(async () => {
    const res = await app.call(`/v2/${repo}/manifests/v1`, { method: "PUT", body: manifestBytes(doc), headers: { "Content-Type": MEDIA.ociManifest } });
    expect(res.status).toBe(201);
  });
  return { ...steps, manifest, digest: await digestOf(manifestBytes(doc)), layer: descriptors[0].digest };
}

/** Storage calls of one request that must answer 200 (its body read to the end). */
const countedCall = (app: ReturnType<typeof countedApp>) => (path: string, method = "GET") =>
  app.count(async () => {
    const res = await app.call(path, { method });
    expect(res.status, `${method} ${path}`).toBe(200);
    await res.arrayBuffer();
  });

describe("storage calls per operation (no edge cache)", () => {
  const app = countedApp();

  it("pulls: manifest GET/HEAD by tag and digest 1, blob HEAD 2 (one round trip), blob GET streamed 3", async () => {
    const repo = uniqueRepo("calls");
    const image = await pushImageCounted(app, repo, 1);
    const n = countedCall(app);
    expect(await n(`/v2/${repo}/manifests/v1`)).toBeLessThanOrEqual(1);
    expect(await n(`/v2/${repo}/manifests/v1`, "HEAD")).toBeLessThanOrEqual(1);
    expect(await n(`/v2/${repo}/manifests/${image.digest}`)).toBeLessThanOrEqual(1);
    expect(await n(`/v2/${repo}/manifests/${image.digest}`, "HEAD")).toBeLessThanOrEqual(1);
    // Link and record, read at once: the link is the repository boundary, the record holds the GC state and the
    // data key (docs/gc.md §5). One read would need one of them to carry the other's truth.
    expect(await n(`/v2/${repo}/blobs/${image.layer}`, "HEAD")).toBeLessThanOrEqual(2);
    // Streamed (no presigner here): link, record, the bytes.
    expect(await n(`/v2/${repo}/blobs/${image.layer}`)).toBeLessThanOrEqual(3);
  });

  it("a blob GET that redirects: link and record, the presigned URL costs no call", async () => {
    const redirecting = countedApp(undefined, { presign: true });
    const repo = uniqueRepo("calls");
    const image = await pushImageCounted(app, repo, 1);
    const calls = await redirecting.count(async () => {
      const res = await redirecting.call(`/v2/${repo}/blobs/${image.layer}`);
      expect(res.status).toBe(307);
    });
    expect(calls).toBeLessThanOrEqual(2);
  });

  it("a push of N layers: a constant per blob step, the manifest PUT linear in N", async () => {
    const rows: Record<number, Awaited<ReturnType<typeof pushImageCounted>>> = {};
    for (const layers of [1, 5, 20]) rows[layers] = await pushImageCounted(app, uniqueRepo("calls"), layers);
    console.log(`[storage calls] per blob: POST ${rows[1].post}, PATCH ${rows[1].patch}, PUT ${rows[1].put}; manifest PUT: ${[1, 5, 20].map((n) => `N=${n}: ${rows[n].manifest}`).join(", ")}`);
    for (const layers of [1, 5, 20]) {
      const r = rows[layers];
      expect(r.post, `POST, N=${layers}`).toBeLessThanOrEqual(1);
      expect(r.patch, `PATCH, N=${layers}`).toBeLessThanOrEqual(3);
      // The final PUT of a chunked session (the upload path's: state, claim, tail, read-back, record, link, cleanup).
      expect(r.put, `PUT, N=${layers}`).toBeLessThanOrEqual(8);
      // Pre-check (a link per blob), the manifest, post-check (a record per blob), tag, catalog, read-back: with
      // the config blob, 2 (N + 1) + 4.
      expect(r.manifest, `manifest PUT, N=${layers}`).toBeLessThanOrEqual(2 * (layers + 1) + 4);
    }
  });
});

describe.skipIf(!hasCacheApi)("storage calls with a warm edge cache", () => {
  const app = countedApp({ manifestSeconds: 300, blobSeconds: 300, tagSeconds: 0 }, { presign: true });

  it("manifest GET and HEAD by digest, blob HEAD and GET redirect: 0 storage calls", async () => {
    const repo = uniqueRepo("calls");
    const image = await pushImageCounted(app, repo, 1);
    const n = countedCall(app);
    expect(await n(`/v2/${repo}/manifests/${image.digest}`)).toBe(1); // cold
    expect(await n(`/v2/${repo}/manifests/${image.digest}`)).toBe(0);
    expect(await n(`/v2/${repo}/manifests/${image.digest}`, "HEAD")).toBe(0);
    expect(await n(`/v2/${repo}/blobs/${image.layer}`, "HEAD")).toBe(2); // cold
    expect(await n(`/v2/${repo}/blobs/${image.layer}`, "HEAD")).toBe(0);
    const redirect = await app.count(async () => expect((await app.call(`/v2/${repo}/blobs/${image.layer}`)).status).toBe(307));
    expect(redirect).toBe(0);
    // Tags are not cached by default: every pull by tag reads storage.
    expect(await n(`/v2/${repo}/manifests/v1`)).toBe(1);
    expect(await n(`/v2/${repo}/manifests/v1`)).toBe(1);
  });
});
