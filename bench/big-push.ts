// The big-push section of `npm run bench` (issue "big images through the edge"): big layers pushed into Skiff on
// its S3 backend and into distribution 2.8.2 on its S3 driver, both on the SAME local Ceph RGW, both over https,
// alternating which goes first each round; medians, MB/s, ratios. Rows:
//   skopeo push              one PATCH per layer (Skiff: needs a body cap above the layer: MAX_REQUEST_BODY_MB=5000,
//                            what an Enterprise zone can get; distribution has no cap)
//   docker push              one chunked PATCH per layer (docker re-compresses: gzip sets its pace)
//   skiff push, direct       layer bytes PUT straight to RGW through presigned UploadPart URLs (Skiff only)
//   skiff push, chunked      `--no-direct --chunk-size 95`: PATCH chunks under a Free/Pro zone's 100 MB cap, on both
// and Skiff's Worker CPU per MiB for the direct path: all of it, and without the final PUT's read-back (the window
// of the final PUT, from the CLI's JSON timings, integrated over a 50 ms sampler of the runtime workerd's CPU).
import { mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";
import { cpuMs, run } from "../scripts/lib/processes";
import { startDockerd, type DockerEngine } from "../test/support/docker";
import { makeOciLayout, type OciImage } from "../test/support/oci-layout";
import { dockerLoad, dockerPush, skopeoPush } from "./lib/clients";
import type { Registry } from "./lib/servers";
import { startS3Stack, type S3Stack } from "./lib/s3-stack";
import { MiB, mbps, median } from "./lib/stats";

export type BigPushClient = "skopeo" | "docker" | "skiff-direct" | "skiff-chunked";

export interface BigPushRecord {
  client: BigPushClient;
  registry: Registry["name"];
  sizeMiB: number;
  round: number;
  ms: number;
  mbps: number;
  /** Skiff only: CPU ms of the runtime workerd during the push (the Worker; on S3 no simulator shares it). */
  workerCpuMs?: number;
  /** skiff-direct only: the part of workerCpuMs spent while the final PUT (complete + read-back) ran. */
  completeCpuMs?: number;
  /** skiff push only: request body bytes the CLI sent through the registry (not to presigned URLs). */
  bytesThroughRegistry?: number;
}

export interface BigPushResults {
  records: BigPushRecord[];
  notes: string[];
}

const ROOT = new URL("..", import.meta.url).pathname;
const log = (...a: unknown[]) => console.error(`[bench ${new Date().toISOString().slice(11, 19)}]`, ...a);

interface SkiffPushSummary {
  blobs: { digest: string; size: number; how: string; bytesSent: number; completeStartedAt?: number; completedAt?: number }[];
  totals: { bytesSent: number };
}

/** `skiff push` as a user runs it (node cli/skiff.mjs), --json; a fresh state dir so nothing resumes or mounts. */
async function skiffPush(layoutDir: string, tag: string, ref: string, extra: string[], stateDir: string): Promise<{ ms: number; summary: SkiffPushSummary }> {
  rmSync(stateDir, { recursive: true, force: true });
  const { ms, stdout } = await run(process.execPath, [join(ROOT, "cli/skiff.mjs"), "push", "--json", "--quiet", "--state-dir", stateDir, ...extra, `oci:${layoutDir}:${tag}`, ref], {
    timeoutMs: 900_000,
    // Both local registries serve https with self-signed certificates.
    env: { NODE_TLS_REJECT_UNAUTHORIZED: "0", NODE_NO_WARNINGS: "1" },
  });
  return { ms, summary: JSON.parse(stdout) };
}

/** ", final PUT 1.2 s" for a skiff push whose JSON has the window of its biggest blob's final PUT. */
function completeWindow(summary: SkiffPushSummary | undefined): string {
  const big = summary?.blobs.reduce((a, b) => (b.size > a.size ? b : a));
  return big?.completeStartedAt && big.completedAt ? `, final PUT ${((big.completedAt - big.completeStartedAt) / 1000).toFixed(1)} s` : "";
}

/** CPU of `pid` sampled every 50 ms, to integrate over windows afterwards. */
function cpuSampler(pid: number) {
  const samples: { t: number; cpu: number }[] = [];
  const take = () => {
    const cpu = cpuMs(pid);
    if (cpu !== null) samples.push({ t: Date.now(), cpu });
  };
  take();
  const timer = setInterval(take, 50);
  return {
    stop() {
      clearInterval(timer);
      take();
      return samples;
    },
  };
}

/** CPU spent between t0 and t1 (linear between samples). */
function cpuBetween(samples: { t: number; cpu: number }[], t0: number, t1: number): number {
  const at = (t: number) => {
    if (samples.length === 0) return 0;
    if (t <= samples[0].t) return samples[0].cpu;
    for (let i = 1; i < samples.length; i++) {
      const a = samples[i - 1];
      const b = samples[i];
      if (t <= b.t) return a.cpu + ((b.cpu - a.cpu) * (t - a.t)) / Math.max(1, b.t - a.t);
    }
    return samples[samples.length - 1].cpu;
  };
  return at(t1) - at(t0);
}

export async function bigPushSection(opts: { rounds: number; sizesMiB: number[]; out: string; skipDocker: boolean }): Promise<BigPushResults> {
  const res: BigPushResults = { records: [], notes: [] };
  const work = mkdtempSync(join(opts.out, "big-push-"));
  let stack: S3Stack | undefined;
  let engine: DockerEngine | undefined;
  try {
    stack = await startS3Stack({ out: opts.out, work, countingProxy: false });
    const { s3, skiff, dist } = stack;
    log(`big-push: Skiff (S3) ${skiff.url}, distribution (S3) ${dist.url}, RGW ${s3.endpoint}`);
    if (!opts.skipDocker) engine = await startDockerd();
    // The runtime workerd's own idle CPU (timers of wrangler dev's runtime), subtracted from every sample below.
    const idlePid = skiff.processes().runtime;
    const idle0 = cpuMs(idlePid) ?? 0;
    await new Promise((r) => setTimeout(r, 3000));
    const idleMsPerMs = ((cpuMs(idlePid) ?? idle0) - idle0) / 3000;
    res.notes.push(`Skiff's runtime workerd idles at ${(idleMsPerMs * 1000).toFixed(1)} ms CPU per second; subtracted from the CPU figures`);
    const regs: [Registry, Registry] = [skiff, dist];
    for (const size of opts.sizesMiB) {
      const img: OciImage = await makeOciLayout(join(work, `img-${size}`), { layerSizes: [size * MiB], tag: "bench" });
      const bytes = img.layers[0].size;
      if (engine) await dockerLoad(engine, img.dir, img.tag, `bench/big-${size}m:v1`);
      // One round fewer for 1 GiB layers keeps a full run within minutes.
      for (let round = 0; round < (size >= 1024 ? Math.max(1, opts.rounds - 1) : opts.rounds); round++) {
        const pair = round % 2 === 0 ? regs : ([regs[1], regs[0]] as [Registry, Registry]);
        const runs: { client: BigPushClient; reg: Registry }[] = [];
        for (const reg of pair) {
          runs.push({ client: "skopeo", reg });
          if (engine) runs.push({ client: "docker", reg });
          runs.push({ client: "skiff-chunked", reg });
          if (reg.name === "skiff") runs.push({ client: "skiff-direct", reg });
        }
        for (const { client, reg } of runs) {
          const repo = `bench/${client}-${size}m-r${round}`;
          const ref = `${reg.host}/${repo}:v1`;
          try {
            const pid = reg === skiff ? skiff.processes().runtime : reg.mainPid();
            const sampler = cpuSampler(pid);
            const t0 = Date.now();
            let ms: number;
            let summary: SkiffPushSummary | undefined;
            if (client === "skopeo") ms = await skopeoPush(img.dir, img.tag, ref);
            else if (client === "docker") {
              await engine!.docker(["tag", `bench/big-${size}m:v1`, ref]);
              ms = await dockerPush(engine!, ref);
            } else {
              const extra = client === "skiff-chunked" ? ["--no-direct", "--chunk-size", "95"] : [];
              ({ ms, summary } = await skiffPush(img.dir, img.tag, ref, extra, join(work, "state")));
            }
            const samples = sampler.stop();
            const rec: BigPushRecord = { client, registry: reg.name, sizeMiB: size, round, ms, mbps: mbps(bytes, ms) };
            if (reg === skiff) rec.workerCpuMs = cpuBetween(samples, t0, Date.now()) - idleMsPerMs * (Date.now() - t0);
            if (summary) {
              const layer = summary.blobs.find((b) => b.size === bytes);
              if (client === "skiff-direct" && layer?.completeStartedAt && layer.completedAt) {
                rec.completeCpuMs = cpuBetween(samples, layer.completeStartedAt, layer.completedAt) - idleMsPerMs * (layer.completedAt - layer.completeStartedAt);
              }
              rec.bytesThroughRegistry = client === "skiff-direct" ? summary.blobs.filter((b) => b.how !== "direct").reduce((n, b) => n + b.bytesSent, 0) : summary.totals.bytesSent;
            }
            res.records.push(rec);
            log(`big-push ${client} ${size} MiB → ${reg.name} r${round}: ${rec.mbps.toFixed(0)} MB/s${rec.workerCpuMs !== undefined ? `, worker CPU ${(rec.workerCpuMs / size).toFixed(3)} ms/MiB` : ""}${completeWindow(summary)}`);
            // The next push must upload again rather than skip or mount (digests are the same every round).
            await stack.wipe();
          } catch (err) {
            const msg = (err as Error).message.replace(/\s+/g, " ").slice(0, 400);
            res.notes.push(`${client} ${size} MiB → ${reg.name} round ${round}: FAILED: ${msg}`);
            log(`big-push ${client} ${size} MiB → ${reg.name} r${round} failed: ${msg}`);
          }
        }
      }
      rmSync(img.dir, { recursive: true, force: true });
    }
  } finally {
    await engine?.stop().catch(() => {});
    await stack?.stop();
    rmSync(work, { recursive: true, force: true });
  }
  return res;
}

const f0 = (n: number) => (Number.isFinite(n) ? n.toFixed(0) : "–");
const f2 = (n: number) => (Number.isFinite(n) ? n.toFixed(2) : "–");
const f3 = (n: number) => (Number.isFinite(n) ? n.toFixed(3) : "–");
const mark = (ok: boolean | null) => (ok === null ? "–" : ok ? "yes" : "**no**");

/** The section's tables (markdown). */
export function bigPushReport(res: BigPushResults): string {
  const L: string[] = [];
  const sel = (client: BigPushClient, reg: string, size: number) => res.records.filter((r) => r.client === client && r.registry === reg && r.sizeMiB === size);
  const mb = (client: BigPushClient, reg: string, size: number) => median(sel(client, reg, size).map((r) => r.mbps));
  const sizes = [...new Set(res.records.map((r) => r.sizeMiB))].sort((a, b) => a - b);
  L.push("### Big pushes on S3: Skiff (S3 backend) and distribution (S3 driver) on the same local Ceph RGW (MB/s)");
  L.push("");
  L.push("Medians of the rounds; ratios against skopeo into distribution. `skiff push` chunked uses 95 MiB chunks (under a Free/Pro zone's 100 MB cap).");
  L.push("");
  L.push("| layer | skopeo → Skiff | skopeo → dist | docker → Skiff | docker → dist | skiff push direct → Skiff | chunked → Skiff | chunked → dist | direct / skopeo→Skiff (≥ 1) | direct / skopeo→dist (≥ 2.5) | chunked→Skiff / chunked→dist (≥ 1) |");
  L.push("|---|---|---|---|---|---|---|---|---|---|---|");
  for (const size of sizes) {
    const direct = mb("skiff-direct", "skiff", size);
    const sk = mb("skopeo", "skiff", size);
    const sd = mb("skopeo", "distribution", size);
    const cs = mb("skiff-chunked", "skiff", size);
    const cd = mb("skiff-chunked", "distribution", size);
    const ok = (a: number, b: number, t: number) => (Number.isFinite(a) && Number.isFinite(b) ? a / b >= t : null);
    L.push(
      `| ${size >= 1024 ? `${size / 1024} GiB` : `${size} MiB`} | ${f0(sk)} | ${f0(sd)} | ${f0(mb("docker", "skiff", size))} | ${f0(mb("docker", "distribution", size))} | ${f0(direct)} | ${f0(cs)} | ${f0(cd)} | ${f2(direct / sk)} ${mark(ok(direct, sk, 1))} | ${f2(direct / sd)} ${mark(ok(direct, sd, 2.5))} | ${f2(cs / cd)} ${mark(ok(cs, cd, 1))} |`,
    );
  }
  L.push("");
  L.push("Skiff's Worker CPU per MiB pushed (runtime workerd, ms/MiB; on S3 nothing else runs in it):");
  L.push("");
  L.push("| layer | skopeo (one request) | skiff push chunked | skiff push direct, all | direct, without the final PUT (target < 0.05) | final PUT (complete + read-back) | bytes through the Worker, direct |");
  L.push("|---|---|---|---|---|---|---|");
  for (const size of sizes) {
    const perMiB = (client: BigPushClient, f: (r: BigPushRecord) => number | undefined) => median(sel(client, "skiff", size).map(f).filter((v): v is number => v !== undefined)) / size;
    const all = perMiB("skiff-direct", (r) => r.workerCpuMs);
    const complete = perMiB("skiff-direct", (r) => r.completeCpuMs);
    const through = median(sel("skiff-direct", "skiff", size).map((r) => r.bytesThroughRegistry ?? NaN));
    L.push(
      `| ${size >= 1024 ? `${size / 1024} GiB` : `${size} MiB`} | ${f3(perMiB("skopeo", (r) => r.workerCpuMs))} | ${f3(perMiB("skiff-chunked", (r) => r.workerCpuMs))} | ${f3(all)} | ${f3(all - complete)} ${mark(Number.isFinite(all - complete) ? all - complete < 0.05 : null)} | ${f3(complete)} | ${Number.isFinite(through) ? `${(through / 1e6).toFixed(2)} MB` : "–"} |`,
    );
  }
  if (res.notes.length) {
    L.push("");
    for (const n of res.notes) L.push(`- ${n}`);
  }
  L.push("");
  return L.join("\n");
}
