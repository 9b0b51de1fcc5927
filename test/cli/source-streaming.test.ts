// Sources stream: a 300 MiB layer read through oci: and docker-archive: (tar-stream, sequential) by a slow reader
// must not grow the test process's memory by anything near the layer's size. The reader pauses every 8 MiB, so a
// source that read ahead without backpressure would pile the file up in memory.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createHash } from "node:crypto";
import path from "node:path";
import { openSource } from "../../cli/sources/index";
import type { ImageSource } from "../../cli/types";
import { makeOciLayout, toDockerArchive, type OciImage } from "../support/oci-layout";
import { removeDir, sleep, tempDir } from "../support/proc";

const MiB = 1 << 20;
const LAYER = 300 * MiB;
const MAX_GROWTH = 80 * MiB;

let root: string;
let image: OciImage;
let tar: string;

beforeAll(async () => {
  root = await tempDir("cli-stream");
  image = await makeOciLayout(path.join(root, "layout"), { layerSizes: [LAYER], tag: "big" });
  tar = path.join(root, "big.tar");
  await toDockerArchive(image, tar, "big:v1");
}, 300_000);
afterAll(async () => {
  await removeDir(root);
});

/** Reads every blob slowly; returns the digests read and the peak RSS growth over the start. */
async function readSlowly(source: ImageSource): Promise<{ digests: string[]; growth: number; largest: number }> {
  global.gc?.();
  const start = process.memoryUsage().rss;
  let peak = start;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
  const digests: string[] = [];
  let largest = 0;
  try {
    for await (const blob of source.blobs()) {
      const h = createHash("sha256");
      let n = 0;
      let sinceSleep = 0;
      for await (const c of blob.open(0)) {
        h.update(c as Buffer);
        n += (c as Buffer).byteLength;
        sinceSleep += (c as Buffer).byteLength;
        if (sinceSleep >= 8 * MiB) {
          sinceSleep = 0;
          await sleep(15);
        }
      }
      const digest = `sha256:${h.digest("hex")}`;
      if (!blob.digest) blob.digested?.(digest);
      else expect(digest).toBe(blob.digest);
      digests.push(digest);
      largest = Math.max(largest, n);
    }
  } finally {
    clearInterval(sampler);
  }
  return { digests, growth: peak - start, largest };
}

describe("sources stream a 300 MiB layer", () => {
  it("oci: layout", async () => {
    const r = await readSlowly(await openSource(`oci:${image.dir}:big`));
    expect(r.digests).toContain(image.layers[0].digest);
    console.log(`oci: RSS growth ${(r.growth / MiB).toFixed(1)} MiB reading a ${(r.largest / MiB).toFixed(0)} MiB blob`);
    expect(r.growth).toBeLessThan(MAX_GROWTH);
  });

  it("docker-archive: (a tar read once, sequentially)", async () => {
    const source = await openSource(`docker-archive:${tar}`);
    const r = await readSlowly(source);
    expect(r.largest).toBeGreaterThanOrEqual(LAYER);
    expect(r.digests).toContain(image.layers[0].diffId);
    const doc = JSON.parse((await source.manifests())[0].bytes.toString());
    expect(doc.layers[0].digest).toBe(image.layers[0].diffId);
    console.log(`docker-archive: RSS growth ${(r.growth / MiB).toFixed(1)} MiB reading a ${(r.largest / MiB).toFixed(0)} MiB layer`);
    expect(r.growth).toBeLessThan(MAX_GROWTH);
  });
});
