// `skiff push` against Skiff itself under `wrangler dev` (open auth, the simulated R2 bucket, no direct-upload
// extension there: the R2 binding alone cannot presign), so the chunked fallback: chunk sizes that follow the
// registry's OCI-Chunk-Min-Length, and pushes interrupted with SIGINT and resumed. Pulled back with skopeo.
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeOciLayout, type OciImage } from "../support/oci-layout";
import { startSkiffRegistry, type RegistryUnderTest } from "../support/registries";
import { removeDir, tempDir } from "../support/proc";
import { pullAndCompare, runSkiff } from "./helpers";

const MiB = 1024 * 1024;
// wrangler dev serves https with a self-signed certificate (docs/testing.md#local-https); the CLI under test
// accepts it through Node's own switch, set for its process only.
const TLS = { NODE_TLS_REJECT_UNAUTHORIZED: "0", NODE_NO_WARNINGS: "1" };

describe("skiff push to Skiff (wrangler dev, R2 simulator)", () => {
  let registry: RegistryUnderTest;
  let work: string;
  let image: OciImage;
  let layer: OciImage["blobs"][number];

  beforeAll(async () => {
    work = await tempDir("cli-skiff");
    // 5 MiB parts: OCI-Chunk-Min-Length is 5 MiB, so chunks can be small enough to interrupt a push mid-way.
    registry = await startSkiffRegistry({ vars: { UPLOAD_PART_SIZE_MIB: "5" } });
    image = await makeOciLayout(path.join(work, "layout"), { layerSizes: [48 * MiB, 100_000] });
    layer = image.layers[0];
  });
  afterAll(async () => {
    await registry?.stop();
    if (work) await removeDir(work);
  });

  const args = (dest: string, stateDir: string, extra: string[]) =>
    ["push", "--json", "--state-dir", path.join(work, stateDir), ...extra, `test-layout:${image.dir}`, `${registry.host}/${dest}`];
  const patchesSince = async (n: number) => (await registry.requests()).slice(n).filter((q) => q.method === "PATCH");

  it("sends chunks in whole multiples of the registry's minimum, and the image pulls back intact", async () => {
    const before = (await registry.requests()).length;
    // 12 MiB asked, rounded down to 10 MiB (two 5 MiB parts per chunk).
    const r = await runSkiff(args("team/app:v1", "state", ["--chunk-size", "12"]), { env: TLS });
    expect(r.code, r.stderr).toBe(0);
    expect(r.json.blobs.find((b: any) => b.digest === layer.digest)).toMatchObject({ how: "chunked", bytesSent: layer.size });
    const patches = await patchesSince(before);
    expect(patches.length).toBe(Math.ceil(layer.size / (10 * MiB)));
    expect(patches.every((q) => q.status === 202)).toBe(true);
    await pullAndCompare(`${registry.host}/team/app:v1`, image, path.join(work, "pull1"), false);
  });

  for (const mode of ["random access, digests known", "sequential, digests unknown"]) {
    it(`resumes a push interrupted with SIGINT (${mode}), sending much less than the layer`, async () => {
      const seq = mode.startsWith("seq");
      const env = { ...TLS, ...(seq ? { SKIFF_TEST_SEQUENTIAL: "1", SKIFF_TEST_UNKNOWN_DIGESTS: "1" } : {}) };
      const repo = seq ? "resume/seq" : "resume/random";
      // Own state dir: no memory of team/app, so nothing is mounted and the layer really goes up again.
      const a = args(`${repo}:v1`, `state-${seq ? "seq" : "random"}`, ["--chunk-size", "5"]);
      const before = (await registry.requests()).length;
      const first = await runSkiff(a, { env, interruptWhen: async () => (await patchesSince(before)).length >= 5 });
      expect(first.interrupted).toBe(true);
      expect(first.code, first.stderr).toBe(130);
      const landed = (await patchesSince(before)).filter((q) => q.status === 202).length;
      expect(landed).toBeLessThan(Math.ceil(layer.size / (5 * MiB)));

      const second = await runSkiff(a, { env });
      expect(second.code, second.stderr).toBe(0);
      const big = second.json.blobs.find((b: any) => b.digest === layer.digest);
      expect(big.how).toBe("chunked");
      // Everything the first run got in stays there: the second sends the rest, from a chunk boundary.
      expect((layer.size - big.bytesSent) % (5 * MiB)).toBe(0);
      expect(big.bytesSent).toBeLessThanOrEqual(layer.size - landed * 5 * MiB);
      expect(big.bytesSent).toBeLessThanOrEqual(layer.size - 5 * 5 * MiB);
      expect(second.json.totals.bytesSent).toBeLessThan(layer.size / 2 + 200_000);
      await pullAndCompare(`${registry.host}/${repo}:v1`, image, path.join(work, `pull-${seq ? "seq" : "random"}`), false);
    });
  }
});
