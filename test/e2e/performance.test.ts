// Two things that must stay true of local Skiff under `wrangler dev`:
// 1. Pushing a small image takes well under 2 s with docker, podman and skopeo. The bound asserted is a generous
//    5 s: it only catches the regression where clients wait out a TLS probe that a plain-http dev server never
//    answers (docs/testing.md#local-https). No other timing is asserted.
// 2. A 1 GiB docker-style push (one chunked PATCH without Content-Length, then PUT ?digest=) streams: the memory of
//    the workerd processes grows by a bounded amount, and the blob reads back with the right digest.
import { createHash, randomBytes } from "node:crypto";
import path from "node:path";
import { afterAll, beforeAll, describe, expect } from "vitest";
import { ContainerTools, itWith, unavailable, type Tool } from "../support/clients";
import { startDockerd, type DockerEngine } from "../support/docker";
import { digestOfGet, request } from "../support/http";
import { makeOciLayout, toDockerArchive, type OciImage } from "../support/oci-layout";
import { removeDir, tempDir } from "../support/proc";
import { dockerStylePush, sampleWorkerdRss, withServerLog, type RssSample } from "../support/big-blobs";
import { ENTERPRISE_BODY_LIMIT, startDistribution, startSkiffRegistry, type RegistryUnderTest } from "../support/registries";

const MiB = 1024 * 1024;
const HOST_ARCH = process.arch === "x64" ? "amd64" : process.arch;
/** Growth allowed for each workerd process while 1 GiB is pushed (after a warm-up push). A registry that buffers
 *  the blob would grow by over 1 GiB; streaming Skiff measured ~105 MiB here. That is not Skiff's own buffers
 *  (at most ~3 parts of 8 MiB): the same workerd runs the local R2 simulator, which copies every part across an
 *  RPC to disk, and V8 frees those copies lazily (a bare worker calling uploadPart with 8 MiB parts grows by
 *  47 MiB for 256 MiB and 65 MiB for 512 MiB). So the bound is 192 MiB, not the 96 MB first proposed. */
const RSS_GROWTH_BOUND = 192 * MiB;
const SMALL_PUSH_BOUND_MS = 5000;

let work: string;
let skiff: RegistryUnderTest;

beforeAll(async () => {
  work = await tempDir("perf");
  skiff = await startSkiffRegistry({ vars: ENTERPRISE_BODY_LIMIT }); // 1 GiB in one PATCH
});
afterAll(async () => {
  await skiff?.stop();
  if (work) await removeDir(work);
});

describe("small image push time (catches the 10 s TLS-probe stall)", () => {
  let engine: DockerEngine | undefined;
  let distribution: RegistryUnderTest | undefined;
  let tools: ContainerTools;
  let image: OciImage;
  let tar: string;
  const timings: Record<string, Record<string, number>> = {};

  beforeAll(async () => {
    tools = await new ContainerTools(path.join(work, "tools")).init();
    image = await makeOciLayout(path.join(work, "small"), { layerSizes: [300 * 1024, 20 * 1024], tag: "v1", architecture: HOST_ARCH });
    if (!unavailable("skopeo")) {
      tar = path.join(work, "small.tar");
      await toDockerArchive(image, tar, "e2e/small:v1");
      if (!unavailable("docker")) {
        engine = await startDockerd();
        await engine.docker(["load", "-q", "-i", tar]);
      }
      if (!unavailable("podman")) await tools.podman(["load", "-q", "-i", tar]);
    }
    if (!unavailable("distribution")) distribution = await startDistribution();
  });
  afterAll(async () => {
    await engine?.stop();
    await distribution?.stop();
    console.log(`[e2e perf] small image push (ms): ${JSON.stringify(timings)}`);
  });

  const pushers: { client: Tool; push: (host: string, repo: string) => Promise<number> }[] = [
    {
      client: "docker",
      push: async (host, repo) => {
        await engine!.docker(["tag", "e2e/small:v1", `${host}/${repo}:v1`]);
        return (await engine!.docker(["push", "-q", `${host}/${repo}:v1`])).ms;
      },
    },
    { client: "podman", push: async (host, repo) => (await tools.podman(["push", "-q", "--tls-verify=false", "e2e/small:v1", `docker://${host}/${repo}:v1`])).ms },
    {
      client: "skopeo",
      push: async (host, repo) => (await tools.skopeo(["copy", "-q", "--dest-tls-verify=false", `oci:${image.dir}:v1`, `docker://${host}/${repo}:v1`])).ms,
    },
  ];

  for (const { client, push } of pushers) {
    itWith([client, "skopeo"], `${client} pushes a small image to Skiff in under ${SMALL_PUSH_BOUND_MS} ms`, async () => {
      const ms = await push(skiff.host, `timing/${client}`);
      (timings.skiff ??= {})[client] = Math.round(ms);
      if (distribution) (timings.distribution ??= {})[client] = Math.round(await push(distribution.host, `timing/${client}`));
      expect(ms).toBeLessThan(SMALL_PUSH_BOUND_MS);
      const head = await request(`${skiff.url}/v2/timing/${client}/manifests/v1`, { method: "HEAD", headers: { Accept: "*/*" } });
      expect(head.status).toBe(200);
    });
  }
});

async function rangedDigest(url: string, size: number, step: number): Promise<string> {
  const hash = createHash("sha256");
  for (let offset = 0; offset < size; offset += step) {
    const end = Math.min(offset + step, size) - 1;
    let got = 0;
    const res = await withServerLog(skiff, request(url, {
      headers: { Range: `bytes=${offset}-${end}` },
      onData: (c) => {
        hash.update(c);
        got += c.byteLength;
      },
    }));
    expect(res.status).toBe(206);
    expect(got).toBe(end - offset + 1);
  }
  return `sha256:${hash.digest("hex")}`;
}

const mb = (n: number) => (n / MiB).toFixed(1);
function report(phase: string, samples: RssSample[]) {
  for (const s of samples) {
    console.log(`[e2e perf] ${phase}: workerd pid ${s.pid} RSS baseline ${mb(s.baseline)} MiB, peak ${mb(s.peak)} MiB, growth ${mb(s.peak - s.baseline)} MiB`);
  }
}

describe("1 GiB docker-style push to Skiff", () => {
  itWith([], "streams a chunked PATCH of 1 GiB with bounded workerd memory, and reads it back intact", async () => {
    const size = 1024 * MiB;
    // Warm up first, so that the baseline already holds what uploads allocate once (the R2 simulator's database
    // and buffers, V8 heap growth): what the bound then measures is what 1 GiB adds. One 64 MiB push was not
    // enough: the process then still grew to the same plateau during the big push whatever its baseline (peaks of
    // 374-378 MiB from baselines of 174-204 MiB in four CI runs), so the "growth" measured the baseline's luck.
    const warmup = await dockerStylePush(skiff, "big/warmup", 64 * MiB);
    await dockerStylePush(skiff, "big/warmup-large", 256 * MiB);

    const pushRss = await sampleWorkerdRss(skiff.pid);
    const started = performance.now();
    const digest = await dockerStylePush(skiff, "big/blob", size);
    const pushSeconds = (performance.now() - started) / 1000;
    const pushSamples = pushRss.stop();
    report("1 GiB push", pushSamples);
    console.log(`[e2e perf] 1 GiB push: ${pushSeconds.toFixed(1)} s, ${(1024 / pushSeconds).toFixed(0)} MiB/s`);

    const url = `${skiff.url}/v2/big/blob/blobs/${digest}`;
    const head = await request(url, { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(head.headers["content-length"]).toBe(String(size));
    // Read back in 64 MiB ranges: the local R2 simulator (not Skiff: a 3-line worker doing `return new
    // Response((await env.B.get(k)).body)` does the same) holds most of a multipart object in memory while one
    // GET streams it (1 GiB -> ~1.3 GB RSS, and workerd died once at 512 MiB), which would make this test flaky.
    const readRss = await sampleWorkerdRss(skiff.pid);
    const readStarted = performance.now();
    expect(await rangedDigest(url, size, 64 * MiB)).toBe(digest);
    const readSeconds = (performance.now() - readStarted) / 1000;
    const readSamples = readRss.stop();
    report("1 GiB ranged read-back", readSamples);
    console.log(`[e2e perf] 1 GiB read-back: ${readSeconds.toFixed(1)} s, ${(1024 / readSeconds).toFixed(0)} MiB/s`);
    // A whole-blob GET, as docker pull does, on the warm-up blob (small enough for the simulator).
    const whole = await withServerLog(skiff, digestOfGet(`${skiff.url}/v2/big/warmup/blobs/${warmup}`));
    expect(whole.status).toBe(200);
    expect(whole.size).toBe(64 * MiB);
    expect(whole.digest).toBe(warmup);

    for (const s of pushSamples) expect(s.peak - s.baseline, `RSS growth of workerd ${s.pid} during the push`).toBeLessThan(RSS_GROWTH_BOUND);
  });
});
