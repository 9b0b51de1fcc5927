// Big images through the edge. Skiff (wrangler dev, MAX_REQUEST_BODY_MB=100 as on Free and Pro) sits behind a local
// stand-in for Cloudflare's edge that refuses request bodies over 100 MB (test/support/edge-cap-proxy.ts). An image
// with a 300 MiB layer lives in a real Docker engine. docker push fails at the cap; `skiff push` of the same image
// succeeds, in OCI chunks on the R2 simulator and straight to the bucket on Ceph RGW, and docker pulls it back with
// the same digests. A push killed mid-way resumes, and the bytes it sends the second time are counted.
import { spawn } from "node:child_process";
import path from "node:path";
import { afterAll, beforeAll, describe, expect } from "vitest";
import { startLocalS3, type LocalS3 } from "../../scripts/lib/dev-server";
import { itWith, unavailable } from "../support/clients";
import { startDockerd, type DockerEngine } from "../support/docker";
import { startEdgeCapProxy, type EdgeCapProxy } from "../support/edge-cap-proxy";
import { makeOciLayout, toDockerArchive, type OciImage } from "../support/oci-layout";
import { removeDir, tempDir } from "../support/proc";
import { startSkiffRegistry, type RegistryUnderTest } from "../support/registries";

const MiB = 1024 * 1024;
const CAP = 100 * 1_000_000; // Free and Pro
const HOST_ARCH = process.arch === "x64" ? "amd64" : process.arch;
const SKIFF_CLI = path.resolve(__dirname, "../../cli/skiff.mjs");
const LOCAL = "e2e/big:v1";

/** What `skiff push --json` prints (docs/skiff-push.md). */
interface PushSummary {
  digest: string;
  blobs: { digest: string; size: number; how: string; bytesSent: number }[];
  totals: { bytesSent: number };
}

let work: string;
let engine: DockerEngine | undefined;
let image: OciImage;
let imageId: string;
let layerSize: number;
const stops: (() => Promise<void>)[] = [];

interface Site {
  skiff: RegistryUnderTest;
  edge: EdgeCapProxy;
}
let r2: Site | undefined;
let s3Site: Site | undefined;
let s3: LocalS3 | undefined;

async function site(vars: Record<string, string>): Promise<Site> {
  const skiff = await startSkiffRegistry({ vars: { MAX_REQUEST_BODY_MB: "100", ...vars } });
  stops.push(() => skiff.stop());
  const edge = await startEdgeCapProxy(skiff.url, CAP);
  stops.push(() => edge.stop());
  return { skiff, edge };
}

/** `skiff push` as a user runs it; the engine's socket as DOCKER_HOST. Never throws on failure (the result says). */
function skiffPush(args: string[], opts: { stateDir: string; killWhen?: (stderr: string) => boolean }) {
  const child = spawn(process.execPath, [SKIFF_CLI, "push", "--json", "--state-dir", opts.stateDir, ...args], {
    env: { ...process.env, DOCKER_HOST: engine ? `unix://${engine.socket}` : "", NODE_TLS_REJECT_UNAUTHORIZED: "0", NODE_NO_WARNINGS: "1" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  let killed = false;
  child.stdout.on("data", (c) => (stdout += c));
  child.stderr.on("data", (c) => {
    stderr += c;
    if (!killed && opts.killWhen?.(stderr)) {
      killed = true;
      child.kill("SIGKILL"); // as a network drop or a crash: no chance to clean up or save anything more
    }
  });
  return new Promise<{ code: number | null; stdout: string; stderr: string; killed: boolean; summary?: PushSummary }>((resolve) => {
    child.on("close", (code) => {
      let summary: PushSummary | undefined;
      try {
        summary = code === 0 ? JSON.parse(stdout) : undefined;
      } catch {
        /* reported by the caller's expectations */
      }
      resolve({ code, stdout, stderr, killed, summary });
    });
  });
}

/** docker pull of `ref` into an engine that has no copy of the image; returns its image id and repo digests. */
async function dockerPullFresh(ref: string): Promise<{ id: string; repoDigests: string[] }> {
  await engine!.docker(["rmi", "--force", ref], { allowFail: true });
  const pulled = await engine!.docker(["pull", ref], { timeoutMs: 600_000, allowFail: true });
  expect(pulled.code, pulled.stdout + pulled.stderr).toBe(0);
  const out = (await engine!.docker(["image", "inspect", "--format", "{{.Id}} {{json .RepoDigests}}", ref])).stdout.trim();
  const [id, digests] = [out.slice(0, out.indexOf(" ")), JSON.parse(out.slice(out.indexOf(" ") + 1)) as string[]];
  await engine!.docker(["rmi", "--force", ref], { allowFail: true });
  return { id, repoDigests: digests };
}

const needs = ["docker", "skopeo", "ceph"] as const;

beforeAll(async () => {
  if (unavailable("docker") || unavailable("skopeo")) return;
  work = await tempDir("bigpush");
  image = await makeOciLayout(path.join(work, "img"), { layerSizes: [300 * MiB], tag: "v1", architecture: HOST_ARCH });
  const tar = path.join(work, "img.tar");
  await toDockerArchive(image, tar, LOCAL);
  engine = await startDockerd();
  stops.push(() => engine!.stop());
  await engine.docker(["load", "-q", "-i", tar]);
  await removeDir(tar);
  imageId = (await engine.docker(["image", "inspect", "--format", "{{.Id}}", LOCAL])).stdout.trim();
  layerSize = image.layers[0].size;
  r2 = await site({});
  if (!unavailable("ceph")) {
    s3 = await startLocalS3();
    stops.push(() => s3!.stop());
    s3Site = await site(s3.vars);
  }
}, 600_000);

afterAll(async () => {
  for (const stop of stops.reverse()) await stop().catch(() => {});
  if (work) await removeDir(work);
});

describe("a 300 MiB layer behind a 100 MB edge", () => {
  itWith([...needs], "docker push fails at the edge's cap (Cloudflare's HTML 413)", async () => {
    const ref = `${r2!.edge.host}/big/docker:v1`;
    await engine!.docker(["tag", LOCAL, ref]);
    const refusedBefore = r2!.edge.refused;
    const push = await engine!.docker(["push", ref], { allowFail: true, timeoutMs: 600_000 });
    expect(push.code).not.toBe(0);
    expect(push.stdout + push.stderr).toMatch(/413/);
    expect(r2!.edge.refused).toBeGreaterThan(refusedBefore);
  });

  itWith([...needs], "docker push straight to `npm start` (no edge) fails with Skiff's own 413, which says what to do", async () => {
    const ref = `${r2!.skiff.host}/big/docker-direct:v1`;
    await engine!.docker(["tag", LOCAL, ref]);
    const push = await engine!.docker(["push", ref], { allowFail: true, timeoutMs: 600_000 });
    expect(push.code).not.toBe(0);
    expect(push.stdout + push.stderr).toMatch(/skiff push/);
  });

  itWith([...needs], "skiff push from the Docker engine through the edge: OCI chunks on R2; docker pull gets the same image", async () => {
    const ref = `${r2!.edge.host}/big/chunked:v1`;
    const push = await skiffPush([`docker-daemon:${LOCAL}`, ref], { stateDir: path.join(work, "state-r2") });
    expect(push.code, push.stderr).toBe(0);
    const layer = push.summary!.blobs.find((b) => b.size >= 300 * MiB)!;
    expect(layer.how).toBe("chunked");
    const pulled = await dockerPullFresh(ref);
    expect(pulled.id).toBe(imageId); // the same config, so the same layers (docker checks each diff id)
    expect(pulled.repoDigests).toContain(`${r2!.edge.host}/big/chunked@${push.summary!.digest}`);
  });

  itWith([...needs], "skiff push straight to the bucket on S3 (RGW): layer bytes bypass the edge and the Worker", async () => {
    const ref = `${s3Site!.edge.host}/big/direct:v1`;
    const forwardedBefore = s3Site!.edge.bytesForwarded;
    const push = await skiffPush([`docker-daemon:${LOCAL}`, ref], { stateDir: path.join(work, "state-s3") });
    expect(push.code, push.stderr).toBe(0);
    const layer = push.summary!.blobs.find((b) => b.size >= 300 * MiB)!;
    expect(layer.how).toBe("direct");
    // Through the edge went only requests, the config and the manifest: not the layer.
    expect(s3Site!.edge.bytesForwarded - forwardedBefore).toBeLessThan(1 * MiB);
    const pulled = await dockerPullFresh(ref);
    expect(pulled.id).toBe(imageId);
    expect(pulled.repoDigests).toContain(`${s3Site!.edge.host}/big/direct@${push.summary!.digest}`);
  });

  for (const backend of ["r2", "s3"] as const) {
    itWith([...needs], `a push killed mid-way resumes from what the registry holds (${backend === "r2" ? "chunked on R2" : "direct on S3"})`, async () => {
      const s = backend === "r2" ? r2! : s3Site!;
      const ref = `${s.edge.host}/big/resumed-${backend}:v1`;
      const stateDir = path.join(work, `state-resume-${backend}`);
      // An OCI layout source (random access), parts and chunks of 16 MiB so that a kill lands between them.
      const args = ["--part-size", "16", "--chunk-size", "16", "--parts", "2", `oci:${image.dir}:v1`, ref];
      const first = await skiffPush(args, { stateDir, killWhen: (err) => sentMiB(err) >= 180 });
      expect(first.killed, `${first.stderr}`).toBe(true);
      const second = await skiffPush(args, { stateDir });
      expect(second.code, second.stderr).toBe(0);
      const layer = second.summary!.blobs.find((b) => b.digest === image.layers[0].digest)!;
      console.log(`[e2e] resume ${backend}: layer ${layerSize} bytes; second run sent ${layer.bytesSent} bytes (${((100 * layer.bytesSent) / layerSize).toFixed(1)}%)`);
      expect(layer.bytesSent).toBeLessThan(layerSize * 0.6);
      const pulled = await dockerPullFresh(ref);
      expect(pulled.repoDigests).toContain(`${s.edge.host}/big/resumed-${backend}@${image.manifest.digest}`);
    });
  }
});

/** The most MiB the CLI's plain progress lines (stderr, not a TTY) say it has sent of one blob. */
function sentMiB(stderr: string): number {
  let most = 0;
  for (const m of stderr.matchAll(/([\d.]+) MB\s*\/\s*[\d.]+ MB/g)) most = Math.max(most, (Number(m[1]) * 1e6) / MiB);
  return most;
}
