// One hostile or huge manifest PUT per test, timed inside the api-r2 pool. Prints "MEASURE <case> <start-ms>
// <end-ms> <status> <code>" lines that run.mjs pairs with its samples of workerd's memory. Asserts nothing about time.
import { it } from "vitest";
import { env } from "cloudflare:workers";
import { registry as viaLoopback, uniqueRepo, pushBlob, descriptorOf, imageManifest, manifestBytes, MEDIA, ORIGIN } from "../../test/api/helpers";
import app from "../../src/index";

// MEASURE_DIRECT=1 calls the hono app in the test's own isolate, skipping the pool's loopback fetch, whose
// transfer of a 4 MiB body dominated (and varied wildly under load); it measures the registry's own work.
const direct = (env as { MEASURE_DIRECT?: string }).MEASURE_DIRECT === "1";
const ctx = { waitUntil() {}, passThroughOnException() {}, props: {} } as unknown as ExecutionContext;
const registry = (path: string, init?: RequestInit): Promise<Response> =>
  direct ? Promise.resolve(app.fetch(new Request(new URL(path, ORIGIN), init), env, ctx)) : viaLoopback(path, init);

const LIMIT = 4 * 1024 * 1024;
const enc = (s: string) => new TextEncoder().encode(s);

/** `{"schemaVersion":2,...,"x":<filler>}` padded to exactly LIMIT bytes by `fill(n)`, which returns n bytes of JSON value. */
function hostile(fill: (n: number) => string): Uint8Array {
  const head = `{"schemaVersion":2,"mediaType":"${MEDIA.ociManifest}","x":`;
  return enc(head + fill(LIMIT - head.length - 1) + "}");
}
const repeat = (unit: string, open: string, close: string, n: number) => {
  const count = Math.floor((n - open.length - close.length + 1) / unit.length);
  const body = (unit.repeat(count)).slice(0, -1); // drop the last separator
  return (open + body + close).padEnd(n, " ");
};

const cases: Record<string, () => Promise<Uint8Array>> = {
  "deep arrays": async () => hostile((n) => "[".repeat(n / 2) + "]".repeat(n / 2)),
  "deep objects": async () => hostile((n) => '{"a":'.repeat(Math.floor((n - 1) / 6)).concat("0", "}".repeat(Math.floor((n - 1) / 6))).padEnd(n, " ")),
  "2M tiny array elements": async () => hostile((n) => repeat("0,", "[", "]", n)),
  "empty objects": async () => hostile((n) => repeat("{},", "[", "]", n)),
  "many keys": async () => {
    let s = "{";
    for (let i = 0; s.length < LIMIT - 200; i++) s += `"${i.toString(36)}":0,`;
    return hostile((n) => (s.slice(0, -1) + "}").padEnd(n, " ").slice(0, n));
  },
  "one long string": async () => hostile((n) => `"${"a".repeat(n - 2)}"`),
};

for (const [name, make] of Object.entries(cases)) {
  it(name, async () => {
    const repo = uniqueRepo();
    const bytes = await make();
    if (bytes.byteLength > LIMIT) throw new Error(`${name}: ${bytes.byteLength} bytes`);
    await measure(name, () => registry(`/v2/${repo}/manifests/t`, { method: "PUT", body: bytes, headers: { "Content-Type": MEDIA.ociManifest } }));
  });
}

it("20000 layers naming one blob", async () => {
  const repo = uniqueRepo();
  await pushBlob(repo, "{}");
  await pushBlob(repo, "layer");
  const layer = await descriptorOf(MEDIA.ociLayer, "layer");
  const bytes = manifestBytes(imageManifest(await descriptorOf(MEDIA.ociConfig, "{}"), Array(20000).fill(layer)));
  const other = uniqueRepo();
  await pushBlob(other, "{}");
  // an unrelated tags/list started while the big PUT runs
  let tagsMs = 0;
  await measure(`20000 layers (${(bytes.byteLength / 1e6).toFixed(1)} MB)`, async () => {
    const put = registry(`/v2/${repo}/manifests/t`, { method: "PUT", body: bytes, headers: { "Content-Type": MEDIA.ociManifest } });
    await new Promise((r) => setTimeout(r, 20));
    const t = Date.now();
    const tags = await registry(`/v2/${other}/tags/list`);
    await tags.arrayBuffer();
    tagsMs = Date.now() - t;
    return put;
  });
  console.log(`MEASURE-NOTE unrelated tags/list during it: ${tagsMs} ms`);
});

async function measure(name: string, send: () => Promise<Response>) {
  await new Promise((r) => setTimeout(r, 3000)); // quiet seconds: run.mjs finds workerd and takes its baseline
  const start = Date.now();
  const res = await send();
  const text = await res.text();
  const end = Date.now();
  let code = "-";
  try {
    code = JSON.parse(text).errors?.[0]?.code ?? "-";
  } catch {}
  console.log(`MEASURE ${JSON.stringify(name)} ${start} ${end} ${res.status} ${code}`);
  await new Promise((r) => setTimeout(r, 1000));
}
