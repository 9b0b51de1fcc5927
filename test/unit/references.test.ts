// manifestReferences / referencesOf: the digests garbage collection marks from a stored manifest (docs/gc.md).
import { describe, it, expect } from "vitest";
import { manifestReferences, referencesOf } from "../../src/protocol/references";
import { parseManifest, MAX_MANIFEST_REFERENCES } from "../../src/protocol/manifest";
import { MEDIA_TYPES } from "../../src/protocol/mediatypes";
import { RegistryError } from "../../src/protocol/errors";
import { formatDigest } from "../../src/protocol/digest";

const d = (c: string) => `sha256:${c.repeat(64)}`;
const d512 = (c: string) => `sha512:${c.repeat(128)}`;
const enc = (v: unknown) => new TextEncoder().encode(typeof v === "string" ? v : JSON.stringify(v));
const show = (r: ReturnType<typeof manifestReferences>) => ({
  kind: r.kind,
  blobs: r.blobs.map(formatDigest),
  manifests: r.manifests.map(formatDigest),
  subject: r.subject ? formatDigest(r.subject) : undefined,
});

const CONFIG = { mediaType: "application/vnd.oci.image.config.v1+json", digest: d("c"), size: 10 };
const layer = (c: string, extra: Record<string, unknown> = {}) => ({ mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: d(c), size: 20, ...extra });
const image = (extra: Record<string, unknown> = {}) => ({ schemaVersion: 2, mediaType: MEDIA_TYPES.ociManifest, config: CONFIG, layers: [layer("1"), layer("2")], ...extra });
const child = (c: string) => ({ mediaType: MEDIA_TYPES.ociManifest, digest: d(c), size: 300, platform: { os: "linux", architecture: "amd64" } });
const index = (extra: Record<string, unknown> = {}) => ({ schemaVersion: 2, mediaType: MEDIA_TYPES.ociIndex, manifests: [child("a"), child("b")], ...extra });
const SUBJECT = { mediaType: MEDIA_TYPES.ociManifest, digest: d("5"), size: 400 };

function invalid(mediaType: string | null, doc: unknown): RegistryError {
  try {
    manifestReferences(mediaType, doc instanceof Uint8Array ? doc : enc(doc));
  } catch (err) {
    expect(err).toBeInstanceOf(RegistryError);
    expect((err as RegistryError).code).toBe("MANIFEST_INVALID");
    return err as RegistryError;
  }
  throw new Error("expected MANIFEST_INVALID");
}

describe("manifestReferences: image manifests", () => {
  it("an OCI image: the config, then the layers; no children, no subject", () => {
    expect(show(manifestReferences(MEDIA_TYPES.ociManifest, enc(image())))).toEqual({
      kind: "image",
      blobs: [d("c"), d("1"), d("2")],
      manifests: [],
      subject: undefined,
    });
  });

  it("a Docker schema2 manifest", () => {
    const doc = {
      schemaVersion: 2,
      mediaType: MEDIA_TYPES.dockerManifest,
      config: { mediaType: "application/vnd.docker.container.image.v1+json", digest: d("c"), size: 1 },
      layers: [{ mediaType: "application/vnd.docker.image.rootfs.diff.tar.gzip", digest: d("3"), size: 5 }],
    };
    expect(show(manifestReferences(MEDIA_TYPES.dockerManifest, enc(doc)))).toMatchObject({ kind: "image", blobs: [d("c"), d("3")] });
  });

  it("names a layer repeated in one manifest once, keeping the order of first appearance", () => {
    const refs = manifestReferences(null, enc(image({ layers: [layer("2"), layer("1"), layer("2"), layer("1"), layer("3")] })));
    expect(show(refs).blobs).toEqual([d("c"), d("2"), d("1"), d("3")]);
  });

  it("names a config that is also a layer once (an artifact whose config is the empty blob, used as a layer too)", () => {
    const empty = { mediaType: MEDIA_TYPES.ociEmpty, digest: d("4"), size: 2 };
    const refs = manifestReferences(null, enc(image({ config: empty, layers: [{ ...empty }] })));
    expect(show(refs).blobs).toEqual([d("4")]);
  });

  it("an image with no layers references its config alone", () => {
    expect(show(manifestReferences(null, enc(image({ layers: [] })))).blobs).toEqual([d("c")]);
  });

  it("keeps sha512 digests as they are, distinct from sha256 ones", () => {
    const refs = manifestReferences(null, enc(image({ layers: [layer("1", { digest: d512("1") }), layer("1")] })));
    expect(show(refs).blobs).toEqual([d("c"), d512("1"), d("1")]);
    expect(refs.blobs[1].algorithm).toBe("sha512");
  });

  it("marks foreign layers that carry urls too, after the others: a push need not hold them, but one that did keeps them", () => {
    const foreign = { mediaType: "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", digest: d("f"), size: 9, urls: ["https://example.com/l"] };
    const refs = manifestReferences(MEDIA_TYPES.dockerManifest, enc(image({ mediaType: MEDIA_TYPES.dockerManifest, layers: [foreign, layer("1")] })));
    expect(show(refs).blobs).toEqual([d("c"), d("1"), d("f")]);
  });

  it("keeps a foreign layer without urls: the registry had to hold it", () => {
    const foreign = { mediaType: "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip", digest: d("f"), size: 9 };
    expect(show(manifestReferences(null, enc(image({ layers: [foreign] })))).blobs).toEqual([d("c"), d("f")]);
  });

  it("keeps a layer of an ordinary type even when it carries urls", () => {
    expect(show(manifestReferences(null, enc(image({ layers: [layer("1", { urls: ["https://example.com/x"] })] })))).blobs).toEqual([d("c"), d("1")]);
  });

  it("an image with a subject (a signature or SBOM) references the subject as a manifest, apart from its blobs", () => {
    const refs = manifestReferences(null, enc(image({ subject: SUBJECT, artifactType: "application/vnd.example.sig" })));
    expect(show(refs)).toEqual({ kind: "image", blobs: [d("c"), d("1"), d("2")], manifests: [], subject: d("5") });
  });

  it("a subject whose digest is also a layer's stays in both places", () => {
    const refs = manifestReferences(null, enc(image({ layers: [layer("5")], subject: SUBJECT })));
    expect(show(refs)).toMatchObject({ blobs: [d("c"), d("5")], subject: d("5") });
  });
});

describe("manifestReferences: indexes", () => {
  it("an OCI index references its children, no blobs", () => {
    expect(show(manifestReferences(MEDIA_TYPES.ociIndex, enc(index())))).toEqual({ kind: "index", blobs: [], manifests: [d("a"), d("b")], subject: undefined });
  });

  it("a Docker manifest list", () => {
    const doc = { schemaVersion: 2, mediaType: MEDIA_TYPES.dockerManifestList, manifests: [{ ...child("a"), mediaType: MEDIA_TYPES.dockerManifest }] };
    expect(show(manifestReferences(MEDIA_TYPES.dockerManifestList, enc(doc)))).toMatchObject({ kind: "index", manifests: [d("a")] });
  });

  it("names a child listed twice (two platforms, one manifest) once", () => {
    const refs = manifestReferences(null, enc(index({ manifests: [child("b"), child("a"), child("b")] })));
    expect(show(refs).manifests).toEqual([d("b"), d("a")]);
  });

  it("an empty index references nothing", () => {
    expect(show(manifestReferences(null, enc(index({ manifests: [] }))))).toEqual({ kind: "index", blobs: [], manifests: [], subject: undefined });
  });

  it("an index with a subject", () => {
    expect(show(manifestReferences(null, enc(index({ subject: SUBJECT }))))).toMatchObject({ kind: "index", manifests: [d("a"), d("b")], subject: d("5") });
  });

  it("an index without mediaType, typed by the media type it was stored with", () => {
    const { mediaType: _, ...doc } = index();
    expect(show(manifestReferences(MEDIA_TYPES.ociIndex, enc(doc))).manifests).toEqual([d("a"), d("b")]);
  });

  it("an index without any media type is recognised by its manifests field", () => {
    const { mediaType: _, ...doc } = index();
    expect(manifestReferences(null, enc(doc)).kind).toBe("index");
  });
});

describe("manifestReferences: the media type it was stored with", () => {
  it("takes the body's mediaType over an unrelated stored type (as parseManifest does)", () => {
    expect(manifestReferences("application/octet-stream", enc(image())).kind).toBe("image");
  });

  it("accepts a Content-Type with parameters", () => {
    expect(manifestReferences(`${MEDIA_TYPES.ociManifest}; charset=utf-8`, enc(image())).blobs).toHaveLength(3);
  });

  it("refuses a body whose mediaType contradicts the stored manifest type", () => {
    invalid(MEDIA_TYPES.ociIndex, image());
  });
});

describe("manifestReferences: never an empty answer for bad bytes", () => {
  // A mark that took a manifest it cannot read as referencing nothing would free its blobs: it must throw instead.
  it.each([
    ["not JSON", enc("{")],
    ["not UTF-8", new Uint8Array([0x7b, 0xff, 0x7d])],
    ["a JSON array", []],
    ["schemaVersion 1", { ...image(), schemaVersion: 1 }],
    ["an image without config", { schemaVersion: 2, mediaType: MEDIA_TYPES.ociManifest, layers: [] }],
    ["an index without manifests", { schemaVersion: 2, mediaType: MEDIA_TYPES.ociIndex }],
    ["a layer with a bad digest", image({ layers: [layer("1", { digest: "sha256:nothex" })] })],
    ["a child with a bad digest", index({ manifests: [{ ...child("a"), digest: "md5:abc" }] })],
    ["a subject with a bad digest", image({ subject: { ...SUBJECT, digest: "sha256:" } })],
    ["an unknown manifest media type", { ...image(), mediaType: "application/json" }],
  ])("%s", (_, doc) => {
    invalid(null, doc);
  });

  it("more descriptors than MAX_MANIFEST_REFERENCES", () => {
    const layers = Array.from({ length: MAX_MANIFEST_REFERENCES }, () => layer("1"));
    invalid(null, image({ layers }));
  });

  it("exactly MAX_MANIFEST_REFERENCES descriptors still parse, and collapse to the distinct digests", () => {
    const layers = Array.from({ length: MAX_MANIFEST_REFERENCES - 1 }, (_, i) => layer(i % 2 ? "1" : "2"));
    expect(show(manifestReferences(null, enc(image({ layers })))).blobs).toEqual([d("c"), d("2"), d("1")]);
  });
});

describe("referencesOf", () => {
  it("answers for an already parsed manifest what manifestReferences answers for its bytes (no second parse needed)", () => {
    const docs = [image({ subject: SUBJECT, layers: [layer("1"), layer("1")] }), index({ subject: SUBJECT })];
    for (const doc of docs) {
      const bytes = enc(doc);
      expect(show(referencesOf(parseManifest(bytes, null)))).toEqual(show(manifestReferences(null, bytes)));
    }
  });

  it("does not share arrays with the parsed manifest", () => {
    const parsed = parseManifest(enc(image()), null);
    const refs = referencesOf(parsed);
    refs.blobs.pop();
    expect(parsed.blobs).toHaveLength(3);
  });
});
