// Times one manifest PUT per case in the api-r2 pool and samples the memory (VmRSS) of the workerd running it.
// Each case runs in its own vitest process, so each starts from a fresh isolate. Prints a markdown table.
//   npx tsx bench/manifest-cost/run.mjs [case-name-filter]   (MEASURE_DIRECT=1: call the app in-isolate, see manifests.measure.ts)
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { descendants, rssBytes } from "../../scripts/lib/processes.ts";

const CASES = ["deep arrays", "deep objects", "2M tiny array elements", "empty objects", "many keys", "one long string", "20000 layers naming one blob"];
const only = process.argv[2];

async function runCase(name) {
  const child = spawn("npx", ["vitest", "run", "--config", "bench/manifest-cost/vitest.config.ts", "-t", `^${name}$`], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout.on("data", (d) => (out += d));
  child.stderr.on("data", (d) => (out += d));
  const samples = [];
  // Finding workerd among the descendants walks /proc, so do that every 2 s only; read VmRSS every 50 ms.
  let workerd = [];
  const find = setInterval(async () => (workerd = descendants(child.pid).filter((p) => p.comm === "workerd")), 2000);
  const timer = setInterval(() => {
    if (workerd.length) samples.push([Date.now(), workerd.reduce((sum, p) => sum + (rssBytes(p.pid) ?? 0), 0)]);
  }, 50);
  await new Promise((r) => child.on("exit", r));
  clearInterval(timer);
  clearInterval(find);
  const m = /MEASURE ("[^"]*") (\d+) (\d+) (\d+) (\S+)/.exec(out);
  if (!m) return { name, error: out.slice(-1500) };
  const [start, end] = [Number(m[2]), Number(m[3])];
  const before = samples.filter(([t]) => t < start);
  const baseline = before.length ? before[before.length - 1][1] : NaN;
  const peak = Math.max(...samples.filter(([t]) => t >= start && t <= end + 500).map(([, r]) => r));
  const note = /MEASURE-NOTE (.*)/.exec(out)?.[1] ?? "";
  return { name: JSON.parse(m[1]), ms: end - start, status: m[4], code: m[5], baseline, peak, note };
}

const MB = 1e6;
console.log("| case | status | answered in | workerd RSS before | peak | growth | note |\n| --- | --- | --- | --- | --- | --- | --- |");
for (const name of CASES) {
  if (only && !name.includes(only)) continue;
  const r = await runCase(name);
  if (r.error) console.log(`| ${name} | failed: ${r.error.replace(/\n/g, " ").slice(-400)} |`);
  else console.log(`| ${r.name} | ${r.status} ${r.code} | ${r.ms} ms | ${(r.baseline / MB).toFixed(0)} MB | ${(r.peak / MB).toFixed(0)} MB | ${((r.peak - r.baseline) / MB).toFixed(0)} MB | ${r.note} |`);
}
