// The gc section of `npm run bench` (`npm run bench -- --only gc`): garbage collection at the issue's size. A bucket
// on a local Ceph RGW is filled from Node with the registry's own functions on the S3 adapter (createRecord,
// linkBlob, putManifest; no HTTP), then Skiff runs under `wrangler dev` on that bucket (S3 backend, open auth,
// GC_MIN_GRACE_HOURS=0) and a run is driven through the admin endpoints with grace 0 and quarantine 0, one step per
// request, as `npm run gc` does. Per step: the phase and storage calls the engine reports, the runtime workerd's CPU
// (from /proc, before and after the request: on S3 nothing else runs in that process) and the wall time. Afterwards
// a sample of referenced blobs and tagged manifests is pulled back (nothing referenced may be freed) and a sample of
// unreferenced blobs is HEADed (they should be gone). Targets per step: 30 s CPU, 10,000 subrequests (Workers Paid).
import { createHash, randomUUID } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { startLocalS3, type LocalS3 } from "../scripts/lib/dev-server";
import { cpuMs, sleep } from "../scripts/lib/processes";
import { S3Store } from "../src/storage/s3";
import { createRecord } from "../src/registry/blob-record";
import { linkBlob } from "../src/registry/blobs";
import { keys } from "../src/registry/paths";
import { putManifest } from "../src/registry/manifests";
import { eachLimited } from "../src/lib/concurrency";
import { parseDigest, type Digest } from "../src/protocol/digest";
import type { RegistryDeps } from "../src/registry/deps";
import type { GcStatus } from "../src/gc/types";
import { request } from "./lib/http";
import { startSkiff, type SkiffRegistry } from "./lib/servers";

export interface GcBenchOptions {
  repositories: number;
  manifests: number;
  /** Blobs no manifest references (pushed, then their manifests deleted). */
  unreferenced: number;
  /** Base layers shared by all repositories. */
  sharedLayers: number;
  /** Unique layers per manifest (besides its config and one shared base layer). */
  layersPerManifest: number;
  out: string;
}

export const GC_BENCH_DEFAULTS: Omit<GcBenchOptions, "out"> = { repositories: 50, manifests: 2000, unreferenced: 2000, sharedLayers: 200, layersPerManifest: 3 };

export interface GcStepRecord {
  n: number;
  phase: string;
  subrequests: number;
  workerCpuMs: number;
  wallMs: number;
}

export interface GcBenchResults {
  meta: Record<string, unknown>;
  fill: { blobs: number; manifests: number; tags: number; repositories: number; bytes: number; referencedBlobs: number; seconds: number };
  run?: string;
  steps: GcStepRecord[];
  report?: Record<string, any>;
  checks: { referencedPulled: number; referencedMissing: string[]; manifestsPulled: number; manifestsMissing: string[]; unreferencedHeaded: number; unreferencedStillThere: number };
  notes: string[];
}

const log = (...a: unknown[]) => console.error(`[bench ${new Date().toISOString().slice(11, 19)}]`, ...a);
const DAY = 24 * 3600 * 1000;
const FILL_CONCURRENCY = 48;

interface Blob {
  digest: string;
  bytes: Buffer;
}

function blob(label: string): Blob {
  // Small distinct contents: the bench is about object counts, not bytes.
  const bytes = Buffer.from(`skiff gc bench ${label} ${"x".repeat(64 + (label.length % 64))}`);
  return { digest: `sha256:${createHash("sha256").update(bytes).digest("hex")}`, bytes };
}

const d = (text: string): Digest => parseDigest(text)!;

/** Writes the blob as an upload would leave it: its data object, its record (with an old `at`), its links. */
async function writeBlob(deps: RegistryDeps, b: Blob, repos: string[], at: number): Promise<void> {
  const dataKey = keys.blobData(randomUUID());
  await deps.store.put(dataKey, new Uint8Array(b.bytes));
  await createRecord(deps.store, d(b.digest), { size: b.bytes.byteLength, dataKey, state: "live", at });
  for (const name of repos) await linkBlob(deps, name, { digest: d(b.digest), size: b.bytes.byteLength, dataKey });
}

function manifestBytes(config: Blob, layers: Blob[]): Uint8Array {
  const desc = (mediaType: string, b: Blob) => ({ mediaType, digest: b.digest, size: b.bytes.byteLength });
  return new TextEncoder().encode(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      config: desc("application/vnd.oci.image.config.v1+json", config),
      layers: layers.map((l) => desc("application/vnd.oci.image.layer.v1.tar+gzip", l)),
    }),
  );
}

interface Plan {
  repos: string[];
  shared: Blob[];
  manifests: { repo: string; config: Blob; layers: Blob[]; tag?: string }[];
  unreferenced: { repo: string; blob: Blob }[];
}

function plan(o: Omit<GcBenchOptions, "out">): Plan {
  const repos = Array.from({ length: o.repositories }, (_, i) => `bench/gc-${String(i).padStart(3, "0")}`);
  const shared = Array.from({ length: o.sharedLayers }, (_, i) => blob(`shared ${i}`));
  const manifests = Array.from({ length: o.manifests }, (_, i) => {
    const repo = repos[i % repos.length];
    const layers = [shared[i % shared.length], ...Array.from({ length: o.layersPerManifest }, (_, j) => blob(`layer ${i}.${j}`))];
    return { repo, config: blob(`config ${i}`), layers, tag: i % 4 === 0 ? `v${i}` : undefined };
  });
  const unreferenced = Array.from({ length: o.unreferenced }, (_, i) => ({ repo: repos[i % repos.length], blob: blob(`unreferenced ${i}`) }));
  return { repos, shared, manifests, unreferenced };
}

async function fill(s3: LocalS3, p: Plan): Promise<GcBenchResults["fill"]> {
  const t0 = performance.now();
  const store = new S3Store({
    endpoint: s3.endpoint,
    region: "us-east-1",
    bucket: s3.vars.S3_BUCKET,
    prefix: "",
    accessKeyId: s3.vars.S3_ACCESS_KEY_ID,
    secretAccessKey: s3.vars.S3_SECRET_ACCESS_KEY,
    forcePathStyle: true,
  });
  const deps: RegistryDeps = {
    store,
    settings: { partSize: 8 << 20, maxManifestBytes: 4 << 20, maxRequestBodyBytes: 100e6, uploadTtlMs: DAY, immutableTags: [], graceMs: DAY },
  };
  // Old enough for any grace: as if pushed two days ago.
  const at = Date.now() - 2 * DAY;
  // Each blob once, linked in every repository that uses it.
  const users = new Map<string, { b: Blob; repos: Set<string> }>();
  const use = (b: Blob, repo: string) => {
    const u = users.get(b.digest) ?? { b, repos: new Set<string>() };
    u.repos.add(repo);
    users.set(b.digest, u);
  };
  for (const m of p.manifests) for (const b of [m.config, ...m.layers]) use(b, m.repo);
  const referencedBlobs = users.size;
  for (const u of p.unreferenced) use(u.blob, u.repo);
  let bytes = 0;
  let done = 0;
  await eachLimited([...users.values()], FILL_CONCURRENCY, async (u) => {
    await writeBlob(deps, u.b, [...u.repos], at);
    bytes += u.b.bytes.byteLength;
    if (++done % 2000 === 0) log(`gc fill: ${done}/${users.size} blobs`);
  });
  done = 0;
  await eachLimited(p.manifests, FILL_CONCURRENCY, async (m) => {
    const body = manifestBytes(m.config, m.layers);
    await putManifest(deps, m.repo, m.tag ? { kind: "tag", tag: m.tag } : { kind: "digest", digest: d(`sha256:${createHash("sha256").update(body).digest("hex")}`) }, body, "application/vnd.oci.image.manifest.v1+json");
    if (++done % 500 === 0) log(`gc fill: ${done}/${p.manifests.length} manifests`);
  });
  store.client.destroy();
  return {
    blobs: users.size,
    manifests: p.manifests.length,
    tags: p.manifests.filter((m) => m.tag).length,
    repositories: p.repos.length,
    bytes,
    referencedBlobs,
    seconds: (performance.now() - t0) / 1000,
  };
}

async function adminJson<T>(method: string, url: string): Promise<T> {
  const r = await request(method, url);
  if (r.status >= 300) throw new Error(`${method} ${url}: ${r.status} ${r.body.toString().slice(0, 300)}`);
  return JSON.parse(r.body.toString()) as T;
}

/** Every `every`-th item, at most `max`: a spread-out sample. */
const sample = <T>(items: T[], max: number) => items.filter((_, i) => i % Math.max(1, Math.floor(items.length / max)) === 0).slice(0, max);

export async function gcSection(opts: GcBenchOptions): Promise<GcBenchResults> {
  const res: GcBenchResults = {
    meta: { date: new Date().toISOString(), ...opts },
    fill: { blobs: 0, manifests: 0, tags: 0, repositories: 0, bytes: 0, referencedBlobs: 0, seconds: 0 },
    steps: [],
    checks: { referencedPulled: 0, referencedMissing: [], manifestsPulled: 0, manifestsMissing: [], unreferencedHeaded: 0, unreferencedStillThere: 0 },
    notes: [],
  };
  let s3: LocalS3 | undefined;
  let skiff: SkiffRegistry | undefined;
  try {
    s3 = await startLocalS3();
    const p = plan(opts);
    res.fill = await fill(s3, p);
    log(`gc fill: ${res.fill.blobs} blobs (${res.fill.referencedBlobs} referenced), ${res.fill.manifests} manifests, ${res.fill.tags} tags in ${res.fill.repositories} repositories, ${res.fill.seconds.toFixed(0)} s`);
    // Blob GETs stream through the Worker (no presigned redirect), so the checks below read what the Worker serves.
    skiff = await startSkiff(opts.out, { ...s3.vars, BLOB_REDIRECT: "false", GC_MIN_GRACE_HOURS: "0", GC_QUARANTINE_HOURS: "0" });
    const base = skiff.url;
    const pid = skiff.processes().runtime;
    let status = await adminJson<GcStatus>("POST", `${base}/_skiff/gc?grace=0&quarantine=0`);
    res.run = status.run;
    log(`gc: run ${status.run} started`);
    for (let n = 1; !status.done; n++) {
      if (n > 5000) throw new Error("the run did not end within 5000 steps");
      if (status.resumeAt !== undefined && status.resumeAt > Date.now()) await sleep(status.resumeAt - Date.now() + 50);
      const c0 = cpuMs(pid) ?? NaN;
      const t0 = performance.now();
      status = await adminJson<GcStatus>("POST", `${base}/_skiff/gc/step`);
      const rec: GcStepRecord = { n, phase: status.step?.phase ?? status.phase, subrequests: subrequestsOnS3(status.step), workerCpuMs: (cpuMs(pid) ?? NaN) - c0, wallMs: performance.now() - t0 };
      res.steps.push(rec);
      log(`gc step ${n}: ${rec.phase}, ${rec.subrequests} subrequests, worker CPU ${rec.workerCpuMs.toFixed(0)} ms, ${rec.wallMs.toFixed(0)} ms`);
    }
    res.report = await adminJson<Record<string, any>>("GET", `${base}/_skiff/gc/runs/${encodeURIComponent(status.run)}`);

    // Nothing referenced was freed: pull a sample of referenced blobs and tagged manifests back.
    const referenced = sample(p.manifests.flatMap((m) => [m.config, ...m.layers].map((b) => ({ repo: m.repo, b }))), 300);
    await eachLimited(referenced, 8, async ({ repo, b }) => {
      const r = await request("GET", `${base}/v2/${repo}/blobs/${b.digest}`);
      res.checks.referencedPulled++;
      if (r.status !== 200 || !r.body.equals(b.bytes)) res.checks.referencedMissing.push(`${repo}@${b.digest} (${r.status})`);
    });
    await eachLimited(sample(p.manifests.filter((m) => m.tag), 100), 8, async (m) => {
      const r = await request("GET", `${base}/v2/${m.repo}/manifests/${m.tag}`, { headers: { Accept: "application/vnd.oci.image.manifest.v1+json" } });
      res.checks.manifestsPulled++;
      if (r.status !== 200) res.checks.manifestsMissing.push(`${m.repo}:${m.tag} (${r.status})`);
    });
    await eachLimited(sample(p.unreferenced, 100), 8, async (u) => {
      const r = await request("HEAD", `${base}/v2/${u.repo}/blobs/${u.blob.digest}`);
      res.checks.unreferencedHeaded++;
      if (r.status === 200) res.checks.unreferencedStillThere++;
    });
  } catch (err) {
    const msg = (err as Error).message.replace(/\s+/g, " ").slice(0, 600);
    res.notes.push(`FAILED: ${msg}`);
    log(`gc bench failed: ${msg}`);
  } finally {
    await skiff?.stop().catch(() => {});
    await s3?.stop();
  }
  return res;
}

const f0 = (n: number) => (Number.isFinite(n) ? n.toFixed(0) : "–");
const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN);
const max = (xs: number[]) => (xs.length ? Math.max(...xs) : NaN);
const CPU_TARGET_MS = 30_000;
const SUBREQUEST_TARGET = 10_000;

/**
 * A step's subrequests on the S3 backend: the storage calls the engine counts, plus the HEAD per object that the S3
 * adapter makes for a listing with metadata (R2's listing carries metadata for free; S3's does not).
 */
export function subrequestsOnS3(step: { subrequests: number; listedWithMetadata?: number } | undefined): number {
  return step ? step.subrequests + (step.listedWithMetadata ?? 0) : NaN;
}

/** The section's tables (markdown). */
export function gcReport(res: GcBenchResults): string {
  const L: string[] = [];
  const f = res.fill;
  L.push("### Garbage collection: one run at the issue's size (Skiff on S3, local Ceph RGW, wrangler dev)");
  L.push("");
  L.push(`Bucket: ${f.blobs} blobs (${f.referencedBlobs} referenced, ${f.blobs - f.referencedBlobs} not), ${f.manifests} manifests, ${f.tags} tags, ${f.repositories} repositories; filled from Node in ${f0(f.seconds)} s. Run ${res.run ?? "–"} with grace 0, quarantine 0, one step per request.`);
  if (res.report?.standIn) L.push("", "**The engine was the runners' stand-in (src/gc/index.ts), not the real engine: these numbers measure the plumbing only.**");
  L.push("");
  L.push(`Targets per step: ≤ ${CPU_TARGET_MS / 1000} s CPU, ≤ ${SUBREQUEST_TARGET} subrequests (Workers Paid). Subrequests = the storage calls the engine counts plus, on S3, one HEAD per object listed with metadata (the tombstone and orphan phases list \`blobs/\` with metadata). Worker CPU = the runtime workerd's utime+stime around the request.`);
  L.push("");
  L.push("| phase | steps | subrequests max | subrequests mean | worker CPU max (ms) | worker CPU mean (ms) | wall max (ms) | wall mean (ms) | within targets |");
  L.push("|---|---|---|---|---|---|---|---|---|");
  const phases = [...new Set(res.steps.map((s) => s.phase))];
  const row = (label: string, steps: GcStepRecord[]) => {
    const sub = steps.map((s) => s.subrequests);
    const cpu = steps.map((s) => s.workerCpuMs);
    const wall = steps.map((s) => s.wallMs);
    const ok = max(sub) <= SUBREQUEST_TARGET && max(cpu) <= CPU_TARGET_MS;
    L.push(`| ${label} | ${steps.length} | ${f0(max(sub))} | ${f0(mean(sub))} | ${f0(max(cpu))} | ${f0(mean(cpu))} | ${f0(max(wall))} | ${f0(mean(wall))} | ${steps.length ? (ok ? "yes" : "**no**") : "–"} |`);
  };
  for (const ph of phases) row(ph, res.steps.filter((s) => s.phase === ph));
  row("**all**", res.steps);
  const sum = (k: keyof GcStepRecord) => res.steps.reduce((a, s) => a + (Number(s[k]) || 0), 0);
  L.push("");
  L.push(`Totals: ${res.steps.length} steps, ${f0(sum("subrequests"))} subrequests, ${f0(sum("workerCpuMs"))} ms worker CPU, ${f0(sum("wallMs"))} ms wall.`);
  const del = res.report?.deleted ?? {};
  L.push(`Freed: ${del.blobs ?? "–"} blobs, ${del.bytesFreed ?? "–"} bytes (expected: the ${f.blobs - f.referencedBlobs} unreferenced blobs).`);
  const c = res.checks;
  L.push(
    `Checks: ${c.referencedPulled - c.referencedMissing.length}/${c.referencedPulled} referenced blobs pulled back intact ${c.referencedMissing.length ? `(**missing: ${c.referencedMissing.slice(0, 5).join(", ")}**)` : "(yes)"}; ` +
      `${c.manifestsPulled - c.manifestsMissing.length}/${c.manifestsPulled} tagged manifests served; ${c.unreferencedStillThere}/${c.unreferencedHeaded} sampled unreferenced blobs still answer HEAD (expected 0).`,
  );
  if (res.notes.length) {
    L.push("");
    for (const n of res.notes) L.push(`- ${n}`);
  }
  L.push("");
  return L.join("\n");
}

/** Writes the section's markdown and JSON to `dir` (bench/latest when run by the bench). */
export function saveGcReport(res: GcBenchResults, dir: string): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "gc.md"), gcReport(res));
  writeFileSync(join(dir, "gc.json"), JSON.stringify(res, null, 2) + "\n");
}
