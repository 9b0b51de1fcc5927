// oci:DIR[:TAG] on layouts built on disk: one image, a multi-platform index with referrers, and damaged layouts.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createHash } from "node:crypto";
import { readFile, rm, truncate, writeFile } from "node:fs/promises";
import path from "node:path";
import { openSource } from "../../cli/sources/index";
import { makeOciLayout, type OciImage } from "../support/oci-layout";
import { removeDir, tempDir } from "../support/proc";
import { consumeAll, makeMultiPlatformLayout, type MultiPlatform } from "./layouts";

let root: string;
beforeAll(async () => {
  root = await tempDir("cli-oci");
});
afterAll(async () => {
  await removeDir(root);
});

describe("oci: one image", () => {
  let image: OciImage;
  beforeAll(async () => {
    image = await makeOciLayout(path.join(root, "one"), { layerSizes: [10_000, 20_000], tag: "v1" });
  });

  it("yields every blob with its digest and size, and the manifest as the top one", async () => {
    for (const spec of [`oci:${image.dir}`, `oci:${image.dir}:v1`]) {
      const source = await openSource(spec);
      expect(source.randomAccess).toBe(true);
      const blobs = await consumeAll(source);
      expect([...blobs.keys()].sort()).toEqual(image.blobs.map((b) => b.digest).sort());
      for (const b of image.blobs) expect(blobs.get(b.digest)).toMatchObject({ sha: b.digest, size: b.size, resumeKey: b.digest });
      const manifests = await source.manifests();
      expect(manifests).toHaveLength(1);
      expect(manifests[0]).toMatchObject({ digest: image.manifest.digest, mediaType: image.manifest.mediaType, top: true });
      expect(createHash("sha256").update(manifests[0].bytes).digest("hex")).toBe(image.manifest.digest.slice(7));
      await source.close();
    }
  });

  it("opens a blob at any offset, many times", async () => {
    const source = await openSource(`oci:${image.dir}:v1`);
    const layer = image.layers[0];
    const whole = await readFile(path.join(image.dir, "blobs", "sha256", layer.digest.slice(7)));
    for await (const blob of source.blobs()) {
      if (blob.digest !== layer.digest) continue;
      for (const offset of [0, 1, 4321, layer.size - 1, layer.size]) {
        const parts: Buffer[] = [];
        for await (const c of blob.open(offset)) parts.push(c as Buffer);
        expect(Buffer.concat(parts).equals(whole.subarray(offset))).toBe(true);
      }
      expect(() => blob.open(layer.size + 1)).toThrow(/outside/);
    }
  });

  it("names the tags it has when TAG is unknown", async () => {
    await expect(openSource(`oci:${image.dir}:nope`)).rejects.toThrow(/no image named "nope" \(it has: v1\)/);
  });
});

describe("oci: a multi-platform index with referrers", () => {
  let mp: MultiPlatform;
  beforeAll(async () => {
    mp = await makeMultiPlatformLayout(path.join(root, "multi"));
  });

  it("pushes children before the index and referrers after their subjects, with every blob of all of them", async () => {
    const source = await openSource(`oci:${mp.dir}:multi`);
    const blobs = await consumeAll(source);
    expect(new Set(blobs.keys())).toEqual(mp.blobs);
    const manifests = await source.manifests();
    const order = manifests.map((m) => m.digest);
    const [amd, arm] = mp.images.map((i) => i.manifest.digest);
    expect(new Set(order)).toEqual(new Set([amd, arm, mp.index.digest, mp.signature.digest, mp.sbom.digest]));
    expect(order.indexOf(amd)).toBeLessThan(order.indexOf(mp.index.digest));
    expect(order.indexOf(arm)).toBeLessThan(order.indexOf(mp.index.digest));
    expect(order.indexOf(mp.index.digest)).toBeLessThan(order.indexOf(mp.signature.digest));
    expect(order.indexOf(amd)).toBeLessThan(order.indexOf(mp.sbom.digest)); // found in blobs/ only
    expect(manifests.filter((m) => m.top).map((m) => m.digest)).toEqual([mp.index.digest]);
  });

  it("pushes one child alone with its own referrer, not the index's", async () => {
    const source = await openSource(`oci:${mp.dir}:amd`);
    const manifests = await source.manifests();
    expect(manifests.map((m) => m.digest)).toEqual([mp.images[0].manifest.digest, mp.sbom.digest]);
  });

  it("refuses to guess among several entries", async () => {
    await expect(openSource(`oci:${mp.dir}`)).rejects.toThrow(/index.json lists 3 images; name one with oci:DIR:TAG/);
  });
});

describe("oci: damaged layouts fail with a message naming the file", () => {
  it("a manifest that is not JSON, a blob of the wrong size, a missing child", async () => {
    const dir = path.join(root, "bad");
    const image = await makeOciLayout(dir, { layerSizes: [1000], tag: "v1" });
    const manifestFile = path.join(dir, "blobs", "sha256", image.manifest.digest.slice(7));
    const good = await readFile(manifestFile);

    await writeFile(manifestFile, good.subarray(0, good.length - 1));
    await expect(openSource(`oci:${dir}:v1`)).rejects.toThrow(new RegExp(`${manifestFile} is ${good.length - 1} bytes, its descriptor says ${good.length}`));
    await writeFile(manifestFile, Buffer.concat([good.subarray(0, good.length - 1), Buffer.from("!")]));
    await expect(openSource(`oci:${dir}:v1`)).rejects.toThrow(/does not match its digest/);
    await writeFile(manifestFile, good);

    const layerFile = path.join(dir, "blobs", "sha256", image.layers[0].digest.slice(7));
    await truncate(layerFile, 10);
    await expect(openSource(`oci:${dir}:v1`)).rejects.toThrow(new RegExp(`${layerFile} is 10 bytes, its descriptor says ${image.layers[0].size}`));
    await rm(layerFile);
    await expect(openSource(`oci:${dir}:v1`)).rejects.toThrow(/blob sha256:[0-9a-f]{64} \(application\/vnd.oci.image.layer.v1.tar\+gzip\) is missing/);

    await writeFile(path.join(dir, "index.json"), "{not json");
    await expect(openSource(`oci:${dir}:v1`)).rejects.toThrow(new RegExp(`${path.join(dir, "index.json")} is not valid JSON`));
    await expect(openSource(`oci:${path.join(root, "nothing-here")}`)).rejects.toThrow(/is not an OCI image layout: .*oci-layout does not exist/);
  });

  it("an index whose child is missing says which platform", async () => {
    const mp = await makeMultiPlatformLayout(path.join(root, "multi-bad"));
    await rm(path.join(mp.dir, "blobs", "sha256", mp.images[1].manifest.digest.slice(7)));
    await expect(openSource(`oci:${mp.dir}:multi`)).rejects.toThrow(/lists manifest sha256:[0-9a-f]{64} \(linux\/arm64\), which the source does not hold/);
  });
});
