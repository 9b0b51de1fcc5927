// The GC engine (src/gc) run directly on MemoryStore and on the R2 adapter over the simulated bucket: a bucket built
// with the registry's own operations, runs driven step by step with the clock moved past grace and quarantine.
import { describe, expect, it } from "vitest";
import { deleteManifest } from "../../src/registry/manifests";
import { keys } from "../../src/registry/paths";
import { appendChunk, startUpload } from "../../src/registry/uploads";
import { contentObjects } from "../../src/registry/upload-state";
import type { ObjectStore } from "../../src/storage/types";
import { GcBusyError, GcLeaseLostError, GcRefusedError, GC_STALE_MS, currentRun, listRuns, readReport, runStep, startRun, type GcDeps } from "../../src/gc";
import { BACKENDS, HOUR, MIB, drive, expectFreed, expectKept, gcDeps, pushBlob, pushImage, pushIndex, record, snapshot, streamOf, type Blob } from "./helpers";

/** A registry with referenced blobs of every kind, garbage, a stale referrer entry and an empty repository. */
async function buildWorld(deps: GcDeps) {
  const s = deps.store;
  const config = await pushBlob(deps, "app", '{"config":1}');
  const l1 = await pushBlob(deps, "app", "layer one");
  const l2 = await pushBlob(deps, "app", "layer two");
  const image = await pushImage(deps, "app", "v1", config, [l1, l2]);
  // An index whose second child is untagged: its blobs are kept because every manifest present is a root.
  const c2 = await pushBlob(deps, "app", '{"config":2}');
  const l3 = await pushBlob(deps, "app", "layer three");
  const child = await pushImage(deps, "app", null, c2, [l3]);
  await pushIndex(deps, "app", "multi", [image, child]);
  // A referrer of the image (an SBOM): its layer is kept.
  const sbom = await pushBlob(deps, "app", "sbom bytes");
  const referrer = await pushImage(deps, "app", null, config, [sbom], { subject: { mediaType: "application/vnd.oci.image.manifest.v1+json", digest: image.text, size: image.size } });
  // A tag whose manifest object is missing (a crash between the two writes): the tag is a root of its own.
  const l4 = await pushBlob(deps, "app", "layer four");
  const tagged = await pushImage(deps, "app", "orphan-tag", config, [l4]);
  await s.delete(keys.manifest("app", tagged.digest));
  // Garbage: a blob never referenced, one in another repository, the layer of a deleted manifest.
  const g1 = await pushBlob(deps, "app", "garbage one");
  const g2 = await pushBlob(deps, "other", "garbage two");
  const l5 = await pushBlob(deps, "app", "layer five");
  const gone = await pushImage(deps, "app", null, config, [l5]);
  await deleteManifest(deps, "app", { kind: "digest", digest: gone.digest });
  // A referrer entry whose referrer manifest vanished (a crash), and a repository whose only manifest was deleted.
  const l6 = await pushBlob(deps, "app", "layer six");
  const lost = await pushImage(deps, "app", null, config, [l6], { subject: { mediaType: "application/vnd.oci.image.manifest.v1+json", digest: image.text, size: image.size } });
  await s.delete(keys.manifest("app", lost.digest));
  const ec = await pushBlob(deps, "empty", '{"config":"e"}');
  const emptyImage = await pushImage(deps, "empty", "latest", ec, []);
  await deleteManifest(deps, "empty", { kind: "digest", digest: emptyImage.digest });
  // A foreign layer the client pushed anyway.
  const foreign = await pushBlob(deps, "app", "foreign layer");
  await pushImage(deps, "app", "win", config, [], {
    layers: [{ mediaType: "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", digest: foreign.text, size: foreign.size, urls: ["https://example.com/l"] }],
  });
  const kept = { config, l1, l2, c2, l3, sbom, l4, foreign };
  const freed: [string, Blob][] = [["app", g1], ["other", g2], ["app", l5], ["app", l6], ["empty", ec]];
  const dataKeys = new Map<string, string>();
  for (const [, b] of freed) dataKeys.set(b.text, (await record(deps, b))!.dataKey);
  return { kept, freed, dataKeys, referrerEntry: keys.referrer("app", image.digest, lost.digest), image };
}

/** The counts a real run and a dry run must agree on. */
const counts = (r: Awaited<ReturnType<typeof drive>>["report"]) => ({
  marked: r.marked,
  tombstoned: r.tombstoned,
  blobs: r.deleted.blobs,
  bytesFreed: r.deleted.bytesFreed,
  sample: r.deleted.sample.map((s) => s.digest).sort(),
  orphanData: r.deleted.orphanData,
  links: r.deleted.links,
  referrers: r.deleted.referrers,
  catalog: r.deleted.catalog,
  sessions: r.deleted.sessions,
  tails: r.deleted.tails,
  multipartAborted: r.deleted.multipartAborted,
});

describe.each(BACKENDS)("gc engine on %s", (_name, makeStore) => {
  async function setup(overrides: Partial<GcDeps> = {}) {
    const store = await makeStore();
    const clock = { now: Date.now() };
    const deps = gcDeps(store, clock, overrides);
    return { store, clock, deps };
  }

  it("frees unreferenced blobs (record dead, data and links gone) and keeps every referenced one", async () => {
    const { deps, clock } = await setup();
    const w = await buildWorld(deps);
    clock.now += 2 * HOUR;
    const { report } = await drive(deps, clock);
    for (const b of Object.values(w.kept)) await expectKept(deps, "app", b);
    for (const [repo, b] of w.freed) await expectFreed(deps, repo, b, w.dataKeys.get(b.text)!);
    expect(report.errors).toEqual([]);
    expect(report.marked.tagsAsRoots).toBe(1);
    expect(report.tombstoned).toBe(5);
    expect(report.deleted.blobs).toBe(5);
    expect(report.deleted.sample.map((s) => s.digest).sort()).toEqual(w.freed.map(([, b]) => b.text).sort());
    expect(report.deleted.bytesFreed).toBe(w.freed.reduce((n, [, b]) => n + b.size, 0));
    expect(report.deleted.links).toBe(5);
    // The stale referrer entry and the empty repository's catalog entry are swept; the live ones stay.
    expect(report.deleted.referrers).toBe(1);
    expect(await deps.store.head(w.referrerEntry)).toBeNull();
    expect(await deps.store.list({ prefix: keys.referrersPrefix("app", w.image.digest) })).toMatchObject({ objects: [expect.anything()] });
    expect(report.deleted.catalog).toBe(1);
    expect(await deps.store.head(keys.catalog("empty"))).toBeNull();
    expect(await deps.store.head(keys.catalog("app"))).not.toBeNull();
    expect(report.steps.length).toBeGreaterThan(5);
    expect(report.steps.every((s) => s.subrequests > 0)).toBe(true);
    // The run's working files are gone; its report is listed.
    const left = await deps.store.list({ prefix: keys.gcRun(report.run) });
    expect(left.objects.map((o) => o.key)).toEqual([keys.gcReport(report.run)]);
    expect(await listRuns(deps)).toEqual([report.run]);
    expect(await currentRun(deps)).toMatchObject({ run: report.run, done: true });
  });

  it("keeps blobs and data younger than the grace window", async () => {
    const { deps, clock } = await setup();
    const g = await pushBlob(deps, "app", "young garbage");
    await deps.store.put(keys.blobData("young-orphan"), "bytes");
    clock.now += HOUR / 2;
    const { report } = await drive(deps, clock);
    expect((await record(deps, g))?.state).toBe("live");
    expect(await deps.store.head(keys.blobData("young-orphan"))).not.toBeNull();
    expect(report.skippedYoung).toBe(1);
    expect(report.tombstoned).toBe(0);
    expect(report.deleted.orphanData.objects).toBe(0);
  });

  it("dry run writes nothing outside gc/ and reports what the real run then does", async () => {
    const { deps, clock, store } = await setup();
    await buildWorld(deps);
    await sessionsWorld(deps, store);
    clock.now += 4 * HOUR;
    const before = await snapshot(store);
    const dry = await drive(deps, clock, { dryRun: true });
    expect(await snapshot(store)).toEqual(before);
    expect(dry.report.dryRun).toBe(true);
    const real = await drive(deps, clock);
    expect(counts(dry.report)).toEqual(counts(real.report));
    expect(real.report.deleted.blobs).toBe(5);
    expect(real.report.deleted.sessions).toBeGreaterThan(0);
  });

  it("splits phases into many small steps that resume from the cursor, with the same outcome", async () => {
    const { deps, clock } = await setup({ budget: { listPage: 3, manifestGets: 1, calls: 20 } });
    const w = await buildWorld(deps);
    clock.now += 2 * HOUR;
    const { report, statuses } = await drive(deps, clock);
    for (const b of Object.values(w.kept)) await expectKept(deps, "app", b);
    for (const [repo, b] of w.freed) await expectFreed(deps, repo, b, w.dataKeys.get(b.text)!);
    expect(report.deleted.blobs).toBe(5);
    expect(report.deleted.links).toBe(5);
    expect(report.marked).toMatchObject({ manifests: 5, tagsAsRoots: 1, repositories: 3 });
    expect(statuses.length).toBeGreaterThan(40);
    // A step stays near its budget (an item in progress may finish past it).
    expect(Math.max(...report.steps.map((s) => s.subrequests))).toBeLessThan(45);
    for (const phase of ["mark1", "tombstone", "mark2", "resolve", "orphans", "links"] as const) {
      expect(report.steps.filter((s) => s.phase === phase).length, phase).toBeGreaterThan(1);
    }
  });

  it("a step that loses its lease on gc/state saves nothing; a live lease refuses other steps and starts", async () => {
    const { deps, clock, store } = await setup();
    await buildWorld(deps);
    clock.now += 2 * HOUR;
    await startRun(deps, { dryRun: false, trigger: "admin" });
    await runStep(deps); // retention
    const before = await store.get(keys.gcState);
    const beforeText = await new Response(before!.body).text();
    // Another runner rewrites gc/state while the step works (as one that took over after the lease expired would).
    const intruding: ObjectStore = Object.create(store);
    let intruded = false;
    intruding.list = async (opts) => {
      if (!intruded) {
        intruded = true;
        await store.put(keys.gcState, beforeText, { contentType: "application/json" });
      }
      return store.list(opts);
    };
    await expect(runStep({ ...deps, store: intruding })).rejects.toBeInstanceOf(GcLeaseLostError);
    const after = JSON.parse(await new Response((await store.get(keys.gcState))!.body).text());
    expect(after).toEqual(JSON.parse(beforeText));
    // A lease held by a step in progress: no second step, no new run.
    const held = { ...after, lease: { owner: "someone", until: clock.now + 60_000 } };
    await store.put(keys.gcState, JSON.stringify(held), { contentType: "application/json" });
    await expect(runStep(deps)).rejects.toBeInstanceOf(GcBusyError);
    await expect(startRun(deps, { dryRun: false, trigger: "admin" })).rejects.toBeInstanceOf(GcBusyError);
    // Once it expires, the run goes on to the end.
    clock.now += 61_000;
    for (let i = 0; i < 100 && !(await runStep(deps)).done; i++);
    expect((await currentRun(deps))?.done).toBe(true);
  });

  it("a run in progress refuses a new start, even between steps and through its quarantine, until it is stale", async () => {
    const { deps, clock } = await setup();
    await buildWorld(deps);
    clock.now += 2 * HOUR;
    const first = await startRun(deps, { dryRun: false, trigger: "cron", quarantineMs: 24 * HOUR });
    let status = await runStep(deps);
    for (let i = 0; i < 100 && status.phase !== "quarantine"; i++) status = await runStep(deps);
    expect(status.phase).toBe("quarantine");
    // A daily cron a day later, while the quarantine still runs: refused, the run is kept.
    clock.now += 23 * HOUR;
    const busy = await startRun(deps, { dryRun: false, trigger: "cron" }).catch((e) => e);
    expect(busy).toBeInstanceOf(GcBusyError);
    expect(busy.run).toBe(first.run);
    // Nobody stepped it for hours after its quarantine ended: stale, replaced.
    clock.now += 2 * HOUR + GC_STALE_MS;
    const second = await startRun(deps, { dryRun: false, trigger: "cron" });
    expect(second.run).not.toBe(first.run);
  });

  it("refuses a grace below the minimum", async () => {
    const { deps } = await setup();
    const strict = { ...deps, gc: { ...deps.gc, minGraceMs: HOUR } };
    await expect(startRun(strict, { dryRun: false, trigger: "admin", graceMs: HOUR - 1 })).rejects.toBeInstanceOf(GcRefusedError);
    await expect(runStep(strict)).rejects.toBeInstanceOf(GcRefusedError); // no run
  });

  it("waits out the quarantine: steps answer resumeAt and do nothing until the clock passes it", async () => {
    const { deps, clock } = await setup();
    const g = await pushBlob(deps, "app", "garbage");
    clock.now += 2 * HOUR;
    await startRun(deps, { dryRun: false, trigger: "admin", quarantineMs: HOUR });
    let s = await runStep(deps);
    while (s.phase !== "quarantine") s = await runStep(deps);
    expect((await record(deps, g))?.state).toBe("tomb");
    const waiting = await runStep(deps);
    expect(waiting).toMatchObject({ phase: "quarantine", resumeAt: s.resumeAt });
    expect(waiting.step).toBeUndefined();
    clock.now = s.resumeAt! + 1;
    while (!(await runStep(deps)).done);
    expect((await record(deps, g))?.state).toBe("dead");
  });

  it("revives a tombstoned blob that a manifest pushed during the quarantine references", async () => {
    const { deps, clock } = await setup();
    const config = await pushBlob(deps, "app", '{"c":1}');
    const layer = await pushBlob(deps, "app", "late layer");
    clock.now += 2 * HOUR;
    await startRun(deps, { dryRun: false, trigger: "admin", quarantineMs: HOUR });
    let s = await runStep(deps);
    while (s.phase !== "quarantine") s = await runStep(deps);
    expect((await record(deps, layer))?.state).toBe("tomb");
    // The manifest PUT's post-check revives the tombstones itself (compare-and-swap on the record).
    await pushImage(deps, "app", null, config, [layer]);
    expect((await record(deps, layer))?.state).toBe("live");
    clock.now = s.resumeAt! + 1;
    while (!(await runStep(deps)).done);
    await expectKept(deps, "app", layer);
    await expectKept(deps, "app", config);
    // The sweep's resolve finds the records changed since its tombstone (revived by the PUT): it leaves them.
    expect(await readReport(deps, s.run)).toMatchObject({ tombstoned: 2, deleted: { blobs: 0 } });
  });

  it("stops on a manifest that does not parse: nothing deleted, the error reported", async () => {
    const { deps, clock, store } = await setup();
    const g = await pushBlob(deps, "app", "garbage");
    const hex = "ab".repeat(32);
    await store.put(`repos/app/_manifests/sha256/${hex}`, "not a manifest", { contentType: "application/vnd.oci.image.manifest.v1+json" });
    clock.now += 2 * HOUR;
    const { report } = await drive(deps, clock);
    expect(report.errors).toEqual([expect.objectContaining({ phase: "mark1", key: `repos/app/_manifests/sha256/${hex}` })]);
    expect((await record(deps, g))?.state).toBe("live");
    expect(report.deleted.blobs).toBe(0);
  });

  it("an unparseable manifest found by the second mark revives every tombstone of the run", async () => {
    const { deps, clock, store } = await setup();
    const g = await pushBlob(deps, "app", "garbage");
    const orphan = keys.blobData("orphan");
    await store.put(orphan, "orphan bytes");
    clock.now += 2 * HOUR;
    await startRun(deps, { dryRun: false, trigger: "admin", quarantineMs: HOUR });
    let s = await runStep(deps);
    while (s.phase !== "quarantine") s = await runStep(deps);
    expect((await record(deps, g))?.state).toBe("tomb");
    await store.put(`repos/app/_manifests/sha256/${"cd".repeat(32)}`, "{", { contentType: "application/vnd.oci.image.manifest.v1+json" });
    clock.now = s.resumeAt! + 1;
    while (!(s = await runStep(deps)).done);
    expect(s.failed).toBe(true);
    expect((await record(deps, g))?.state).toBe("live");
    expect(await store.head(orphan)).not.toBeNull();
  });

  it("removes abandoned sessions (multipart aborted, objects and tails deleted) and stray tails; keeps young ones", async () => {
    const { deps, clock, store } = await setup();
    const w = await sessionsWorld(deps, store);
    clock.now += 4 * HOUR; // past the 3 h upload TTL and the 1 h grace
    // The young session started at the test clock's time (its state says so).
    const young = await startUpload(deps, "app", null);
    await store.put(keys.uploadState(young.state.id), JSON.stringify({ ...young.state, createdAt: clock.now }), { contentType: "application/json" });
    const { report } = await drive(deps, clock);
    expect(report.deleted.sessions).toBe(3); // chunked, object, and the ended marker of a crashed request
    expect(report.deleted.multipartAborted).toBe(1);
    expect(report.deleted.tails).toBe(3); // the chunked session's tail, and the two strays
    for (const id of w.expired) expect(await store.list({ prefix: `uploads/${id}/` }), id).toEqual({ objects: [] });
    for (const k of w.deletedObjects) expect(await store.head(k), k).toBeNull();
    await expect(store.uploadPart(w.multipart.key, w.multipart.uploadId, 2, new Uint8Array(5), 5)).rejects.toThrow();
    expect(await store.head(keys.uploadState(young.state.id))).not.toBeNull();
    // The crashed request's object is no session's any more: the orphan sweep frees it, not U.
    expect(report.deleted.orphanData.objects).toBe(2);
    expect(await store.head(w.markerObject)).toBeNull();
    expect(await store.head(keys.blobData("orphan"))).toBeNull();
  });
});

/** Sessions for the upload sweep: chunked with a multipart upload and a tail, a whole object, a crashed marker, strays. */
async function sessionsWorld(deps: GcDeps, store: ObjectStore) {
  const chunked = await startUpload(deps, "app", null);
  const bytes = new Uint8Array(6 * MIB).fill(7);
  await appendChunk(deps, chunked, streamOf(bytes), { start: 0, length: bytes.byteLength });
  const c = chunked.state.content;
  if (c.kind !== "chunks" || !c.multipart || !c.tail) throw new Error(`expected a chunked session, got ${c.kind}`);
  const object = await startUpload(deps, "app", null);
  await appendChunk(deps, object, streamOf(new TextEncoder().encode("whole")), { length: 5 });
  if (object.state.content.kind !== "object") throw new Error("expected an object session");
  // A request that claimed its session and crashed (today's marker keeps no content; helper A's will).
  const crashedId = crypto.randomUUID();
  const markerObject = keys.blobData("crashed-object");
  await store.put(markerObject, "crashed bytes");
  await store.put(keys.uploadState(crashedId), JSON.stringify({ v: 2, id: crashedId, ended: "complete" }), { contentType: "application/json" });
  // Stray tails: one of a session whose state is gone, one superseded in the chunked session.
  const strayA = keys.uploadTail(crypto.randomUUID(), "lost");
  const strayB = keys.uploadTail(chunked.state.id, "superseded");
  await store.put(strayA, "t");
  await store.put(strayB, "t");
  await store.put(keys.blobData("orphan"), "orphan bytes");
  return {
    expired: [chunked.state.id, object.state.id, crashedId],
    multipart: c.multipart,
    deletedObjects: [...contentObjects(c), ...contentObjects(object.state.content), strayA, strayB],
    markerObject,
  };
}

