// `skiff push` against CNCF distribution 2.8.2 (the reference registry, no Skiff extension): PATCH chunks, skips,
// cross-repository mounts, a sequential source whose digests must be computed, and a push interrupted and resumed.
// Every pushed image is pulled back with skopeo and compared byte for byte.
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeOciLayout, type OciImage } from "../support/oci-layout";
import { startDistribution, type RegistryUnderTest } from "../support/registries";
import { removeDir, tempDir } from "../support/proc";
import { pullAndCompare, runSkiff } from "./helpers";

const MiB = 1024 * 1024;

describe("skiff push to distribution 2.8.2", () => {
  let registry: RegistryUnderTest;
  let work: string;
  let image: OciImage;
  let layer: OciImage["blobs"][number];

  beforeAll(async () => {
    work = await tempDir("cli-dist");
    registry = await startDistribution();
    image = await makeOciLayout(path.join(work, "layout"), { layerSizes: [40 * MiB, 200_000] });
    layer = image.layers[0];
  });
  afterAll(async () => {
    await registry?.stop();
    if (work) await removeDir(work);
  });

  const push = (dest: string, extra: string[] = [], env: Record<string, string> = {}, stateDir = "state") =>
    runSkiff(["push", "--insecure", "--json", "--state-dir", path.join(work, stateDir), ...extra, `test-layout:${image.dir}`, `${registry.host}/${dest}`], { env });

  it("pushes a 40 MiB layer in 8 MiB PATCH chunks, and the image pulls back intact", async () => {
    const r = await push("team/app:v1", ["--chunk-size", "8"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json.digest).toBe(image.manifest.digest);
    const big = r.json.blobs.find((b: any) => b.digest === layer.digest);
    expect(big).toMatchObject({ how: "chunked", size: layer.size, bytesSent: layer.size });
    expect(r.json.totals.bytesSent).toBe(image.blobs.reduce((n, b) => n + b.size, 0));
    expect(r.json.blobs.map((b: any) => b.digest)).toEqual(image.blobs.map((b) => b.digest));
    // ceil(size / 8 MiB) PATCHes, all 202 (distribution's answer to a chunk).
    const patches = (await registry.requests()).filter((q) => q.method === "PATCH");
    expect(patches.length).toBe(Math.ceil(layer.size / (8 * MiB)));
    expect(patches.every((q) => q.status === 202)).toBe(true);
    expect(r.stderr).toMatch(/pushed 42\.\d MB in [\d.]+ s \([\d.]+ [kMG]?B\/s\) \[chunked\]/);
    await pullAndCompare(`${registry.host}/team/app:v1`, image, path.join(work, "pull1"), false);
  });

  it("skips blobs the registry has, and mounts them from a repository it pushed them to before", async () => {
    const again = await push("team/app:v1");
    expect(again.code, again.stderr).toBe(0);
    expect(again.json.blobs.map((b: any) => b.how)).toEqual(image.blobs.map(() => "skipped"));
    expect(again.json.totals.bytesSent).toBe(0);
    expect(again.stderr).toContain("skipped (exists)");

    const other = await push("other/app:v1");
    expect(other.code, other.stderr).toBe(0);
    expect(other.json.blobs.map((b: any) => [b.how, b.mountedFrom])).toEqual(image.blobs.map(() => ["mounted", "team/app"]));
    expect(other.json.totals.bytesSent).toBe(0);
    await pullAndCompare(`${registry.host}/other/app:v1`, image, path.join(work, "pull2"), false);
  });

  it("hashes a sequential source that does not know its digests, and pushes it intact", async () => {
    const r = await push("seq/app:v1", ["--chunk-size", "8"], { SKIFF_TEST_SEQUENTIAL: "1", SKIFF_TEST_UNKNOWN_DIGESTS: "1" }, "state-seq");
    expect(r.code, r.stderr).toBe(0);
    expect(r.json.blobs.map((b: any) => b.digest)).toEqual(image.blobs.map((b) => b.digest));
    expect(r.json.blobs.find((b: any) => b.digest === layer.digest)).toMatchObject({ how: "chunked", bytesSent: layer.size });
    await pullAndCompare(`${registry.host}/seq/app:v1`, image, path.join(work, "pull3"), false);
    // The state learned the digests: a rerun checks and skips them.
    const again = await push("seq/app:v1", [], { SKIFF_TEST_SEQUENTIAL: "1", SKIFF_TEST_UNKNOWN_DIGESTS: "1" }, "state-seq");
    expect(again.code, again.stderr).toBe(0);
    expect(again.json.blobs.map((b: any) => b.how)).toEqual(image.blobs.map(() => "skipped"));
  });

  for (const mode of ["random access, digests known", "sequential, digests unknown"]) {
    it(`resumes an interrupted chunked push (${mode}) and sends only what is missing`, async () => {
      const env: Record<string, string> = mode.startsWith("seq") ? { SKIFF_TEST_SEQUENTIAL: "1", SKIFF_TEST_UNKNOWN_DIGESTS: "1" } : {};
      const repo = mode.startsWith("seq") ? "resume/seq" : "resume/random";
      const stateDir = path.join(work, `state-${repo.replace("/", "-")}`);
      const args = ["push", "--insecure", "--json", "--chunk-size", "1", "--state-dir", stateDir, `test-layout:${image.dir}`, `${registry.host}/${repo}:v1`];
      const before = (await registry.requests()).length;
      // Interrupt once the registry has taken 12 one-MiB chunks of this push.
      const first = await runSkiff(args, {
        env,
        interruptWhen: async () => (await registry.requests()).slice(before).filter((q) => q.method === "PATCH").length >= 12,
      });
      expect(first.interrupted).toBe(true);
      expect(first.code, first.stderr).toBe(130);
      expect(first.stderr).toContain("run the same command again to resume");

      const second = await runSkiff(args, { env });
      expect(second.code, second.stderr).toBe(0);
      const big = second.json.blobs.find((b: any) => b.digest === layer.digest);
      expect(big.how).toBe("chunked");
      expect(big.bytesSent).toBeGreaterThan(0);
      expect(big.bytesSent).toBeLessThanOrEqual(layer.size - 12 * MiB);
      await pullAndCompare(`${registry.host}/${repo}:v1`, image, path.join(work, `pull-${repo.replace("/", "-")}`), false);
    });
  }
});
