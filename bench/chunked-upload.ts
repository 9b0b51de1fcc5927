// A focused measurement for issue 13 part 2 (chunked uploads at the speed of one-request uploads), on the S3 backend:
// Skiff (`start:s3`: wrangler dev, STORAGE_BACKEND=s3, MAX_REQUEST_BODY_MB=5000) and distribution 2.8.2 (S3 driver)
// on the SAME local Ceph RGW (bluestore), both over https. For each round, alternating who goes first:
//   chunked   POST, 64 x 16 MiB PATCHes with Content-Range, PUT ?digest= with an empty body
//   one       POST, one PUT ?digest= carrying the whole blob with Content-Length (containerd's way)
// Reports MB/s of the whole upload, the final PUT's own seconds, and the registry process's CPU per MiB (Skiff: the
// runtime workerd; distribution: its process), split into the PATCH phase and the final PUT.
//
//   npx tsx bench/chunked-upload.ts [--size-mib 1024] [--chunk-mib 16] [--rounds 2] [--only skiff|distribution]
//   (KEEP_OUT=1 keeps the work directory with skiff.log, wrangler's request log)
import { mkdtempSync, rmSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { startLocalS3, type LocalS3 } from "../scripts/lib/dev-server";
import { cpuMs } from "../scripts/lib/processes";
import { request, SyntheticBlob } from "./lib/http";
import { wipeBucket } from "./lib/s3-stack";
import { startDistribution, startSkiff, type Registry } from "./lib/servers";
import { MiB, median } from "./lib/stats";

const arg = (name: string, dflt: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : dflt;
};
const SIZE = Number(arg("size-mib", "1024")) * MiB;
const CHUNK = Number(arg("chunk-mib", "16")) * MiB;
const ROUNDS = Number(arg("rounds", "2"));
const ONLY = arg("only", "");
const log = (...a: unknown[]) => console.error(`[${new Date().toISOString().slice(11, 19)}]`, ...a);


interface Rec {
  registry: string;
  how: "chunked" | "one";
  ms: number;
  putMs: number;
  patchCpu: number;
  putCpu: number;
}

async function expectStatus(p: ReturnType<typeof request>, status: number, what: string) {
  const r = await p;
  if (r.status !== status) throw new Error(`${what}: ${r.status} ${r.body.toString().slice(0, 300)}`);
  return r;
}

async function upload(reg: Registry, pid: () => number, how: "chunked" | "one", blob: SyntheticBlob, repo: string): Promise<Rec> {
  const base = reg.url;
  const c0 = cpuMs(pid()) ?? 0;
  const t0 = performance.now();
  const post = await expectStatus(request("POST", `${base}/v2/${repo}/blobs/uploads/`), 202, "POST");
  let loc = new URL(String(post.headers.location), base);
  if (how === "chunked") {
    for (let start = 0; start < blob.size; start += CHUNK) {
      const end = Math.min(blob.size, start + CHUNK);
      const r = await expectStatus(
        request("PATCH", loc.href, { body: [...blob.chunks(start, end)], length: end - start, headers: { "Content-Type": "application/octet-stream", "Content-Range": `${start}-${end - 1}` } }),
        202,
        `PATCH ${start}`,
      );
      loc = new URL(String(r.headers.location), base);
    }
  }
  const c1 = cpuMs(pid()) ?? 0;
  const t1 = performance.now();
  loc.searchParams.set("digest", blob.digest());
  if (how === "chunked") await expectStatus(request("PUT", loc.href), 201, "PUT");
  else await expectStatus(request("PUT", loc.href, { body: blob.chunks(), length: blob.size, headers: { "Content-Type": "application/octet-stream" } }), 201, "PUT");
  const t2 = performance.now();
  const c2 = cpuMs(pid()) ?? 0;
  return { registry: reg.name, how, ms: t2 - t0, putMs: t2 - t1, patchCpu: c1 - c0, putCpu: c2 - c1 };
}

async function main() {
  const out = mkdtempSync(join(tmpdir(), "chunked-bench-"));
  process.env.OSD_STORE ??= "bluestore";
  const s3 = await startLocalS3();
  const regs: { reg: Registry; pid: () => number }[] = [];
  try {
    const rgw = new URL(s3.endpoint);
    if (ONLY !== "distribution") {
      const skiff = await startSkiff(out, { ...s3.vars, MAX_REQUEST_BODY_MB: "5000" });
      regs.push({ reg: skiff, pid: () => skiff.processes().runtime });
    }
    if (ONLY !== "skiff") {
      mkdirSync(join(out, "dist"));
      const dist = await startDistribution(join(out, "dist"), [
        "  s3:",
        `    accesskey: ${JSON.stringify(s3.vars.S3_ACCESS_KEY_ID)}`,
        `    secretkey: ${JSON.stringify(s3.vars.S3_SECRET_ACCESS_KEY)}`,
        "    region: us-east-1",
        `    regionendpoint: ${JSON.stringify(rgw.origin)}`,
        `    bucket: ${JSON.stringify(s3.vars.S3_BUCKET)}`,
        "    secure: false",
        "    v4auth: true",
        "    rootdirectory: /distribution",
        "  redirect: { disable: false }",
      ]);
      regs.push({ reg: dist, pid: () => dist.mainPid() });
    }
    const blob = new SyntheticBlob(SIZE);
    blob.digest();
    const recs: Rec[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const order = round % 2 === 0 ? regs : [...regs].reverse();
      for (const { reg, pid } of order) {
        for (const how of ["chunked", "one"] as const) {
          if (how === "one" && reg.name === "distribution" && ONLY !== "distribution") continue;
          const fresh = new SyntheticBlob(SIZE); // a new digest every time: nothing is already there
          let r: Rec;
          try {
            r = await upload(reg, pid, how, fresh, `bench/c${round}-${how}`);
          } catch (err) {
            log(`${reg.name} ${how} r${round}: FAILED: ${(err as Error).message}`);
            await wipeBucket(s3);
            continue;
          }
          recs.push(r);
          log(
            `${reg.name} ${how} r${round}: ${((SIZE / 1e6) / (r.ms / 1000)).toFixed(0)} MB/s, final PUT ${(r.putMs / 1000).toFixed(2)} s, CPU ms/MiB: PATCH phase ${(r.patchCpu / (SIZE / MiB)).toFixed(3)}, final PUT ${(r.putCpu / (SIZE / MiB)).toFixed(3)}`,
          );
          await wipeBucket(s3);
        }
      }
    }
    console.log(`\n${SIZE / MiB} MiB, ${CHUNK / MiB} MiB chunks, medians of ${ROUNDS} rounds\n`);
    console.log("| registry | upload | MB/s | final PUT s | CPU ms/MiB, PATCHes | CPU ms/MiB, final PUT |\n|---|---|---|---|---|---|");
    for (const { reg } of regs) {
      for (const how of ["chunked", "one"] as const) {
        const sel = recs.filter((r) => r.registry === reg.name && r.how === how);
        if (!sel.length) continue;
        const m = (f: (r: Rec) => number) => median(sel.map(f));
        console.log(`| ${reg.name} | ${how} | ${((SIZE / 1e6) / (m((r) => r.ms) / 1000)).toFixed(0)} | ${(m((r) => r.putMs) / 1000).toFixed(2)} | ${(m((r) => r.patchCpu) / (SIZE / MiB)).toFixed(3)} | ${(m((r) => r.putCpu) / (SIZE / MiB)).toFixed(3)} |`);
      }
    }
  } finally {
    await Promise.allSettled(regs.map((r) => r.reg.stop()));
    await s3.stop();
    if (process.env.KEEP_OUT) console.error(`kept ${out}`);
    else rmSync(out, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
