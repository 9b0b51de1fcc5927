// `npm run bench`: Skiff (wrangler dev, as `npm start` runs it) against CNCF distribution 2.8.2, side by side in
// one run, alternating which goes first each round; medians of the rounds and the ratio Skiff / distribution.
//
//   npm run bench                    full run (1, 64, 256, 1024 MiB layers)
//   npm run bench -- --quick         small sizes, fewer rounds, shorter request tests (for development)
//   options: --rounds N  --sizes 1,64  --raw-size MiB  --seconds S  --skip docker,skopeo,raw,requests,floor,bundle,big-push
//            --only big-push (that section alone: big layers into Skiff and distribution on the same Ceph RGW, big-push.ts)
//            --big-sizes 256,1024 (its layer sizes)
//            --only gc (garbage collection of >= 10,000 blobs and 2,000 manifests on Ceph RGW, gc.ts; writes bench/latest/gc.md)
//            --out DIR (default bench/results/<time>)  --save-latest (also copy the summary to bench/latest/)
//   npm run bench -- --backend s3    the production-shaped run on S3 (bench/s3.ts): Skiff and distribution on one
//                                    Ceph RGW behind a counting proxy; sizes: --sizes (skopeo), --docker-sizes,
//                                    --raw-size, --chunked-sizes; --backend s3,r2 runs both (S3 tables first);
//                                    r2 (this file's sections, the local R2 simulator) stays the default
//
// Needs: docker-registry, skopeo, docker.io (dockerd), openssl (Debian packages). Not part of `npm test`.
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { makeOciLayout, type OciImage } from "../test/support/oci-layout";
import { startDockerd } from "../test/support/docker";
import { startDistribution, startFloorWorker, startSkiff, type Registry, type SkiffRegistry, type Transfer } from "./lib/servers";
import { dockerLoad, dockerPull, dockerPush, dockerRemoveImage, skopeoPull, skopeoPush } from "./lib/clients";
import { SyntheticBlob, deleteBlob, getDiscarding, pullBlob, pushChunked, pushMonolithic, request, seedImage } from "./lib/http";
import { runLoad } from "./lib/load";
import * as proc from "../scripts/lib/processes";
import { resetPeakRss, run as runCommand, sleep, type RunOptions } from "../scripts/lib/processes";
import { MiB, mbps, median } from "./lib/stats";
import { report } from "./lib/report";
import { bigPushReport, bigPushSection, type BigPushResults } from "./big-push";
import { GC_BENCH_DEFAULTS, gcReport, gcSection, saveGcReport, type GcBenchResults } from "./gc";
import { S3_SECTIONS, s3Defaults, s3Report, s3Run, type S3Results } from "./s3";

// ---- options ----
interface Options {
  quick: boolean;
  rounds: number;
  sizesMiB: number[];
  rawSizeMiB: number;
  chunkMiB: number;
  seconds: number;
  skip: Set<string>;
  bigSizesMiB: number[];
  /** --skip docker given explicitly: the big-push section leaves docker out too. */
  skipBigPushDocker: boolean;
  out: string;
  saveLatest: boolean;
  /** Which runs: "r2" (the sections below, on the local R2 simulator) and/or "s3" (bench/s3.ts). */
  backends: Set<"r2" | "s3">;
  /** --skip/--only as given, for the s3 run's own sections. */
  skipS3: Set<string>;
}

const SECTIONS = ["bundle", "raw", "requests", "skopeo", "docker", "floor", "big-push", "gc"];

function parseOptions(argv: string[]): Options {
  const quick = argv.includes("--quick");
  const val = (name: string) => {
    const i = argv.findIndex((a) => a === name || a.startsWith(`${name}=`));
    if (i < 0) return undefined;
    return argv[i].includes("=") ? argv[i].split("=")[1] : argv[i + 1];
  };
  const known = ["--backend", "--chunked-sizes", "--docker-sizes", "--quick", "--rounds", "--sizes", "--raw-size", "--seconds", "--skip", "--only", "--big-sizes", "--out", "--save-latest"];
  for (const a of argv) if (a.startsWith("--") && !known.includes(a.split("=")[0])) throw new Error(`unknown option ${a}`);
  const stamp = new Date().toISOString().replace(/[:.]/g, "-");
  const backends = new Set((val("--backend") ?? "r2").split(",")) as Set<"r2" | "s3">;
  for (const b of backends) if (b !== "r2" && b !== "s3") throw new Error(`--backend: r2, s3 or s3,r2 (got ${b})`);
  const only = val("--only")?.split(",");
  return {
    backends,
    skipS3: only ? new Set(S3_SECTIONS.filter((x) => !only.includes(x))) : new Set((val("--skip") ?? "").split(",").filter(Boolean)),
    quick,
    rounds: Number(val("--rounds") ?? (quick ? 2 : 3)),
    sizesMiB: (val("--sizes") ?? (quick ? "1,16" : "1,64,256,1024")).split(",").map(Number),
    rawSizeMiB: Number(val("--raw-size") ?? (quick ? 32 : 256)),
    chunkMiB: 16,
    seconds: Number(val("--seconds") ?? (quick ? 2 : 5)),
    skip: val("--only") ? new Set(SECTIONS.filter((x) => !val("--only")!.split(",").includes(x))) : new Set((val("--skip") ?? "").split(",").filter(Boolean)),
    skipBigPushDocker: (val("--skip") ?? "").split(",").includes("docker"),
    bigSizesMiB: (val("--big-sizes") ?? (quick ? "64" : "256,1024")).split(",").map(Number),
    out: val("--out") ?? join(new URL(".", import.meta.url).pathname, "results", stamp),
    saveLatest: argv.includes("--save-latest"),
  };
}

// ---- result records (written as JSON) ----
export interface CpuSample {
  /** CPU ms of Skiff's worker process (workerd: the Worker + the R2 simulator), idle baseline subtracted. */
  runtimeMs: number;
  /** wrangler's dev proxy workerd (TLS + forwarding; not in production). */
  proxyMs: number;
  /** wrangler's Node process. */
  wranglerMs: number;
  /** Peak RSS of the worker process during the operation minus its RSS before, bytes. */
  rssGrowth: number;
}

export interface TransferRecord extends Transfer {
  /** Skiff: its processes; distribution: its one process (runtimeMs). */
  cpu?: CpuSample;
}

export interface RequestRecord {
  op: string;
  connections: number;
  registry: Registry["name"];
  rps: number;
  p50ms: number;
  p99ms: number;
  errors: number;
  requests: number;
}

export interface Results {
  meta: Record<string, unknown>;
  startup: { skiffMs?: number; distributionMs?: number; workerStartupProfile?: { spanMs: number; busyMs: number } };
  bundle?: { files: { name: string; bytes: number; gzipBytes: number }[]; gzipBytes: number; wranglerSays?: string };
  transfers: TransferRecord[];
  requests: RequestRecord[];
  floor?: { op: string; runtimeMsPerMiB: number; proxyMsPerMiB: number; mbps: number; rssGrowth?: number; rps?: number; p50ms?: number; p99ms?: number }[];
  idle?: { runtimeMsPerSec: number; proxyMsPerSec: number; wranglerMsPerSec: number };
  bigPush?: BigPushResults;
  gc?: GcBenchResults;
  notes: string[];
}

/** /proc readings that throw when the process is gone (wrangler restarted the runtime): the callers catch that. */
function alive(v: number | null, pid: number): number {
  if (v === null) throw new Error(`process ${pid} is gone`);
  return v;
}
const cpuMs = (pid: number) => alive(proc.cpuMs(pid), pid);
const rssBytes = (pid: number) => alive(proc.rssBytes(pid), pid);
const peakRssBytes = (pid: number) => alive(proc.peakRssBytes(pid), pid);

/** A command, killed after 15 minutes. */
const run = (cmd: string, args: string[], opts: RunOptions = {}) => runCommand(cmd, args, { timeoutMs: 900_000, ...opts });

const log = (...a: unknown[]) => console.error(`[bench ${new Date().toISOString().slice(11, 19)}]`, ...a);

// ---- measurement helpers ----

/** Measures CPU and memory of the registry's processes around `fn`. */
async function withCpu<T>(reg: Registry, idle: Results["idle"], fn: () => Promise<T>): Promise<{ value: T; ms: number; cpu: CpuSample; pidChanged: boolean }> {
  const skiff = reg.name === "skiff" ? (reg as SkiffRegistry).processes() : null;
  const pids = skiff ? [skiff.runtime, skiff.proxy, skiff.wrangler] : [reg.mainPid()];
  const before = pids.map(cpuMs);
  const rss0 = rssBytes(pids[0]);
  const hwmReset = resetPeakRss(pids[0]);
  let sampledMax = rss0;
  const sampler = setInterval(() => {
    try {
      sampledMax = Math.max(sampledMax, rssBytes(pids[0]));
    } catch {
      /* restarted */
    }
  }, 20);
  const t0 = performance.now();
  try {
    const value = await fn();
    const ms = performance.now() - t0;
    const after = pids.map((p) => {
      try {
        return cpuMs(p);
      } catch {
        return NaN;
      }
    });
    let peak = sampledMax;
    try {
      if (hwmReset) peak = Math.max(peak, peakRssBytes(pids[0]));
    } catch {
      /* gone */
    }
    const secs = ms / 1000;
    const idleOf = (k: keyof NonNullable<Results["idle"]>) => (skiff && idle ? idle[k] * secs : 0);
    const cpu: CpuSample = {
      runtimeMs: after[0] - before[0] - idleOf("runtimeMsPerSec"),
      proxyMs: skiff ? after[1] - before[1] - idleOf("proxyMsPerSec") : NaN,
      wranglerMs: skiff ? after[2] - before[2] - idleOf("wranglerMsPerSec") : NaN,
      rssGrowth: peak - rss0,
    };
    const pidChanged = skiff ? (reg as SkiffRegistry).processes().runtime !== skiff.runtime : false;
    return { value, ms, cpu, pidChanged };
  } finally {
    clearInterval(sampler);
  }
}

/**
 * Runs a measurement, up to 3 times: wrangler restarts the Worker when sources change (other work on this machine),
 * which fails a request in flight. A measurement that fails 3 times is reported as missing, not fatal.
 */
async function attempt(what: string, fn: () => Promise<void>, notes: string[]): Promise<void> {
  for (let i = 0; ; i++) {
    try {
      return await fn();
    } catch (err) {
      const msg = (err as Error).message.replace(/\s+/g, " ");
      const brief = msg.length > 600 ? `${msg.slice(0, 200)} … ${msg.slice(-400)}` : msg;
      if (i >= 2) {
        notes.push(`${what}: FAILED 3 times, not measured; last error: ${brief}`);
        log(`${what} failed 3 times, giving up: ${brief}`);
        return;
      }
      notes.push(`${what}: retried after: ${brief}`);
      log(`${what} failed, retrying: ${brief}`);
      await sleep(2000);
    }
  }
}

function orderFor<T>(round: number, pair: [T, T]): [T, T] {
  return round % 2 === 0 ? pair : [pair[1], pair[0]];
}

async function measureIdle(s: SkiffRegistry, seconds = 2): Promise<NonNullable<Results["idle"]>> {
  const p = s.processes();
  const b = [cpuMs(p.runtime), cpuMs(p.proxy), cpuMs(p.wrangler)];
  const t0 = performance.now();
  await sleep(seconds * 1000);
  const secs = (performance.now() - t0) / 1000;
  const a = [cpuMs(p.runtime), cpuMs(p.proxy), cpuMs(p.wrangler)];
  return { runtimeMsPerSec: (a[0] - b[0]) / secs, proxyMsPerSec: (a[1] - b[1]) / secs, wranglerMsPerSec: (a[2] - b[2]) / secs };
}

// ---- sections ----

async function bundleSize(work: string): Promise<NonNullable<Results["bundle"]>> {
  const out = join(work, "bundle");
  const root = new URL("..", import.meta.url).pathname;
  const { stdout, stderr } = await run(process.execPath, [join(root, "node_modules/wrangler/bin/wrangler.js"), "deploy", "--dry-run", "--outdir", out], {
    cwd: root,
    env: { ...process.env, WRANGLER_SEND_METRICS: "false", NO_COLOR: "1" },
  });
  const files = readdirSync(out)
    .filter((f) => !f.endsWith(".map") && !f.endsWith(".md"))
    .map((name) => {
      const buf = readFileSync(join(out, name));
      return { name, bytes: buf.byteLength, gzipBytes: gzipSync(buf, { level: 9 }).byteLength };
    });
  const said = /Total Upload: [^\n]+/.exec(stdout + stderr)?.[0];
  return { files, gzipBytes: files.reduce((a, f) => a + f.gzipBytes, 0), wranglerSays: said };
}

async function startupProfile(work: string): Promise<{ spanMs: number; busyMs: number }> {
  const root = new URL("..", import.meta.url).pathname;
  const file = join(work, "worker-startup.cpuprofile");
  await run(process.execPath, [join(root, "node_modules/wrangler/bin/wrangler.js"), "check", "startup", "--outfile", file], {
    cwd: root,
    env: { ...process.env, WRANGLER_SEND_METRICS: "false", NO_COLOR: "1" },
  });
  const prof = JSON.parse(readFileSync(file, "utf8")) as { nodes: { id: number; callFrame: { functionName: string } }[]; samples: number[]; timeDeltas: number[]; startTime: number; endTime: number };
  const idle = new Set(prof.nodes.filter((n) => n.callFrame.functionName === "(idle)").map((n) => n.id));
  let busy = 0;
  prof.samples.forEach((id, i) => {
    if (!idle.has(id)) busy += prof.timeDeltas[i] ?? 0;
  });
  return { spanMs: (prof.endTime - prof.startTime) / 1000, busyMs: busy / 1000 };
}

/** The pushed layer's size as the registry stores it (docker re-compresses, so it differs from the local one). */
async function storedLayerSize(reg: Registry, repo: string, tag: string): Promise<{ size: number; digest: string; config: string }> {
  const r = await request("GET", `${reg.url}/v2/${repo}/manifests/${tag}`, {
    headers: { Accept: "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json" },
  });
  if (r.status !== 200) throw new Error(`GET manifest ${repo}:${tag} on ${reg.name}: ${r.status}`);
  const m = JSON.parse(r.body.toString());
  return { size: m.layers[0].size, digest: m.layers[0].digest, config: m.config.digest };
}

/** Unlinks the image's blobs from `repo`, so later rounds (other repos) cannot mount them and must upload again. */
async function forget(reg: Registry, repo: string, digests: string[]): Promise<void> {
  for (const d of digests) {
    const status = await deleteBlob(reg.url, repo, d);
    if (status !== 202) throw new Error(`DELETE blob ${d} in ${repo} on ${reg.name}: ${status}; later rounds could mount it instead of uploading`);
  }
}

function roundsFor(opts: Options, sizeMiB: number): number {
  // The biggest layers take most of the time; one round fewer for them keeps a full run within minutes.
  return sizeMiB >= 256 ? Math.max(1, opts.rounds - 1) : opts.rounds;
}

async function skopeoSection(opts: Options, regs: [Registry, Registry], images: Map<number, OciImage>, res: Results, work: string) {
  for (const size of opts.sizesMiB) {
    const img = images.get(size)!;
    for (let round = 0; round < roundsFor(opts, size); round++) {
      for (const reg of orderFor(round, regs)) {
        const repo = `bench/skopeo-${size}m-r${round}`;
        const ref = `${reg.host}/${repo}:v1`;
        await attempt(`skopeo ${size} MiB ${reg.name}`, async () => {
          const recs: TransferRecord[] = []; // kept only if the whole attempt succeeds
          const push = await withCpu(reg, res.idle, () => skopeoPush(img.dir, img.tag, ref));
          if (push.pidChanged) throw new Error("Skiff's runtime restarted during the push");
          const bytes = img.layers[0].size;
          recs.push({ kind: "skopeo", op: "push", sizeMiB: size, registry: reg.name, round, bytes, ms: push.ms, mbps: mbps(bytes, push.ms), cpu: push.cpu });
          const pull = await withCpu(reg, res.idle, () => skopeoPull(ref, join(work, "pulled")));
          recs.push({ kind: "skopeo", op: "pull", sizeMiB: size, registry: reg.name, round, bytes, ms: pull.ms, mbps: mbps(bytes, pull.ms), cpu: pull.cpu });
          await forget(reg, repo, img.blobs.map((b) => b.digest));
          res.transfers.push(...recs);
        }, res.notes);
        log(`skopeo ${size} MiB ${reg.name} r${round}: push ${last(res, "skopeo", "push")} MB/s, pull ${last(res, "skopeo", "pull")} MB/s`);
      }
    }
  }
}

const last = (res: Results, kind: string, op: string) => res.transfers.filter((t) => t.kind === kind && t.op === op).at(-1)?.mbps.toFixed(0);

async function dockerSection(opts: Options, regs: [Registry, Registry], images: Map<number, OciImage>, res: Results, work: string) {
  const engine = await startDockerd();
  try {
    for (const size of opts.sizesMiB) {
      const img = images.get(size)!;
      let local = `bench/local-${size}m:v1`;
      await dockerLoad(engine, img.dir, img.tag, local);
      for (let round = 0; round < roundsFor(opts, size); round++) {
        for (const reg of orderFor(round, regs)) {
          const repo = `bench/docker-${size}m-r${round}`;
          const ref = `${reg.host}/${repo}:v1`;
          await attempt(`docker ${size} MiB ${reg.name}`, async () => {
            const recs: TransferRecord[] = []; // kept only if the whole attempt succeeds
            await engine.docker(["tag", local, ref]);
            const push = await withCpu(reg, res.idle, () => dockerPush(engine, ref));
            if (push.pidChanged) throw new Error("Skiff's runtime restarted during the push");
            const stored = await storedLayerSize(reg, repo, "v1");
            recs.push({ kind: "docker", op: "push", sizeMiB: size, registry: reg.name, round, bytes: stored.size, ms: push.ms, mbps: mbps(stored.size, push.ms), cpu: push.cpu });
            await dockerRemoveImage(engine, ref);
            const pull = await withCpu(reg, res.idle, () => dockerPull(engine, ref));
            recs.push({ kind: "docker", op: "pull", sizeMiB: size, registry: reg.name, round, bytes: stored.size, ms: pull.ms, mbps: mbps(stored.size, pull.ms), cpu: pull.cpu });
            local = ref; // the pulled image is the source of the next push
            await forget(reg, repo, [stored.digest, stored.config]);
            res.transfers.push(...recs);
          }, res.notes);
          log(`docker ${size} MiB ${reg.name} r${round}: push ${last(res, "docker", "push")} MB/s, pull ${last(res, "docker", "pull")} MB/s`);
        }
      }
      await dockerRemoveImage(engine, local).catch(() => {});
    }
  } finally {
    await engine.stop();
  }
}

async function rawSection(opts: Options, regs: [Registry, Registry], res: Results) {
  const size = opts.rawSizeMiB * MiB;
  for (let round = 0; round < opts.rounds; round++) {
    for (const reg of orderFor(round, regs)) {
      const repo = `bench/raw-r${round}`;
      await attempt(`raw ${reg.name}`, async () => {
        const recs: TransferRecord[] = []; // kept only if the whole attempt succeeds
        const mono = new SyntheticBlob(size);
        mono.digest(); // hashed before the clock starts
        const put = await withCpu(reg, res.idle, () => pushMonolithic(reg.url, repo, mono));
        if (put.pidChanged) throw new Error("Skiff's runtime restarted during the upload");
        recs.push({ kind: "raw", op: "monolithic PUT", sizeMiB: opts.rawSizeMiB, registry: reg.name, round, bytes: size, ms: put.ms, mbps: mbps(size, put.ms), cpu: put.cpu });
        const chunked = new SyntheticBlob(size);
        const ch = await withCpu(reg, res.idle, () => pushChunked(reg.url, repo, chunked, opts.chunkMiB * MiB));
        if (ch.pidChanged) throw new Error("Skiff's runtime restarted during the upload");
        recs.push({ kind: "raw", op: `chunked PATCH ${opts.chunkMiB} MiB`, sizeMiB: opts.rawSizeMiB, registry: reg.name, round, bytes: size, ms: ch.ms, mbps: mbps(size, ch.ms), cpu: ch.cpu });
        const get = await withCpu(reg, res.idle, () => pullBlob(reg.url, repo, mono.digest()));
        if (get.value !== size) throw new Error(`GET returned ${get.value} bytes, expected ${size}`);
        recs.push({ kind: "raw", op: "blob GET", sizeMiB: opts.rawSizeMiB, registry: reg.name, round, bytes: size, ms: get.ms, mbps: mbps(size, get.ms), cpu: get.cpu });
        res.transfers.push(...recs);
      }, res.notes);
      log(`raw ${opts.rawSizeMiB} MiB ${reg.name} r${round}: PUT ${last(res, "raw", "monolithic PUT")}, chunked ${last(res, "raw", `chunked PATCH ${opts.chunkMiB} MiB`)}, GET ${last(res, "raw", "blob GET")} MB/s`);
    }
  }
}

async function requestSection(opts: Options, regs: [Registry, Registry], res: Results) {
  const seeded = new Map<string, Awaited<ReturnType<typeof seedImage>>>();
  for (const reg of regs) seeded.set(reg.name, await seedImage(reg.url, "bench/requests", "v1"));
  const cases = [
    { op: "manifest GET", method: "GET" as const, path: () => "manifests/v1", accept: true },
    { op: "manifest HEAD", method: "HEAD" as const, path: () => "manifests/v1", accept: true },
    { op: "blob HEAD", method: "HEAD" as const, path: (s: { layerDigest: string }) => `blobs/${s.layerDigest}`, accept: false },
  ];
  let round = 0;
  for (const c of cases) {
    for (const connections of [1, 32]) {
      for (const reg of orderFor(round++, regs)) {
        const s = seeded.get(reg.name)!;
        const r = await runLoad({
          url: `${reg.url}/v2/bench/requests/${c.path(s)}`,
          method: c.method,
          headers: c.accept ? { Accept: s.manifestMediaType } : {},
          connections,
          seconds: opts.seconds,
        });
        res.requests.push({ op: c.op, connections, registry: reg.name, ...r });
        log(`${c.op} c=${connections} ${reg.name}: ${r.rps.toFixed(0)} req/s, p50 ${r.p50ms.toFixed(2)} ms, p99 ${r.p99ms.toFixed(2)} ms${r.errors ? `, ${r.errors} errors` : ""}`);
      }
    }
  }
}

async function floorSection(opts: Options, work: string, res: Results) {
  const floor = await startFloorWorker(work);
  try {
    const size = opts.rawSizeMiB * MiB;
    const out: NonNullable<Results["floor"]> = [];
    const ops = [
      { op: "receive (JS reader, 4 KiB reads)", path: "/discard" },
      { op: "receive (BYOB readAtLeast 1 MiB)", path: "/discard-byob" },
      { op: "receive + SHA-256 (BYOB)", path: "/hash-byob" },
      { op: "R2 put (simulator)", path: "/put/x" },
      { op: "R2 multipart, 8 MiB parts, body read as Skiff reads it (simulator)", path: "/parts/y" },
      { op: "R2 get of a single-put object (simulator)", path: "/get/x" },
      { op: "R2 get of a multipart object (simulator)", path: "/get/y" },
    ];
    const once = async (path: string) => {
      const p = floor.processes();
      const b = [cpuMs(p.runtime), cpuMs(p.proxy)];
      const rss0 = rssBytes(p.runtime);
      resetPeakRss(p.runtime);
      const t0 = performance.now();
      if (path.startsWith("/get/")) {
        const n = await getDiscarding(floor.url + path);
        if (n !== size) throw new Error(`floor ${path}: ${n} bytes, expected ${size}`);
      } else {
        const r = await request("PUT", floor.url + path, { body: new SyntheticBlob(size).chunks(), length: size });
        if (r.status !== 200) throw new Error(`floor ${path}: ${r.status} ${r.body.toString().slice(0, 200)}`);
      }
      const ms = performance.now() - t0;
      const a = [cpuMs(p.runtime), cpuMs(p.proxy)];
      return { rt: (a[0] - b[0]) / (size / MiB), px: (a[1] - b[1]) / (size / MiB), mbps: mbps(size, ms), rss: peakRssBytes(p.runtime) - rss0 };
    };
    for (const { op, path } of ops) {
      const runs: Awaited<ReturnType<typeof once>>[] = [];
      try {
        for (let round = 0; round < Math.max(1, opts.rounds - 1); round++) runs.push(await once(path));
      } catch (err) {
        // The floor is context, not the subject: a failure here is reported, not fatal.
        res.notes.push(`floor ${op}: failed: ${(err as Error).message.split("\n")[0]}`);
        log(`floor ${op} failed: ${(err as Error).message.split("\n")[0]}`);
        continue;
      }
      const row = {
        op,
        runtimeMsPerMiB: median(runs.map((r) => r.rt)),
        proxyMsPerMiB: median(runs.map((r) => r.px)),
        mbps: median(runs.map((r) => r.mbps)),
        rssGrowth: Math.max(...runs.map((r) => r.rss)),
      };
      out.push(row);
      log(`floor ${op}: ${row.runtimeMsPerMiB.toFixed(2)} ms/MiB in the worker process, ${row.mbps.toFixed(0)} MB/s, RSS +${(row.rssGrowth / MiB).toFixed(1)} MiB`);
    }
    // Requests: a bare Worker reading one small object, at the same concurrency as the registries' request tests.
    const small = await request("PUT", `${floor.url}/put/small`, { body: Buffer.alloc(1024, 7) });
    if (small.status !== 200) throw new Error(`floor small put: ${small.status}`);
    for (const connections of [1, 32]) {
      const r = await runLoad({ url: `${floor.url}/get/small`, method: "GET", headers: {}, connections, seconds: opts.seconds });
      out.push({ op: `R2 get of a 1 KiB object, ${connections} client${connections > 1 ? "s" : ""} (requests)`, runtimeMsPerMiB: NaN, proxyMsPerMiB: NaN, mbps: NaN, rps: r.rps, p50ms: r.p50ms, p99ms: r.p99ms });
      log(`floor small GET c=${connections}: ${r.rps.toFixed(0)} req/s, p50 ${r.p50ms.toFixed(2)} ms, p99 ${r.p99ms.toFixed(2)} ms`);
    }
    res.floor = out;
  } finally {
    await floor.stop();
  }
}

// ---- main ----

/** The s3 run (bench/s3.ts): results/<time>/s3-results.json, s3.md; with --save-latest also bench/latest/s3.md. */
async function mainS3(opts: Options): Promise<string> {
  const argv = process.argv.slice(2);
  const given = (name: string) => argv.some((a) => a === name || a.startsWith(`${name}=`));
  const s3opts = { ...s3Defaults(opts.quick), out: opts.out, skip: opts.skipS3 };
  if (given("--rounds")) s3opts.rounds = opts.rounds;
  if (given("--seconds")) s3opts.seconds = opts.seconds;
  const list = (name: string) => {
    const i = argv.findIndex((a) => a === name || a.startsWith(`${name}=`));
    return (argv[i].includes("=") ? argv[i].split("=")[1] : argv[i + 1]).split(",").map(Number);
  };
  if (given("--sizes")) s3opts.skopeoSizesMiB = list("--sizes");
  if (given("--docker-sizes")) s3opts.dockerSizesMiB = list("--docker-sizes");
  if (given("--raw-size")) s3opts.monoSizeMiB = opts.rawSizeMiB;
  if (given("--chunked-sizes")) s3opts.chunkedSizesMiB = list("--chunked-sizes");
  let res: S3Results | undefined;
  try {
    res = await s3Run(s3opts);
  } finally {
    if (res) writeFileSync(join(opts.out, "s3-results.json"), JSON.stringify(res, null, 2) + "\n");
  }
  const markdown = s3Report(res);
  writeFileSync(join(opts.out, "s3.md"), markdown);
  if (opts.saveLatest) {
    const latest = join(new URL(".", import.meta.url).pathname, "latest");
    mkdirSync(latest, { recursive: true });
    copyFileSync(join(opts.out, "s3.md"), join(latest, "s3.md"));
    copyFileSync(join(opts.out, "s3-results.json"), join(latest, "s3-results.json"));
    log(`copied the s3 summary to ${latest}/s3.md`);
  }
  return markdown;
}

async function main() {
  const opts = parseOptions(process.argv.slice(2));
  mkdirSync(opts.out, { recursive: true });
  // The S3 run first: its table leads the summary.
  const s3Markdown = opts.backends.has("s3") ? await mainS3(opts) : "";
  if (!opts.backends.has("r2")) {
    writeFileSync(join(opts.out, "summary.md"), s3Markdown);
    console.log(s3Markdown);
    log(`results in ${opts.out}`);
    return;
  }
  const work = mkdtempSync(join(tmpdir(), "skiff-bench-"));
  const res: Results = {
    meta: {
      date: new Date().toISOString(),
      quick: opts.quick,
      rounds: opts.rounds,
      sizesMiB: opts.sizesMiB,
      rawSizeMiB: opts.rawSizeMiB,
      requestSeconds: opts.seconds,
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model,
      loadAverageAtStart: loadavg(),
      node: process.version,
    },
    startup: {},
    transfers: [],
    requests: [],
    notes: [],
  };
  const t0 = performance.now();
  let skiff: SkiffRegistry | undefined;
  let dist: Registry | undefined;
  const cleanup = async () => {
    await Promise.allSettled([skiff?.stop(), dist?.stop()]);
  };
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.once(sig, () => void cleanup().then(() => process.exit(130)));
  try {
    if (!opts.skip.has("bundle")) {
      res.bundle = await bundleSize(work);
      log(`bundle: ${(res.bundle.gzipBytes / 1024).toFixed(1)} KiB gzipped (${res.bundle.wranglerSays ?? "?"})`);
      res.startup.workerStartupProfile = await startupProfile(work).catch((err) => {
        res.notes.push(`wrangler check startup failed: ${(err as Error).message.split("\n")[0]}`);
        return undefined;
      });
    }
    process.env.CLOUDFLARE_CF_FETCH_ENABLED ??= "false"; // offline: skip Miniflare's fetch of the Request.cf data
    const sideBySide = ["raw", "requests", "skopeo", "docker"].some((x) => !opts.skip.has(x));
    if (sideBySide) {
      [skiff, dist] = await Promise.all([startSkiff(opts.out), startDistribution(work)]); // Skiff's log lands next to the results
      res.startup.skiffMs = skiff.startupMs;
      res.startup.distributionMs = dist.startupMs;
      log(`started: Skiff in ${skiff.startupMs.toFixed(0)} ms (${skiff.url}), distribution in ${dist.startupMs.toFixed(0)} ms (${dist.url})`);
      res.idle = await measureIdle(skiff);
      const regs: [Registry, Registry] = [skiff, dist];

      const needImages = !opts.skip.has("skopeo") || !opts.skip.has("docker");
      const images = new Map<number, OciImage>();
      if (needImages) {
        for (const size of opts.sizesMiB) images.set(size, await makeOciLayout(join(work, `image-${size}m`), { layerSizes: [size * MiB], tag: "bench" }));
        log(`made ${images.size} test images (one gzip layer of random bytes each)`);
      }

      if (!opts.skip.has("raw")) await rawSection(opts, regs, res);
      if (!opts.skip.has("requests")) await requestSection(opts, regs, res);
      if (!opts.skip.has("skopeo")) await skopeoSection(opts, regs, images, res, work);
      if (!opts.skip.has("docker")) await dockerSection(opts, regs, images, res, work);
      await cleanup();
      skiff = undefined;
      dist = undefined;
    }
    if (!opts.skip.has("floor")) await floorSection(opts, work, res);
    if (!opts.skip.has("big-push")) res.bigPush = await bigPushSection({ rounds: opts.rounds, sizesMiB: opts.bigSizesMiB, out: work, skipDocker: opts.skipBigPushDocker });
    if (!opts.skip.has("gc")) {
      res.gc = await gcSection({ ...GC_BENCH_DEFAULTS, out: work });
      // Its own file in bench/latest (committed), whatever else ran: the gc figures are read on their own.
      saveGcReport(res.gc, join(new URL(".", import.meta.url).pathname, "latest"));
    }
  } finally {
    await cleanup();
    res.meta.seconds = (performance.now() - t0) / 1000;
    res.meta.loadAverageAtEnd = loadavg();
    writeFileSync(join(opts.out, "results.json"), JSON.stringify(res, null, 2) + "\n");
    rmSync(work, { recursive: true, force: true });
  }
  const { markdown: sideBySideMarkdown, svg } = report(res);
  let markdown = res.bigPush ? `${sideBySideMarkdown}\n${bigPushReport(res.bigPush)}` : sideBySideMarkdown;
  if (res.gc) markdown += `\n${gcReport(res.gc)}`;
  writeFileSync(join(opts.out, "r2.md"), markdown);
  writeFileSync(join(opts.out, "summary.md"), s3Markdown ? `${s3Markdown}\n${markdown}` : markdown);
  writeFileSync(join(opts.out, "throughput.svg"), svg);
  console.log(s3Markdown ? `${s3Markdown}\n${markdown}` : markdown);
  log(`results in ${opts.out} (${res.meta.seconds} s)`);
  if (opts.saveLatest) {
    const latest = join(new URL(".", import.meta.url).pathname, "latest");
    mkdirSync(latest, { recursive: true });
    // summary.md in bench/latest stays the r2 run's (bench/latest/s3.md has the s3 one).
    copyFileSync(join(opts.out, "r2.md"), join(latest, "summary.md"));
    for (const f of ["results.json", "throughput.svg"]) copyFileSync(join(opts.out, f), join(latest, f));
    log(`copied to ${latest}`);
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
