// Turns the raw results into the markdown summary (medians, ratios, targets) and the throughput chart.
import type { Results, TransferRecord } from "../run";
import { lineChart, type Series } from "./chart";
import { median, MiB } from "./stats";

const f0 = (v: number) => (Number.isFinite(v) ? v.toFixed(0) : "n/a");
const f1 = (v: number) => (Number.isFinite(v) ? v.toFixed(1) : "n/a");
const f2 = (v: number) => (Number.isFinite(v) ? v.toFixed(2) : "n/a");
const mark = (ok: boolean | undefined) => (ok === undefined ? "" : ok ? "✅" : "❌");
const sizeLabel = (mib: number) => (mib >= 1024 ? `${mib / 1024} GiB` : `${mib} MiB`);

function med(rs: TransferRecord[], pick: (r: TransferRecord) => number): number {
  return median(rs.map(pick));
}

export function report(res: Results): { markdown: string; svg: string } {
  const L: string[] = [];
  const t = res.transfers;
  const sel = (kind: string, op: string, size: number, reg: string) => t.filter((r) => r.kind === kind && r.op === op && r.sizeMiB === size && r.registry === reg);
  const rounds = (kind: string, op: string, size: number) => sel(kind, op, size, "skiff").length;

  L.push(`## Skiff vs distribution 2.8.2: ${res.meta.quick ? "quick run" : "full run"}, ${res.meta.date}`);
  L.push("");
  L.push(`${res.meta.cpus} × ${res.meta.cpuModel}, Node ${res.meta.node}; load average at start ${(res.meta.loadAverageAtStart as number[]).map(f2).join(" ")}, at end ${((res.meta.loadAverageAtEnd as number[]) ?? []).map(f2).join(" ")}; run took ${f0(res.meta.seconds as number)} s.`);
  L.push("Both registries on 127.0.0.1 over https (self-signed), storage on the same local disk; medians of the rounds; MB = 10^6 bytes.");
  L.push("");

  // ---- throughput ----
  L.push("### Push and pull throughput (MB/s)");
  L.push("");
  L.push("| client | operation | layer | rounds | Skiff | distribution | Skiff / dist | target: ≥ distribution |");
  L.push("|---|---|---|---|---|---|---|---|");
  const kinds: [string, string][] = [
    ["skopeo", "push"],
    ["skopeo", "pull"],
    ["docker", "push"],
    ["docker", "pull"],
  ];
  const sizes = [...new Set(t.filter((r) => r.kind !== "raw").map((r) => r.sizeMiB))].sort((a, b) => a - b);
  for (const [kind, op] of kinds) {
    for (const size of sizes) {
      const s = med(sel(kind, op, size, "skiff"), (r) => r.mbps);
      const d = med(sel(kind, op, size, "distribution"), (r) => r.mbps);
      if (!Number.isFinite(s) && !Number.isFinite(d)) continue;
      L.push(`| ${kind} | ${op} | ${sizeLabel(size)} | ${rounds(kind, op, size)} | ${f0(s)} | ${f0(d)} | ${f2(s / d)} | ${mark(s >= d)} |`);
    }
  }
  const rawOps = [...new Set(t.filter((r) => r.kind === "raw").map((r) => r.op))];
  for (const op of rawOps) {
    const size = t.find((r) => r.kind === "raw" && r.op === op)!.sizeMiB;
    const s = med(sel("raw", op, size, "skiff"), (r) => r.mbps);
    const d = med(sel("raw", op, size, "distribution"), (r) => r.mbps);
    L.push(`| HTTP from Node | ${op} | ${sizeLabel(size)} | ${rounds("raw", op, size)} | ${f0(s)} | ${f0(d)} | ${f2(s / d)} | ${mark(s >= d)} |`);
  }
  L.push("");

  // ---- requests ----
  if (res.requests.length) {
    L.push("### Requests (Node keep-alive clients; req/s, latency in ms)");
    L.push("");
    L.push("| request | clients | Skiff req/s | p50 | p99 | distribution req/s | p50 | p99 | Skiff / dist req/s | target |");
    L.push("|---|---|---|---|---|---|---|---|---|---|");
    const ops = [...new Set(res.requests.map((r) => r.op))];
    for (const op of ops) {
      for (const c of [1, 32]) {
        const s = res.requests.find((r) => r.op === op && r.connections === c && r.registry === "skiff");
        const d = res.requests.find((r) => r.op === op && r.connections === c && r.registry === "distribution");
        if (!s || !d) continue;
        let target = "";
        if (op === "manifest GET" && c === 32) target = `≥ 0.5× dist ${mark(s.rps >= d.rps / 2)}, p99 < 20 ms ${mark(s.p99ms < 20)}`;
        const err = s.errors || d.errors ? ` (errors: Skiff ${s.errors}, dist ${d.errors})` : "";
        L.push(`| ${op} | ${c} | ${f0(s.rps)} | ${f2(s.p50ms)} | ${f2(s.p99ms)} | ${f0(d.rps)} | ${f2(d.p50ms)} | ${f2(d.p99ms)} | ${f2(s.rps / d.rps)}${err} | ${target} |`);
      }
    }
    L.push("");
  }

  // ---- worker resources ----
  L.push("### Skiff's worker: CPU, memory, bundle, start-up");
  L.push("");
  L.push("CPU is read from /proc (utime+stime, all threads) before and after each push, minus the idle rate. The *worker process* is");
  L.push("the workerd that runs the Worker **and Miniflare's R2 simulator** (one process: every byte the Worker stores is also");
  L.push("received, MD5-hashed and written to disk by the simulator there). wrangler's dev proxy (a second workerd that owns the");
  L.push("port and terminates TLS) is listed apart; neither the simulator nor the proxy exists in production.");
  L.push("");
  L.push("| measure | value | target |");
  L.push("|---|---|---|");
  const perMiB = (rs: TransferRecord[], pick: (c: NonNullable<TransferRecord["cpu"]>) => number) => median(rs.filter((r) => r.cpu).map((r) => pick(r.cpu!) / (r.bytes / MiB)));
  // The floor each push is compared with is the bare Worker storing the same bytes the way Skiff does: one put for
  // a request of known length from byte 0 (monolithic PUT, skopeo's PATCH), a multipart upload otherwise (docker's
  // PATCH without length, chunked uploads). The floor is measured at the raw size; the simulator's cost per MiB
  // grows somewhat with object size, so for larger pushes the estimate errs on Skiff's side.
  const floorOf = (prefix: string) => res.floor?.find((f) => f.op.startsWith(prefix))?.runtimeMsPerMiB;
  const floors = { put: { ms: floorOf("R2 put"), what: "a bare single put" }, multipart: { ms: floorOf("R2 multipart"), what: "a bare multipart upload" } };
  const cpuRows: [string, TransferRecord[], keyof typeof floors][] = [];
  for (const op of rawOps.filter((o) => o !== "blob GET")) {
    const size = t.find((r) => r.kind === "raw" && r.op === op)!.sizeMiB;
    cpuRows.push([`${op} ${sizeLabel(size)}`, sel("raw", op, size, "skiff"), op.startsWith("monolithic") ? "put" : "multipart"]);
  }
  const biggest = sizes.at(-1);
  if (biggest !== undefined) {
    for (const kind of ["skopeo", "docker"] as const) {
      if (sel(kind, "push", biggest, "skiff").length) cpuRows.push([`${kind} push ${sizeLabel(biggest)}`, sel(kind, "push", biggest, "skiff"), kind === "skopeo" ? "put" : "multipart"]);
    }
  }
  for (const [label, rs, floorKind] of cpuRows) {
    const w = perMiB(rs, (c) => c.runtimeMs);
    const floor = floors[floorKind];
    const own = floor.ms !== undefined ? ` (minus ${floor.what} of the same bytes, ${f2(floor.ms)}: ≈ ${f2(w - floor.ms)} for Skiff itself)` : "";
    L.push(`| CPU per MiB pushed, worker process, ${label} | ${f2(w)} ms${own} | ≤ 0.7 ms ${mark(w <= 0.7)} |`);
    L.push(`| ... wrangler's dev proxy / wrangler's Node process | ${f2(perMiB(rs, (c) => c.proxyMs))} / ${f2(perMiB(rs, (c) => c.wranglerMs))} ms | |`);
  }
  for (const [label] of cpuRows.slice(0, 1)) {
    const op = rawOps[0];
    const size = t.find((r) => r.kind === "raw" && r.op === op)?.sizeMiB;
    if (size !== undefined) L.push(`| for comparison: distribution's process, ${label} | ${f2(perMiB(sel("raw", op, size, "distribution"), (c) => c.runtimeMs))} ms | |`);
  }
  if (biggest !== undefined) {
    const rs = sel("docker", "push", biggest, "skiff");
    if (rs.length) {
      const growth = Math.max(...rs.map((r) => r.cpu?.rssGrowth ?? NaN));
      L.push(`| worker process memory growth (peak RSS − RSS before), docker push ${sizeLabel(biggest)}, worst round | ${f1(growth / MiB)} MiB | < 64 MB ${mark(growth < 64e6)} |`);
    }
  }
  if (res.bundle) {
    const kib = res.bundle.gzipBytes / 1024;
    L.push(`| deployable bundle (wrangler deploy --dry-run), gzip -9 | ${f1(kib)} KiB (${res.bundle.files.map((f) => `${f.name} ${f1(f.bytes / 1024)} KiB`).join(", ")}; wrangler: ${res.bundle.wranglerSays ?? "?"}) | < 300 KiB ${mark(kib < 300)} |`);
  }
  if (res.startup.skiffMs !== undefined) L.push(`| start-up: spawn of wrangler dev → first answer on /v2/ (scripts/lib/dev-server.ts) | ${f0(res.startup.skiffMs)} ms (distribution: ${f0(res.startup.distributionMs ?? NaN)} ms) | |`);
  if (res.startup.workerStartupProfile) {
    const p = res.startup.workerStartupProfile;
    L.push(`| Worker start-up CPU (wrangler check startup profile: busy / span) | ${f1(p.busyMs)} / ${f1(p.spanMs)} ms | (Workers limit: 1 s) |`);
  }
  L.push("");
  if (res.floor?.length) {
    L.push("### The floor under Skiff on this stack (bench/floor: a bare Worker under the same wrangler dev, no registry logic)");
    L.push("");
    L.push(`| what the bare Worker does (${sizeLabel(res.meta.rawSizeMiB as number)} body) | worker process CPU per MiB | MB/s | worker process RSS growth |`);
    L.push("|---|---|---|---|");
    for (const fl of res.floor.filter((x) => x.rps === undefined)) L.push(`| ${fl.op} | ${f2(fl.runtimeMsPerMiB)} ms | ${f0(fl.mbps)} | ${f1((fl.rssGrowth ?? NaN) / MiB)} MiB |`);
    const reqs = res.floor.filter((x) => x.rps !== undefined);
    if (reqs.length) {
      L.push("");
      L.push("| bare Worker requests | req/s | p50 ms | p99 ms |");
      L.push("|---|---|---|---|");
      for (const fl of reqs) L.push(`| ${fl.op} | ${f0(fl.rps!)} | ${f2(fl.p50ms!)} | ${f2(fl.p99ms!)} |`);
    }
    L.push("");
  }
  if (res.notes.length) {
    L.push("Notes:");
    for (const n of res.notes) L.push(`- ${n}`);
    L.push("");
  }

  // ---- chart ----
  const colors = { skiff: "#f38020", distribution: "#2b6cb0" };
  const series = (op: string): Series[] =>
    (["skiff", "distribution"] as const).flatMap((reg) =>
      (["skopeo", "docker"] as const).map((kind) => ({
        label: `${reg === "skiff" ? "Skiff" : "distribution"}, ${kind}`,
        color: colors[reg],
        dashed: kind === "docker",
        points: sizes.map((size) => ({ x: size, y: med(sel(kind, op, size, reg), (r) => r.mbps) })),
      })),
    );
  const svg = lineChart(
    [
      { title: "push", series: series("push") },
      { title: "pull", series: series("pull") },
    ],
    { title: `Skiff (wrangler dev, local R2 simulator) vs distribution 2.8.2: single-layer images`, xLabel: "layer size", yLabel: "MB/s (median)", xTickLabel: sizeLabel },
  );
  return { markdown: L.join("\n") + "\n", svg };
}
