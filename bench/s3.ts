// `npm run bench -- --backend s3`: the production-shaped bench. Skiff on its S3 backend (`npm run start:s3`, open
// auth) and distribution 2.8.2 on its S3 driver (redirects on) on the SAME local Ceph RGW, both over https,
// alternating which goes first each round; medians and the ratio Skiff / distribution. A counting proxy sits in
// front of RGW (bench/lib/counting-proxy.ts), so every row also says how many storage requests it cost, by method
// and by sender (the registry, or a client following a presigned redirect). Sections:
//   requests   manifest GET/HEAD by tag, GET by digest, blob HEAD, blob GET redirect: storage requests per operation
//              (the first request, then the mean of the next ones), and req/s + p50/p99 at 1 and 32 clients
//   layers     skopeo push of an image of N small layers (N = 1, 5, 20): storage requests grow O(N)
//   raw        from Node: POST + one PUT ?digest= (256 MiB); 16 MiB Content-Range PATCHes + PUT ?digest= (64 MiB,
//              1 GiB), the final PUT's own time apart
//   skopeo     push and pull of a single-layer image (256 MiB, 1 GiB)
//   docker     push and pull (256 MiB)
// CPU per MiB of each registry process (Skiff: the runtime workerd that runs the Worker; distribution: its process)
// and of the storage server (radosgw + ceph-osd), from /proc, idle rates subtracted. The bucket is emptied (straight
// to RGW, not counted) between transfers, and every round pushes a fresh image, so nothing is skipped or mounted.
import { mkdtempSync, rmSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { cpuMs as procCpuMs, sleep } from "../scripts/lib/processes";
import { startDockerd, type DockerEngine } from "../test/support/docker";
import { makeOciLayout, type OciImage } from "../test/support/oci-layout";
import { dockerLoad, dockerPull, dockerPush, dockerRemoveImage, skopeoPull, skopeoPush } from "./lib/clients";
import { diffCounts, emptyCounts, scaleCounts, STORAGE_METHODS, totalOf, type StorageCounts } from "./lib/counting-proxy";
import { SyntheticBlob, getBlobFollowing, pushChunked, pushMonolithic, request, seedImage } from "./lib/http";
import { runLoad } from "./lib/load";
import { startS3Stack, type S3Stack } from "./lib/s3-stack";
import type { Registry, Transfer } from "./lib/servers";
import { MiB, mbps, median } from "./lib/stats";

export const S3_SECTIONS = ["requests", "layers", "raw", "skopeo", "docker"] as const;

export interface S3Options {
  quick: boolean;
  rounds: number;
  seconds: number;
  skip: Set<string>;
  out: string;
  skopeoSizesMiB: number[];
  dockerSizesMiB: number[];
  monoSizeMiB: number;
  chunkedSizesMiB: number[];
  chunkMiB: number;
  layerCounts: number[];
}

export function s3Defaults(quick: boolean): Omit<S3Options, "out" | "skip"> {
  return quick
    ? { quick, rounds: 1, seconds: 1, skopeoSizesMiB: [16], dockerSizesMiB: [16], monoSizeMiB: 16, chunkedSizesMiB: [48], chunkMiB: 16, layerCounts: [1, 5, 20] }
    : { quick, rounds: 3, seconds: 5, skopeoSizesMiB: [256, 1024], dockerSizesMiB: [256], monoSizeMiB: 256, chunkedSizesMiB: [64, 1024], chunkMiB: 16, layerCounts: [1, 5, 20] };
}

/** CPU ms during one operation, idle rates subtracted. */
export interface S3Cpu {
  registryMs: number;
  rgwMs: number;
  osdMs: number;
}

export interface S3Transfer extends Transfer {
  /** Chunked uploads: the final PUT ?digest= alone. */
  finalPutMs?: number;
  cpu: S3Cpu;
  storage: StorageCounts;
}

export interface S3OpCount {
  op: string;
  registry: Registry["name"];
  /** The first request of its kind after the image was pushed (cold caches). */
  first: StorageCounts;
  /** Mean over `n` further requests (warm caches, if a registry has any). */
  steady: StorageCounts;
  n: number;
}

export interface S3RequestRecord {
  op: string;
  connections: number;
  registry: Registry["name"];
  rps: number;
  p50ms: number;
  p99ms: number;
  errors: number;
  warmupErrors: number;
  requests: number;
  /** Storage requests per request during the load (all senders). */
  storagePerRequest: number;
}

export interface S3LayerCount {
  layers: number;
  registry: Registry["name"];
  push: StorageCounts;
  pull: StorageCounts;
}

export interface S3Results {
  meta: Record<string, unknown>;
  idle?: { registry: Record<string, number>; rgwMsPerSec: number; osdMsPerSec: number };
  transfers: S3Transfer[];
  opCounts: S3OpCount[];
  requests: S3Request[];
  layers: S3LayerCount[];
  notes: string[];
}
type S3Request = S3RequestRecord;

const log = (...a: unknown[]) => console.error(`[bench s3 ${new Date().toISOString().slice(11, 19)}]`, ...a);
const orderFor = <T>(round: number, pair: [T, T]): [T, T] => (round % 2 === 0 ? pair : [pair[1], pair[0]]);

/** Registry process CPU now (Skiff: the runtime workerd, re-resolved: wrangler may restart it). */
function registryCpu(stack: S3Stack, reg: Registry): number {
  const pid = reg.name === "skiff" ? stack.skiff.processes().runtime : reg.mainPid();
  return procCpuMs(pid) ?? NaN;
}

/** Waits until the proxy has no request in flight (a client may close before the registry's last call ends). */
async function settle(stack: S3Stack): Promise<void> {
  for (let i = 0; i < 100 && stack.proxy!.inFlight() > 0; i++) await sleep(20);
}

/** Runs `fn` and returns its time, CPU (idle subtracted) and storage requests. */
async function measured<T>(stack: S3Stack, reg: Registry, res: S3Results, fn: () => Promise<T>): Promise<{ value: T; ms: number; cpu: S3Cpu; storage: StorageCounts }> {
  await settle(stack);
  const c0 = stack.proxy!.snapshot();
  const r0 = registryCpu(stack, reg);
  const s0 = stack.storageCpu();
  const t0 = performance.now();
  const value = await fn();
  const ms = performance.now() - t0;
  await settle(stack);
  const r1 = registryCpu(stack, reg);
  const s1 = stack.storageCpu();
  const secs = ms / 1000;
  const idle = res.idle;
  return {
    value,
    ms,
    cpu: {
      registryMs: r1 - r0 - (idle?.registry[reg.name] ?? 0) * secs,
      rgwMs: s1.rgwMs - s0.rgwMs - (idle?.rgwMsPerSec ?? 0) * secs,
      osdMs: s1.osdMs - s0.osdMs - (idle?.osdMsPerSec ?? 0) * secs,
    },
    storage: diffCounts(c0, stack.proxy!.snapshot()),
  };
}

async function measureIdle(stack: S3Stack, seconds = 3): Promise<NonNullable<S3Results["idle"]>> {
  const regs = [stack.skiff, stack.dist];
  const r0 = regs.map((r) => registryCpu(stack, r));
  const s0 = stack.storageCpu();
  await sleep(seconds * 1000);
  const r1 = regs.map((r) => registryCpu(stack, r));
  const s1 = stack.storageCpu();
  return {
    registry: Object.fromEntries(regs.map((r, i) => [r.name, (r1[i] - r0[i]) / seconds])),
    rgwMsPerSec: (s1.rgwMs - s0.rgwMs) / seconds,
    osdMsPerSec: (s1.osdMs - s0.osdMs) / seconds,
  };
}

/**
 * A measurement, tried up to 3 times (a keep-alive connection closed by the server as a request went out ends in
 * "socket hang up"); one that fails 3 times is reported in the notes and the run goes on. `fn` records its results
 * only once it has succeeded.
 */
async function attempt(what: string, res: S3Results, fn: () => Promise<void>): Promise<void> {
  for (let i = 1; ; i++) {
    try {
      return await fn();
    } catch (err) {
      const msg = (err as Error).message.replace(/\s+/g, " ").slice(0, 500);
      if (i >= 3) {
        res.notes.push(`${what}: FAILED 3 times, not measured: ${msg}`);
        log(`${what} failed 3 times: ${msg}`);
        return;
      }
      res.notes.push(`${what}: retried after: ${msg}`);
      log(`${what} failed, retrying: ${msg}`);
      await sleep(2000);
    }
  }
}

const roundsFor = (opts: S3Options, sizeMiB: number) => (sizeMiB >= 1024 ? Math.max(1, opts.rounds - 1) : opts.rounds);

// ---- sections ----

async function requestSection(opts: S3Options, stack: S3Stack, res: S3Results) {
  const regs: [Registry, Registry] = [stack.skiff, stack.dist];
  await stack.wipe();
  const seeded = new Map<string, Awaited<ReturnType<typeof seedImage>>>();
  for (const reg of regs) seeded.set(reg.name, await seedImage(reg.url, "bench/requests", "v1"));
  type Seed = Awaited<ReturnType<typeof seedImage>>;
  const cases: { op: string; method: "GET" | "HEAD"; path: (s: Seed) => string; accept: boolean; load: boolean }[] = [
    { op: "manifest GET by tag", method: "GET", path: () => "manifests/v1", accept: true, load: true },
    { op: "manifest HEAD by tag", method: "HEAD", path: () => "manifests/v1", accept: true, load: true },
    { op: "manifest GET by digest", method: "GET", path: (s) => `manifests/${s.manifestDigest}`, accept: true, load: true },
    { op: "blob HEAD", method: "HEAD", path: (s) => `blobs/${s.layerDigest}`, accept: false, load: true },
    { op: "blob GET (redirect followed)", method: "GET", path: (s) => `blobs/${s.layerDigest}`, accept: false, load: false },
  ];
  const N = 20;
  // Storage requests per operation, one request at a time.
  for (const c of cases) {
    for (const reg of regs) {
      await attempt(`count ${c.op} ${reg.name}`, res, async () => {
        const s = seeded.get(reg.name)!;
        const url = `${reg.url}/v2/bench/requests/${c.path(s)}`;
        const one = async () => {
          if (c.op.startsWith("blob GET")) {
            const r = await getBlobFollowing(reg.url, "bench/requests", s.layerDigest);
            if (r.bytes !== 4096) throw new Error(`blob GET: ${r.bytes} bytes`);
            return;
          }
          const r = await request(c.method, url, { headers: c.accept ? { Accept: s.manifestMediaType } : {} });
          // distribution redirects blob HEADs to a presigned HEAD on the storage too: followed, as clients do.
          if (r.status === 307 && c.method === "HEAD" && typeof r.headers.location === "string") {
            const f = await request("HEAD", new URL(r.headers.location, url).href);
            if (f.status !== 200) throw new Error(`HEAD ${r.headers.location} (redirected): ${f.status}`);
            return;
          }
          if (r.status !== 200) throw new Error(`${c.method} ${url}: ${r.status}`);
        };
        const first = await measured(stack, reg, res, one);
        const steady = await measured(stack, reg, res, async () => {
          for (let i = 0; i < N; i++) await one();
        });
        res.opCounts.push({ op: c.op, registry: reg.name, first: first.storage, steady: scaleCounts(steady.storage, N), n: N });
        log(`${c.op} ${reg.name}: storage requests first ${totalOf(first.storage)}, then ${(totalOf(steady.storage) / N).toFixed(2)} each`);
      });
    }
  }
  // Request rates.
  let round = 0;
  for (const c of cases.filter((x) => x.load)) {
    for (const connections of [1, 32]) {
      for (const reg of orderFor(round++, regs)) {
        await attempt(`load ${c.op} c=${connections} ${reg.name}`, res, async () => {
          const s = seeded.get(reg.name)!;
          const m = await measured(stack, reg, res, () =>
            runLoad({ url: `${reg.url}/v2/bench/requests/${c.path(s)}`, method: c.method, headers: c.accept ? { Accept: s.manifestMediaType } : {}, connections, seconds: opts.seconds, okStatuses: [200, 307] }),
          );
          const r = m.value;
          // runLoad's warm-up opens `connections` requests more than it records.
          const storagePerRequest = totalOf(m.storage) / Math.max(1, r.requests + r.errors + connections);
          res.requests.push({ op: c.op, connections, registry: reg.name, ...r, storagePerRequest });
          log(`${c.op} c=${connections} ${reg.name}: ${r.rps.toFixed(0)} req/s, p50 ${r.p50ms.toFixed(2)} ms, p99 ${r.p99ms.toFixed(2)} ms, ${storagePerRequest.toFixed(2)} storage req each${r.errors ? `, ${r.errors} errors` : ""}${r.warmupErrors ? `, ${r.warmupErrors} warm-up requests failed` : ""}`);
        });
      }
    }
  }
}

async function layersSection(opts: S3Options, stack: S3Stack, res: S3Results, work: string) {
  for (const n of opts.layerCounts) {
    for (const reg of orderFor(n, [stack.skiff, stack.dist] as [Registry, Registry])) {
      await attempt(`${n}-layer push ${reg.name}`, res, async () => {
        // A fresh image per registry: no blob is known anywhere, so nothing is skipped or mounted.
        const img = await makeOciLayout(join(work, `layers-${n}-${reg.name}`), { layerSizes: Array.from({ length: n }, () => 16 * 1024), tag: "bench" });
        try {
          await stack.wipe();
          const ref = `${reg.host}/bench/layers-${n}:v1`;
          const push = await measured(stack, reg, res, () => skopeoPush(img.dir, img.tag, ref));
          const pull = await measured(stack, reg, res, () => skopeoPull(ref, join(work, "pulled")));
          res.layers.push({ layers: n, registry: reg.name, push: push.storage, pull: pull.storage });
          log(`${n}-layer push ${reg.name}: ${totalOf(push.storage)} storage requests; pull ${totalOf(pull.storage)}`);
        } finally {
          rmSync(img.dir, { recursive: true, force: true });
        }
      });
    }
  }
}

async function rawSection(opts: S3Options, stack: S3Stack, res: S3Results) {
  const regs: [Registry, Registry] = [stack.skiff, stack.dist];
  const jobs: { op: string; sizeMiB: number }[] = [{ op: "one-request PUT", sizeMiB: opts.monoSizeMiB }, ...opts.chunkedSizesMiB.map((sizeMiB) => ({ op: `chunked PATCH ${opts.chunkMiB} MiB`, sizeMiB }))];
  for (const job of jobs) {
    for (let round = 0; round < roundsFor(opts, job.sizeMiB); round++) {
      for (const reg of orderFor(round, regs)) {
        await attempt(`${job.op} ${job.sizeMiB} MiB ${reg.name} r${round}`, res, async () => {
          await stack.wipe();
          const size = job.sizeMiB * MiB;
          const blob = new SyntheticBlob(size); // its own first bytes: a digest no registry has seen
          blob.digest(); // hashed before the clock starts
          const repo = `bench/raw-r${round}`;
          const m = await measured(stack, reg, res, () =>
            job.op === "one-request PUT" ? pushMonolithic(reg.url, repo, blob).then(() => undefined) : pushChunked(reg.url, repo, blob, opts.chunkMiB * MiB),
          );
          const rec: S3Transfer = { kind: "raw", op: job.op, sizeMiB: job.sizeMiB, registry: reg.name, round, bytes: size, ms: m.ms, mbps: mbps(size, m.ms), cpu: m.cpu, storage: m.storage };
          if (m.value) rec.finalPutMs = m.value.finalPutMs;
          res.transfers.push(rec);
          log(`${job.op} ${job.sizeMiB} MiB ${reg.name} r${round}: ${rec.mbps.toFixed(0)} MB/s${rec.finalPutMs !== undefined ? `, final PUT ${(rec.finalPutMs / 1000).toFixed(2)} s` : ""}, ${totalOf(m.storage)} storage requests`);
        });
      }
    }
  }
}

async function clientSection(kind: "skopeo" | "docker", opts: S3Options, stack: S3Stack, res: S3Results, work: string, engine?: DockerEngine) {
  const regs: [Registry, Registry] = [stack.skiff, stack.dist];
  for (const size of kind === "skopeo" ? opts.skopeoSizesMiB : opts.dockerSizesMiB) {
    for (let round = 0; round < roundsFor(opts, size); round++) {
      // A fresh image per round (both registries push the same one): neither the client's own memory of where a blob
      // was seen (containers/image's blob-info cache, docker's v2 metadata) nor a registry can skip or mount it.
      let img: OciImage | undefined = await makeOciLayout(join(work, `${kind}-${size}m-r${round}`), { layerSizes: [size * MiB], tag: "bench" });
      // docker: the image to push next (the one loaded, then the one just pulled: removing an image removes all its tags).
      let local = `bench/${kind}-${size}m-r${round}:v1`;
      try {
        if (engine) {
          await dockerLoad(engine, img.dir, img.tag, local);
          rmSync(img.dir, { recursive: true, force: true });
          img = undefined;
        }
        for (const reg of orderFor(round, regs)) {
          await attempt(`${kind} ${size} MiB ${reg.name} r${round}`, res, async () => {
            await stack.wipe();
            const ref = `${reg.host}/bench/${kind}-${size}m-r${round}:v1`;
            let bytes = img?.layers[0].size ?? 0;
            const push = await measured(stack, reg, res, async () => {
              if (kind === "skopeo") return skopeoPush(img!.dir, img!.tag, ref);
              await engine!.docker(["tag", local, ref]);
              return dockerPush(engine!, ref);
            });
            if (engine) {
              // docker re-compresses the layer: what was stored is what counts.
              bytes = await storedLayerSize(reg, `bench/${kind}-${size}m-r${round}`);
              await dockerRemoveImage(engine, ref);
            }
            const pull = await measured(stack, reg, res, () => (engine ? dockerPull(engine, ref) : skopeoPull(ref, join(work, "pulled"))));
            if (engine) local = ref;
            const recs: S3Transfer[] = [
              { kind, op: "push", sizeMiB: size, registry: reg.name, round, bytes, ms: push.ms, mbps: mbps(bytes, push.ms), cpu: push.cpu, storage: push.storage },
              { kind, op: "pull", sizeMiB: size, registry: reg.name, round, bytes, ms: pull.ms, mbps: mbps(bytes, pull.ms), cpu: pull.cpu, storage: pull.storage },
            ];
            res.transfers.push(...recs);
            log(`${kind} ${size} MiB ${reg.name} r${round}: push ${recs[0].mbps.toFixed(0)} MB/s (${totalOf(push.storage)} storage req), pull ${recs[1].mbps.toFixed(0)} MB/s (${totalOf(pull.storage)} storage req)`);
          });
        }
      } finally {
        if (img) rmSync(img.dir, { recursive: true, force: true });
        if (engine) await dockerRemoveImage(engine, local).catch(() => {});
      }
    }
  }
}

async function storedLayerSize(reg: Registry, repo: string): Promise<number> {
  const r = await request("GET", `${reg.url}/v2/${repo}/manifests/v1`, {
    headers: { Accept: "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json" },
  });
  if (r.status !== 200) throw new Error(`GET manifest ${repo}:v1 on ${reg.name}: ${r.status}`);
  return JSON.parse(r.body.toString()).layers[0].size;
}

// ---- the run ----

export async function s3Run(opts: S3Options): Promise<S3Results> {
  const res: S3Results = {
    meta: {
      backend: "s3",
      date: new Date().toISOString(),
      quick: opts.quick,
      rounds: opts.rounds,
      options: { ...opts, skip: [...opts.skip] },
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model,
      loadAverageAtStart: loadavg(),
      node: process.version,
    },
    transfers: [],
    opCounts: [],
    requests: [],
    layers: [],
    notes: [],
  };
  const t0 = performance.now();
  const work = mkdtempSync(join(tmpdir(), "skiff-bench-s3-"));
  let stack: S3Stack | undefined;
  let engine: DockerEngine | undefined;
  // Ctrl-C or a kill: stop RGW, wrangler, distribution and dockerd rather than leave them running.
  const onSignal = () => void Promise.allSettled([engine?.stop(), stack?.stop()]).then(() => process.exit(130));
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.once(sig, onSignal);
  try {
    process.env.CLOUDFLARE_CF_FETCH_ENABLED ??= "false"; // offline: skip Miniflare's fetch of the Request.cf data
    stack = await startS3Stack({ out: opts.out, work, countingProxy: true });
    res.meta.startupMs = { skiff: stack.skiff.startupMs, distribution: stack.dist.startupMs };
    log(`Skiff (S3) ${stack.skiff.url}, distribution (S3) ${stack.dist.url}, RGW ${stack.s3.endpoint} behind the counting proxy ${stack.endpoint}`);
    res.idle = await measureIdle(stack);
    if (!opts.skip.has("requests")) await requestSection(opts, stack, res);
    if (!opts.skip.has("layers")) await layersSection(opts, stack, res, work);
    if (!opts.skip.has("raw")) await rawSection(opts, stack, res);
    if (!opts.skip.has("skopeo")) await clientSection("skopeo", opts, stack, res, work);
    if (!opts.skip.has("docker")) {
      engine = await startDockerd();
      await clientSection("docker", opts, stack, res, work, engine);
    }
  } finally {
    for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.off(sig, onSignal);
    await engine?.stop().catch(() => {});
    await stack?.stop();
    rmSync(work, { recursive: true, force: true });
    res.meta.seconds = (performance.now() - t0) / 1000;
    res.meta.loadAverageAtEnd = loadavg();
  }
  return res;
}

// ---- report ----

const f0 = (v: number) => (Number.isFinite(v) ? v.toFixed(0) : "–");
const f1 = (v: number) => (Number.isFinite(v) ? v.toFixed(1) : "–");
const f2 = (v: number) => (Number.isFinite(v) ? v.toFixed(2) : "–");
const sizeLabel = (mib: number) => (mib >= 1024 ? `${mib / 1024} GiB` : `${mib} MiB`);
const num = (v: number) => (Number.isInteger(v) ? String(v) : v.toFixed(2));

/** "12 (GET 3, PUT 9) + client 1 GET" style cell: registry-sent by method, then presigned follows. */
function countCell(c: StorageCounts): string {
  const part = (who: "registry" | "client") =>
    STORAGE_METHODS.filter((m) => c[who][m])
      .map((m) => `${m} ${num(c[who][m])}`)
      .join(", ");
  const reg = totalOf(c, "registry");
  const cli = totalOf(c, "client");
  return `**${num(reg + cli)}**: registry ${num(reg)}${reg ? ` (${part("registry")})` : ""}${cli ? `; client ${num(cli)} (${part("client")})` : ""}`;
}

/** Median counts of several rounds (field by field). */
function medianCounts(cs: StorageCounts[]): StorageCounts {
  const out = emptyCounts();
  if (!cs.length) return out;
  for (const who of ["registry", "client"] as const) for (const m of STORAGE_METHODS) out[who][m] = median(cs.map((c) => c[who][m]));
  return out;
}

export function s3Report(res: S3Results): string {
  const L: string[] = [];
  const t = res.transfers;
  const sel = (kind: string, op: string, size: number, reg: string) => t.filter((r) => r.kind === kind && r.op === op && r.sizeMiB === size && r.registry === reg);
  const rows = [...new Map(t.map((r) => [`${r.kind}|${r.op}|${r.sizeMiB}`, r])).values()];
  const label = (r: { kind: string; op: string }) => (r.kind === "raw" ? `Node ${r.op}` : `${r.kind} ${r.op}`);
  L.push(`## On S3: Skiff (S3 backend) vs distribution 2.8.2 (S3 driver, redirects on), same local Ceph RGW: ${res.meta.quick ? "quick run" : "full run"}, ${res.meta.date}`);
  L.push("");
  L.push(`${res.meta.cpus} × ${res.meta.cpuModel}, Node ${res.meta.node}; load average at start ${(res.meta.loadAverageAtStart as number[]).map(f2).join(" ")}, at end ${((res.meta.loadAverageAtEnd as number[]) ?? []).map(f2).join(" ")}; run took ${f0(res.meta.seconds as number)} s.`);
  L.push("Both registries on 127.0.0.1 over https (self-signed); Skiff under `wrangler dev` (open auth); Ceph RGW (bluestore) on plain http behind a counting proxy; medians of the rounds, alternating which registry goes first; MB = 10^6 bytes.");
  L.push("");
  L.push("### Throughput (MB/s)");
  L.push("");
  L.push("| what | size | rounds | Skiff | distribution | Skiff / dist | final PUT, Skiff | final PUT, dist |");
  L.push("|---|---|---|---|---|---|---|---|");
  for (const r of rows) {
    const s = sel(r.kind, r.op, r.sizeMiB, "skiff");
    const d = sel(r.kind, r.op, r.sizeMiB, "distribution");
    const ms = median(s.map((x) => x.mbps));
    const md = median(d.map((x) => x.mbps));
    const fp = (rs: S3Transfer[]) => (rs.some((x) => x.finalPutMs !== undefined) ? `${f2(median(rs.map((x) => x.finalPutMs ?? NaN)) / 1000)} s` : "");
    L.push(`| ${label(r)} | ${sizeLabel(r.sizeMiB)} | ${s.length}/${d.length} | ${f0(ms)} | ${f0(md)} | ${f2(ms / md)} | ${fp(s)} | ${fp(d)} |`);
  }
  L.push("");
  L.push("### CPU per MiB (ms): the registry's process and the storage server");
  L.push("");
  L.push("utime+stime from /proc around each operation, idle rates subtracted. Skiff: the runtime workerd that runs the Worker (on S3 no simulator shares it; wrangler's dev proxy workerd, TLS and forwarding, is not counted); distribution: its process. Storage: radosgw + ceph-osd. The counting proxy runs in the bench's own Node process and is not counted.");
  L.push("");
  L.push("| what | size | Skiff | distribution | storage (RGW + OSD) under Skiff | under dist |");
  L.push("|---|---|---|---|---|---|");
  for (const r of rows) {
    const per = (reg: string, f: (c: S3Cpu) => number) => median(sel(r.kind, r.op, r.sizeMiB, reg).map((x) => f(x.cpu) / (x.bytes / MiB)));
    L.push(
      `| ${label(r)} | ${sizeLabel(r.sizeMiB)} | ${f2(per("skiff", (c) => c.registryMs))} | ${f2(per("distribution", (c) => c.registryMs))} | ${f2(per("skiff", (c) => c.rgwMs + c.osdMs))} | ${f2(per("distribution", (c) => c.rgwMs + c.osdMs))} |`,
    );
  }
  L.push("");
  if (res.requests.length) {
    L.push("### Requests (Node keep-alive clients; req/s, latency in ms)");
    L.push("");
    L.push("A 307 counts as an answer (distribution redirects blob HEADs to the storage); the load test does not follow it, the per-operation counts below do.");
    L.push("");
    L.push("| request | clients | Skiff req/s | p50 | p99 | dist req/s | p50 | p99 | Skiff / dist | storage req per request, Skiff / dist |");
    L.push("|---|---|---|---|---|---|---|---|---|---|");
    for (const op of [...new Set(res.requests.map((r) => r.op))]) {
      for (const c of [1, 32]) {
        const s = res.requests.find((r) => r.op === op && r.connections === c && r.registry === "skiff");
        const d = res.requests.find((r) => r.op === op && r.connections === c && r.registry === "distribution");
        if (!s || !d) continue;
        const err =
          s.errors || d.errors || s.warmupErrors || d.warmupErrors
            ? ` (errors: Skiff ${s.errors}, dist ${d.errors}; in the warm-up: Skiff ${s.warmupErrors}, dist ${d.warmupErrors})`
            : "";
        L.push(`| ${op} | ${c} | ${f0(s.rps)} | ${f2(s.p50ms)} | ${f2(s.p99ms)} | ${f0(d.rps)} | ${f2(d.p50ms)} | ${f2(d.p99ms)} | ${f2(s.rps / d.rps)}${err} | ${f2(s.storagePerRequest)} / ${f2(d.storagePerRequest)} |`);
      }
    }
    L.push("");
  }
  L.push("### Storage requests per operation (counting proxy in front of RGW)");
  L.push("");
  L.push("By sender: *registry* = the registry's own S3 calls; *client* = a client following a presigned redirect. LIST = bucket listings (objects, uploads, parts). Transfers: medians of the rounds.");
  L.push("");
  L.push("| operation | Skiff | distribution | target (Skiff) |");
  L.push("|---|---|---|---|");
  const targets: Record<string, string> = {
    "manifest GET by tag": "≤ 1 read",
    "manifest GET by digest": "≤ 1 read",
    "blob HEAD": "≤ 1 read",
    "blob GET (redirect followed)": "≤ 2 (registry + the presigned GET)",
  };
  for (const op of [...new Set(res.opCounts.map((o) => o.op))]) {
    const s = res.opCounts.find((o) => o.op === op && o.registry === "skiff");
    const d = res.opCounts.find((o) => o.op === op && o.registry === "distribution");
    L.push(`| ${op}, first request | ${s ? countCell(s.first) : "–"} | ${d ? countCell(d.first) : "–"} | ${targets[op] ?? ""} |`);
    L.push(`| ${op}, mean of the next ${s?.n ?? d?.n ?? ""} | ${s ? countCell(s.steady) : "–"} | ${d ? countCell(d.steady) : "–"} | ${targets[op] ?? ""} |`);
  }
  for (const r of rows) {
    const cell = (reg: string) => {
      const rs = sel(r.kind, r.op, r.sizeMiB, reg);
      return rs.length ? countCell(medianCounts(rs.map((x) => x.storage))) : "–";
    };
    L.push(`| ${label(r)} ${sizeLabel(r.sizeMiB)} | ${cell("skiff")} | ${cell("distribution")} | |`);
  }
  L.push("");
  if (res.layers.length) {
    L.push("### Storage requests for an image of N small layers (skopeo push, then pull; 16 KiB layers)");
    L.push("");
    L.push("| layers | Skiff push | dist push | Skiff pull | dist pull |");
    L.push("|---|---|---|---|---|");
    const of = (n: number, reg: string) => res.layers.find((x) => x.layers === n && x.registry === reg);
    const ns = [...new Set(res.layers.map((x) => x.layers))].sort((a, b) => a - b);
    for (const n of ns) {
      const s = of(n, "skiff");
      const d = of(n, "distribution");
      L.push(`| ${n} | ${s ? countCell(s.push) : "–"} | ${d ? countCell(d.push) : "–"} | ${s ? countCell(s.pull) : "–"} | ${d ? countCell(d.pull) : "–"} |`);
    }
    if (ns.length >= 2) {
      const [a, b] = [ns[0], ns[ns.length - 1]];
      const slope = (reg: string, k: "push" | "pull") => {
        const x = of(a, reg);
        const y = of(b, reg);
        return x && y ? (totalOf(y[k]) - totalOf(x[k])) / (b - a) : NaN;
      };
      L.push(`| per extra layer (${a} → ${b}) | ${f1(slope("skiff", "push"))} | ${f1(slope("distribution", "push"))} | ${f1(slope("skiff", "pull"))} | ${f1(slope("distribution", "pull"))} |`);
    }
    L.push("");
  }
  if (res.idle) {
    L.push(`Idle CPU subtracted (ms per second): Skiff's runtime workerd ${f2(res.idle.registry.skiff)}, distribution ${f2(res.idle.registry.distribution)}, radosgw ${f2(res.idle.rgwMsPerSec)}, ceph-osd ${f2(res.idle.osdMsPerSec)}.`);
    L.push("");
  }
  if (res.notes.length) {
    L.push("Notes:");
    for (const n of res.notes) L.push(`- ${n}`);
    L.push("");
  }
  return L.join("\n");
}
