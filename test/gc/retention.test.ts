// Retention (src/gc/retention.ts) on MemoryStore and on the R2 adapter over the unit project's simulated R2 bucket.
// Repositories are built by the registry's own operations (uploadMonolithic, putManifest); ages are set by
// rewriting an object with `at` metadata (what a manifest PUT records), or left to storage's write time.
// Races are driven phase by phase through the executor's exported phases.
import { describe, it, expect } from "vitest";
import { env } from "cloudflare:workers";
import { parseConfig } from "../../src/config";
import type { Env } from "../../src/config/settings";
import { MemoryStore } from "../../src/storage/memory";
import { R2Store } from "../../src/storage/r2";
import type { ObjectStore } from "../../src/storage/types";
import type { GcDeps } from "../../src/gc/types";
import { parseRetention, planRetention, planTags, planManifests, DAY_MS } from "../../src/gc/retention-policy";
import { retentionStep, retainRepository, readRepository, deleteTags, deleteManifests, repairManifests } from "../../src/gc/retention";
import { uploadMonolithic } from "../../src/registry/uploads";
import { putManifest } from "../../src/registry/manifests";
import { keys } from "../../src/registry/paths";
import { digestBytes, formatDigest, parseDigest } from "../../src/protocol/digest";
import { MEDIA_TYPES } from "../../src/protocol/mediatypes";
import { RegistryError } from "../../src/protocol/errors";

const config = parseConfig(env as Env);
const enc = (v: unknown) => new TextEncoder().encode(typeof v === "string" ? v : JSON.stringify(v));
let counter = 0;
const unique = (p: string) => `${p}${Date.now().toString(36)}${(counter++).toString(36)}`;

function depsFor(store: ObjectStore, retention: unknown): GcDeps {
  const problems: string[] = [];
  const policies = parseRetention(JSON.stringify(retention), problems);
  expect(problems).toEqual([]);
  return { store, settings: config.registry, gc: { ...config.gc, retention: policies } };
}

async function blob(deps: GcDeps, repo: string, bytes: Uint8Array) {
  const d = await digestBytes(bytes);
  await uploadMonolithic(deps, repo, null, d, new Blob([bytes]).stream(), bytes.byteLength);
  return { digest: formatDigest(d), size: bytes.byteLength };
}

/** An image manifest with its own config blob (`seed` makes it distinct); pushed by digest, or under `tags`. */
async function image(deps: GcDeps, repo: string, seed: string, tags: string[] = [], subject?: { digest: string; size: number; mediaType: string }) {
  const cfg = await blob(deps, repo, enc({ seed }));
  const layer = await blob(deps, repo, enc(`layer of ${seed}`));
  const doc: Record<string, unknown> = {
    schemaVersion: 2,
    mediaType: MEDIA_TYPES.ociManifest,
    config: { mediaType: "application/vnd.oci.image.config.v1+json", ...cfg },
    layers: [{ mediaType: "application/vnd.oci.image.layer.v1.tar", ...layer }],
  };
  if (subject) Object.assign(doc, { artifactType: "application/vnd.example.sig", subject });
  return push(deps, repo, doc, MEDIA_TYPES.ociManifest, tags);
}

async function index(deps: GcDeps, repo: string, children: { digest: string; size: number }[], tags: string[] = []) {
  const doc = { schemaVersion: 2, mediaType: MEDIA_TYPES.ociIndex, manifests: children.map((c) => ({ mediaType: MEDIA_TYPES.ociManifest, ...c })) };
  return push(deps, repo, doc, MEDIA_TYPES.ociIndex, tags);
}

async function push(deps: GcDeps, repo: string, doc: unknown, mediaType: string, tags: string[]) {
  const bytes = enc(doc);
  const digest = await digestBytes(bytes);
  const ref = tags.length ? { kind: "tag" as const, tag: tags[0] } : { kind: "digest" as const, digest };
  await putManifest(deps, repo, ref, bytes, mediaType, tags.slice(1));
  return { digest: formatDigest(digest), size: bytes.byteLength, mediaType, bytes };
}

/** Makes an object look written `days` ago, as the `at` metadata of a manifest PUT says. */
async function age(store: ObjectStore, key: string, days: number) {
  const obj = await store.get(key);
  if (!obj) throw new Error(`no ${key}`);
  const bytes = new Uint8Array(await new Response(obj.body).arrayBuffer());
  await store.put(key, bytes, { contentType: obj.contentType, metadata: { ...obj.metadata, at: String(Date.now() - days * DAY_MS) } });
}
const mkey = (repo: string, digest: string) => keys.manifest(repo, parseDigest(digest)!);
const hasManifest = async (store: ObjectStore, repo: string, digest: string) => (await store.head(mkey(repo, digest))) !== null;
const hasTag = async (store: ObjectStore, repo: string, tag: string) => (await store.head(keys.tag(repo, tag))) !== null;

/** Runs retentionStep until done; returns everything it reported and how many steps it took. */
async function runAll(deps: GcDeps, opts: { dryRun: boolean; now?: number }) {
  const manifests: { repo: string; digest: string }[] = [];
  const tags: { repo: string; tag: string }[] = [];
  let cursor: string | undefined;
  let steps = 0;
  for (;;) {
    const r = await retentionStep(deps, cursor, { dryRun: opts.dryRun, now: opts.now ?? Date.now() });
    steps++;
    manifests.push(...r.manifests);
    tags.push(...r.tags);
    if (r.done) break;
    expect(r.cursor).not.toBe(cursor);
    cursor = r.cursor;
    if (steps > 10_000) throw new Error("retention did not finish");
  }
  const sort = <T>(xs: T[]) => xs.map((x) => JSON.stringify(x)).sort();
  return { manifests: sort(manifests), tags: sort(tags), steps };
}

const backends: [string, () => ObjectStore][] = [
  ["MemoryStore", () => new MemoryStore()],
  ["R2Store (simulated bucket)", () => new R2Store((env as unknown as { BUCKET: R2Bucket }).BUCKET)],
];

for (const [backend, makeStore] of backends) {
  describe(`retention on ${backend}`, () => {
    it("keeps the newest K matching tags, deletes the older ones and then their old untagged manifests", async () => {
      const store = makeStore();
      const ns = unique("k");
      const repo = `${ns}/app`;
      const deps = depsFor(store, [{ repositories: [`${ns}/*`], untaggedDays: 7, keepTags: [{ match: "pr-*", newest: 2 }] }]);
      const imgs = [];
      for (let i = 1; i <= 5; i++) {
        const img = await image(deps, repo, `${ns}-${i}`, [`pr-${i}`]);
        await age(store, mkey(repo, img.digest), 30);
        await age(store, keys.tag(repo, `pr-${i}`), 10 - i); // pr-5 newest
        imgs.push(img);
      }
      const main = await image(deps, repo, `${ns}-main`, ["main"]);
      await age(store, mkey(repo, main.digest), 30);
      await age(store, keys.tag(repo, "main"), 300);

      const r = await runAll(deps, { dryRun: false });
      expect(r.tags).toEqual(["pr-1", "pr-2", "pr-3"].map((tag) => JSON.stringify({ repo, tag })));
      expect(r.manifests).toEqual(imgs.slice(0, 3).map((m) => JSON.stringify({ repo, digest: m.digest })).sort());
      for (const t of ["pr-1", "pr-2", "pr-3"]) expect(await hasTag(store, repo, t)).toBe(false);
      for (const t of ["pr-4", "pr-5", "main"]) expect(await hasTag(store, repo, t)).toBe(true);
      for (const [i, m] of imgs.entries()) expect(await hasManifest(store, repo, m.digest)).toBe(i >= 3);
      expect(await hasManifest(store, repo, main.digest)).toBe(true);

      // A second run finds nothing more to do.
      expect(await runAll(deps, { dryRun: false })).toMatchObject({ manifests: [], tags: [] });
    });

    it("protected tags are never deleted; young untagged manifests stay; a manifest still tagged elsewhere stays", async () => {
      const store = makeStore();
      const repo = unique("p");
      const deps = depsFor(store, [{ repositories: [repo], untaggedDays: 7, keepTags: [{ match: "*", newest: 1 }], protectTags: ["v*", "latest"] }]);
      const v1 = await image(deps, repo, `${repo}-v1`, ["v1"]);
      const old = await image(deps, repo, `${repo}-old`, ["old", "latest"]);
      const nightly = await image(deps, repo, `${repo}-n`, ["nightly-1"]);
      const newest = await image(deps, repo, `${repo}-new`, ["nightly-2"]);
      const young = await image(deps, repo, `${repo}-young`); // untagged, pushed now
      for (const m of [v1, old, nightly, newest]) await age(store, mkey(repo, m.digest), 100);
      for (const [t, d] of [["v1", 100], ["old", 90], ["latest", 90], ["nightly-1", 50], ["nightly-2", 1]] as const) await age(store, keys.tag(repo, t), d);

      const r = await runAll(deps, { dryRun: false });
      expect(r.tags).toEqual(["nightly-1", "old"].map((tag) => JSON.stringify({ repo, tag })));
      // `old` lost its tag but `latest` (protected) still points at its manifest.
      expect(r.manifests).toEqual([JSON.stringify({ repo, digest: nightly.digest })]);
      for (const t of ["v1", "latest", "nightly-2"]) expect(await hasTag(store, repo, t)).toBe(true);
      for (const m of [v1, old, newest, young]) expect(await hasManifest(store, repo, m.digest)).toBe(true);
      expect(await hasManifest(store, repo, nightly.digest)).toBe(false);
    });

    it("ages fall back to storage's write time when there is no `at` metadata", async () => {
      const store = makeStore();
      const repo = unique("u");
      const deps = depsFor(store, [{ repositories: [repo], untaggedDays: 7 }]);
      const a = await image(deps, repo, `${repo}-a`);
      const t = await image(deps, repo, `${repo}-t`, ["keep"]);
      expect(await runAll(deps, { dryRun: false })).toMatchObject({ manifests: [], tags: [] }); // young now
      const later = Date.now() + 8 * DAY_MS;
      const r = await runAll(deps, { dryRun: false, now: later });
      expect(r.manifests).toEqual([JSON.stringify({ repo, digest: a.digest })]);
      expect(await hasManifest(store, repo, a.digest)).toBe(false);
      expect(await hasManifest(store, repo, t.digest)).toBe(true);
    });

    it("children of a kept index stay; an old untagged index goes with its children; a child shared with a kept index stays", async () => {
      const store = makeStore();
      const repo = unique("i");
      const deps = depsFor(store, [{ repositories: [repo], untaggedDays: 7 }]);
      const [c1, c2, c3, shared] = [await image(deps, repo, `${repo}-1`), await image(deps, repo, `${repo}-2`), await image(deps, repo, `${repo}-3`), await image(deps, repo, `${repo}-s`)];
      const kept = await index(deps, repo, [c1, c2, shared], ["release"]);
      const dropped = await index(deps, repo, [c3, shared]);
      for (const m of [c1, c2, c3, shared, kept, dropped]) await age(store, mkey(repo, m.digest), 30);

      const r = await runAll(deps, { dryRun: false });
      expect(r.manifests).toEqual([dropped, c3].map((m) => JSON.stringify({ repo, digest: m.digest })).sort());
      for (const m of [c1, c2, shared, kept]) expect(await hasManifest(store, repo, m.digest)).toBe(true);
      for (const m of [c3, dropped]) expect(await hasManifest(store, repo, m.digest)).toBe(false);
    });

    it("referrers of a kept subject stay; an old untagged subject goes with its referrer and the referrer entry", async () => {
      const store = makeStore();
      const repo = unique("r");
      const deps = depsFor(store, [{ repositories: [repo], untaggedDays: 7 }]);
      const subject = await image(deps, repo, `${repo}-subject`, ["app"]);
      const sig = await image(deps, repo, `${repo}-sig`, [], subject);
      const lone = await image(deps, repo, `${repo}-lone`);
      const loneSig = await image(deps, repo, `${repo}-lonesig`, [], lone);
      for (const m of [subject, sig, lone, loneSig]) await age(store, mkey(repo, m.digest), 30);
      const entry = (s: string, d: string) => keys.referrer(repo, parseDigest(s)!, parseDigest(d)!);
      expect(await store.head(entry(lone.digest, loneSig.digest))).not.toBeNull();

      const r = await runAll(deps, { dryRun: false });
      expect(r.manifests).toEqual([lone, loneSig].map((m) => JSON.stringify({ repo, digest: m.digest })).sort());
      expect(await hasManifest(store, repo, sig.digest)).toBe(true);
      expect(await store.head(entry(subject.digest, sig.digest))).not.toBeNull();
      expect(await hasManifest(store, repo, lone.digest)).toBe(false);
      expect(await hasManifest(store, repo, loneSig.digest)).toBe(false);
      expect(await store.head(entry(lone.digest, loneSig.digest))).toBeNull();
    });

    it("dry run: the same lists as the real run, and nothing deleted", async () => {
      const store = makeStore();
      const repo = unique("d");
      const deps = depsFor(store, [{ repositories: [repo], untaggedDays: 7, keepTags: [{ match: "b-*", newest: 1 }] }]);
      const a = await image(deps, repo, `${repo}-a`, ["b-1"]);
      const b = await image(deps, repo, `${repo}-b`, ["b-2"]);
      const c = await image(deps, repo, `${repo}-c`);
      for (const m of [a, b, c]) await age(store, mkey(repo, m.digest), 30);
      await age(store, keys.tag(repo, "b-1"), 20);

      const dry = await runAll(deps, { dryRun: true });
      expect(dry.tags).toEqual([JSON.stringify({ repo, tag: "b-1" })]);
      expect(dry.manifests).toEqual([a, c].map((m) => JSON.stringify({ repo, digest: m.digest })).sort());
      for (const m of [a, b, c]) expect(await hasManifest(store, repo, m.digest)).toBe(true);
      expect(await hasTag(store, repo, "b-1")).toBe(true);

      const real = await runAll(deps, { dryRun: false });
      expect({ manifests: real.manifests, tags: real.tags }).toEqual({ manifests: dry.manifests, tags: dry.tags });
    });

    it("steps one matching repository at a time, skipping repositories no policy matches", async () => {
      const store = makeStore();
      const ns = unique("s");
      const deps = depsFor(store, [{ repositories: [`${ns}/x/*`], untaggedDays: 7 }]);
      const olds: { repo: string; digest: string }[] = [];
      for (const repo of [`${ns}/a`, `${ns}/x/1`, `${ns}/x/2`, `${ns}/y`, `${ns}/x/3`]) {
        const m = await image(deps, repo, `${repo}-m`);
        await age(store, mkey(repo, m.digest), 30);
        olds.push({ repo, digest: m.digest });
      }
      const r = await runAll(deps, { dryRun: false });
      expect(r.manifests).toEqual(olds.filter((o) => o.repo.startsWith(`${ns}/x/`)).map((o) => JSON.stringify(o)).sort());
      for (const o of olds) expect(await hasManifest(store, o.repo, o.digest)).toBe(!o.repo.startsWith(`${ns}/x/`));
      // A fresh store holds these five repositories only: x/1, x/2, x/3, then the step that skips y and ends.
      if (backend === "MemoryStore") expect(r.steps).toBe(4);

      // No policy: done at once, nothing read.
      const off = await retentionStep({ ...deps, gc: { ...deps.gc, retention: [] } }, undefined, { dryRun: false, now: Date.now() });
      expect(off).toEqual({ cursor: undefined, done: true, manifests: [], tags: [] });
    });

    it("a stored manifest that does not parse stops the step, and nothing in that repository is deleted", async () => {
      const store = makeStore();
      const repo = unique("b");
      const deps = depsFor(store, [{ repositories: [repo], untaggedDays: 7 }]);
      const old = await image(deps, repo, `${repo}-old`);
      await age(store, mkey(repo, old.digest), 30);
      await store.put(mkey(repo, formatDigest(await digestBytes(enc("garbage")))), enc("garbage"), { contentType: MEDIA_TYPES.ociIndex });
      await expect(retainRepository(deps, repo, deps.gc.retention[0], { dryRun: false, now: Date.now() })).rejects.toThrow(/does not parse/);
      expect(await hasManifest(store, repo, old.digest)).toBe(true);
    });

    it("a tag pushed again between the listing and its deletion is kept", async () => {
      const store = makeStore();
      const repo = unique("m");
      const deps = depsFor(store, [{ repositories: [repo], keepTags: [{ match: "*", newest: 1 }] }]);
      const a = await image(deps, repo, `${repo}-a`, ["one"]);
      await image(deps, repo, `${repo}-b`, ["two"]);
      await age(store, keys.tag(repo, "one"), 5);
      const snap = await readRepository(store, repo, Date.now());
      expect(planTags(deps.gc.retention[0], snap.tags)).toEqual(["one"]);
      await putManifest(deps, repo, { kind: "tag", tag: "one" }, a.bytes, a.mediaType); // pushed again: a new etag
      const { deleted, remaining } = await deleteTags(store, snap, ["one"]);
      expect(deleted).toEqual([]);
      expect(remaining.map((t) => t.name).sort()).toEqual(["one", "two"]);
      expect(await hasTag(store, repo, "one")).toBe(true);
    });

    describe("a concurrent index push racing a deletion", () => {
      // The child C is old and untagged: the plan deletes it. P pushes an index I that lists C.
      async function setup() {
        const store = makeStore();
        const repo = unique("x");
        const deps = depsFor(store, [{ repositories: [repo], untaggedDays: 7 }]);
        const child = await image(deps, repo, `${repo}-child`);
        await age(store, mkey(repo, child.digest), 30);
        const snap = await readRepository(store, repo, Date.now());
        const plan = planRetention(deps.gc.retention[0], [...snap.manifests.values()], snap.tags, Date.now());
        expect(plan.manifests).toEqual([child.digest]);
        const indexDoc = { schemaVersion: 2, mediaType: MEDIA_TYPES.ociIndex, manifests: [{ mediaType: MEDIA_TYPES.ociManifest, digest: child.digest, size: child.size }] };
        return { store, repo, deps, child, snap, plan, indexBytes: enc(indexDoc) };
      }

      it("P checks C, retention deletes C, P writes I, the re-check sees I and puts C back", async () => {
        const { store, repo, child, snap, plan, indexBytes } = await setup();
        // P's reference check ran before the delete (C was present); its write lands after it.
        const deleted = await deleteManifests(store, snap, plan.manifests);
        expect(deleted.map((m) => m.digest)).toEqual([child.digest]);
        expect(await hasManifest(store, repo, child.digest)).toBe(false);
        const indexDigest = formatDigest(await digestBytes(indexBytes));
        await store.put(mkey(repo, indexDigest), indexBytes, { contentType: MEDIA_TYPES.ociIndex });
        const repaired = await repairManifests(store, snap, deleted, Date.now());
        expect([...repaired]).toEqual([child.digest]);
        const back = await store.get(mkey(repo, child.digest));
        expect(back?.contentType).toBe(MEDIA_TYPES.ociManifest);
        expect(new Uint8Array(await new Response(back!.body).arrayBuffer())).toEqual(deleted[0].bytes);
        expect(back?.metadata.at).toBe(deleted[0].metadata.at); // the same metadata
      });

      it("P's whole push lands after the plan and before the delete: the re-check puts C back", async () => {
        const { store, repo, deps, child, snap, plan, indexBytes } = await setup();
        await putManifest(deps, repo, { kind: "tag", tag: "multi" }, indexBytes, MEDIA_TYPES.ociIndex);
        const deleted = await deleteManifests(store, snap, plan.manifests);
        const repaired = await repairManifests(store, snap, deleted, Date.now());
        expect([...repaired]).toEqual([child.digest]);
        expect(await hasManifest(store, repo, child.digest)).toBe(true);
      });

      it("P pushes after the delete: its reference check refuses the index, and nothing is put back", async () => {
        const { store, repo, deps, child, snap, plan, indexBytes } = await setup();
        const deleted = await deleteManifests(store, snap, plan.manifests);
        const refused = await putManifest(deps, repo, { kind: "tag", tag: "multi" }, indexBytes, MEDIA_TYPES.ociIndex).catch((e) => e);
        expect(refused).toBeInstanceOf(RegistryError);
        expect((refused as RegistryError).code).toBe("MANIFEST_BLOB_UNKNOWN");
        expect([...(await repairManifests(store, snap, deleted, Date.now()))]).toEqual([]);
        expect(await hasManifest(store, repo, child.digest)).toBe(false);
      });

      it("P checks C, retention deletes C and finishes its re-check, then P writes I: P's post-check refuses I", async () => {
        const { store, repo, deps, child, snap, plan, indexBytes } = await setup();
        const indexDigest = formatDigest(await digestBytes(indexBytes));
        let retention: Promise<void> | null = null;
        // P's pre-check (a HEAD of C) has run; retention runs whole right before P's write of I lands.
        const racing = Object.create(store) as typeof store;
        racing.put = async (key, body, opts) => {
          if (key === mkey(repo, indexDigest) && !retention) {
            retention = (async () => {
              const deleted = await deleteManifests(store, snap, plan.manifests);
              expect([...(await repairManifests(store, snap, deleted, Date.now()))]).toEqual([]); // I is not written yet
            })();
            await retention;
          }
          return store.put(key, body, opts);
        };
        const refused = await putManifest({ ...deps, store: racing }, repo, { kind: "tag", tag: "multi" }, indexBytes, MEDIA_TYPES.ociIndex).catch((e) => e);
        expect(retention).not.toBeNull();
        expect(refused).toBeInstanceOf(RegistryError);
        expect((refused as RegistryError).code).toBe("MANIFEST_BLOB_UNKNOWN");
        expect(await hasManifest(store, repo, indexDigest)).toBe(false); // retracted
        expect(await hasManifest(store, repo, child.digest)).toBe(false);
        expect(await hasTag(store, repo, "multi")).toBe(false);
      });

      it("a tag pushed onto C whose write lands after the delete: the re-check puts C back", async () => {
        const { store, repo, child, snap, plan } = await setup();
        const deleted = await deleteManifests(store, snap, plan.manifests);
        // A tag PUT of C that checked and wrote C before the delete; its tag write lands after it.
        await store.put(keys.tag(repo, "late"), child.bytes, { contentType: MEDIA_TYPES.ociManifest, metadata: { digest: child.digest } });
        expect([...(await repairManifests(store, snap, deleted, Date.now()))]).toEqual([child.digest]);
        expect(await hasManifest(store, repo, child.digest)).toBe(true);
      });

      it("a referrer pushed onto C after the plan: the re-check puts C (its subject) back", async () => {
        const { store, repo, deps, child, snap, plan } = await setup();
        const deleted = await deleteManifests(store, snap, plan.manifests);
        // A referrer may be pushed while its subject is missing (OCI allows it).
        const sig = await image(deps, repo, `${repo}-sig`, [], child);
        expect([...(await repairManifests(store, snap, deleted, Date.now()))]).toEqual([child.digest]);
        expect(await hasManifest(store, repo, child.digest)).toBe(true);
        expect(await hasManifest(store, repo, sig.digest)).toBe(true);
      });

      it("C pushed again by digest between the delete and the re-check: present, nothing to write", async () => {
        const { store, repo, deps, child, snap, plan } = await setup();
        const deleted = await deleteManifests(store, snap, plan.manifests);
        await putManifest(deps, repo, { kind: "digest", digest: parseDigest(child.digest)! }, child.bytes, child.mediaType);
        expect([...(await repairManifests(store, snap, deleted, Date.now()))]).toEqual([]);
        expect(await hasManifest(store, repo, child.digest)).toBe(true);
      });
    });

    it("a repaired referrer gets its referrer entry back", async () => {
      const store = makeStore();
      const repo = unique("e");
      const deps = depsFor(store, [{ repositories: [repo], untaggedDays: 7 }]);
      const subject = await image(deps, repo, `${repo}-s`);
      const sig = await image(deps, repo, `${repo}-sig`, [], subject);
      for (const m of [subject, sig]) await age(store, mkey(repo, m.digest), 30);
      const snap = await readRepository(store, repo, Date.now());
      const doomed = planManifests(deps.gc.retention[0], [...snap.manifests.values()], snap.tags, Date.now());
      expect(doomed).toEqual([subject.digest, sig.digest].sort());
      const deleted = await deleteManifests(store, snap, doomed);
      const entry = keys.referrer(repo, parseDigest(subject.digest)!, parseDigest(sig.digest)!);
      expect(await store.head(entry)).toBeNull();
      // Someone tags the subject meanwhile: the subject is needed, and so is its referrer.
      await store.put(keys.tag(repo, "now"), subject.bytes, { contentType: subject.mediaType, metadata: { digest: subject.digest } });
      expect([...(await repairManifests(store, snap, deleted, Date.now()))].sort()).toEqual([subject.digest, sig.digest].sort());
      const e = await store.get(entry);
      expect(JSON.parse(await new Response(e!.body).text())).toMatchObject({ digest: sig.digest, artifactType: "application/vnd.example.sig" });
    });
  });
}
