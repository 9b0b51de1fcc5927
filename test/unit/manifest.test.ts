import { describe, it, expect } from "vitest";
import { parseManifest, referrerDescriptor } from "../../src/protocol/manifest";
import { MEDIA_TYPES } from "../../src/protocol/mediatypes";
import { RegistryError } from "../../src/protocol/errors";
import { formatDigest, parseDigest } from "../../src/protocol/digest";

const d = (c: string) => `sha256:${c.repeat(64)}`;
const CONFIG = { mediaType: "application/vnd.oci.image.config.v1+json", digest: d("c"), size: 10 };
const LAYER = { mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: d("1"), size: 20 };

const enc = (v: unknown) => new TextEncoder().encode(typeof v === "string" ? v : JSON.stringify(v));
const image = (extra: Record<string, unknown> = {}) => ({ schemaVersion: 2, mediaType: MEDIA_TYPES.ociManifest, config: CONFIG, layers: [LAYER], ...extra });
const index = (extra: Record<string, unknown> = {}) => ({
  schemaVersion: 2,
  mediaType: MEDIA_TYPES.ociIndex,
  manifests: [{ mediaType: MEDIA_TYPES.ociManifest, digest: d("e"), size: 300, platform: { os: "linux", architecture: "amd64" } }],
  ...extra,
});

function invalid(doc: unknown, contentType: string | null = null): RegistryError {
  try {
    parseManifest(enc(doc), contentType);
  } catch (err) {
    expect(err).toBeInstanceOf(RegistryError);
    expect((err as RegistryError).code).toBe("MANIFEST_INVALID");
    expect((err as RegistryError).status).toBe(400);
    return err as RegistryError;
  }
  throw new Error("expected MANIFEST_INVALID");
}

describe("parseManifest: image manifests", () => {
  it("reads an OCI image manifest: config and layers are required blobs", () => {
    const m = parseManifest(enc(image()), MEDIA_TYPES.ociManifest);
    expect(m.kind).toBe("image");
    expect(m.mediaType).toBe(MEDIA_TYPES.ociManifest);
    expect(m.blobs.map(formatDigest)).toEqual([d("c"), d("1")]);
    expect(m.manifests).toEqual([]);
    expect(m.subject).toBeUndefined();
    expect(m.artifactType).toBe(CONFIG.mediaType); // referrers report the config type when artifactType is absent
  });

  it("reads a Docker schema2 manifest", () => {
    const doc = {
      schemaVersion: 2,
      mediaType: MEDIA_TYPES.dockerManifest,
      config: { mediaType: "application/vnd.docker.container.image.v1+json", digest: d("c"), size: 1 },
      layers: [{ mediaType: "application/vnd.docker.image.rootfs.diff.tar.gzip", digest: d("2"), size: 5 }],
    };
    const m = parseManifest(enc(doc), MEDIA_TYPES.dockerManifest);
    expect(m.kind).toBe("image");
    expect(m.mediaType).toBe(MEDIA_TYPES.dockerManifest);
    expect(m.blobs).toHaveLength(2);
  });

  it("accepts an image with no layers (artifacts)", () => {
    const m = parseManifest(enc(image({ layers: [] })), null);
    expect(m.blobs.map(formatDigest)).toEqual([d("c")]);
  });

  it("reads artifactType, subject and annotations", () => {
    const subject = { mediaType: MEDIA_TYPES.ociManifest, digest: d("5"), size: 123 };
    const m = parseManifest(enc(image({ artifactType: "application/vnd.example.sbom", subject, annotations: { a: "b" } })), null);
    expect(m.artifactType).toBe("application/vnd.example.sbom");
    expect(m.subject).toEqual(subject);
    expect(m.annotations).toEqual({ a: "b" });
    // the subject is not a required blob: a referrer may be pushed before its subject
    expect(m.blobs.map(formatDigest)).not.toContain(d("5"));
  });

  it("does not require foreign layers that carry urls", () => {
    const foreign = { mediaType: "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", digest: d("f"), size: 9, urls: ["https://example.com/l"] };
    const m = parseManifest(enc(image({ mediaType: MEDIA_TYPES.dockerManifest, layers: [foreign, LAYER] })), null);
    expect(m.blobs.map(formatDigest)).toEqual([d("c"), d("1")]);
  });

  it("requires a foreign layer that has no urls", () => {
    const foreign = { mediaType: "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip", digest: d("f"), size: 9 };
    const m = parseManifest(enc(image({ layers: [foreign] })), null);
    expect(m.blobs.map(formatDigest)).toContain(d("f"));
  });

  it("accepts sha512 descriptors", () => {
    const hex = "ab".repeat(64);
    const m = parseManifest(enc(image({ layers: [{ ...LAYER, digest: `sha512:${hex}` }] })), null);
    expect(m.blobs[1]).toEqual({ algorithm: "sha512", hex });
  });
});

describe("parseManifest: indexes", () => {
  it("reads an OCI index: entries are required manifests", () => {
    const m = parseManifest(enc(index()), MEDIA_TYPES.ociIndex);
    expect(m.kind).toBe("index");
    expect(m.blobs).toEqual([]);
    expect(m.manifests.map(formatDigest)).toEqual([d("e")]);
    expect(m.artifactType).toBeUndefined();
  });
  it("reads a Docker manifest list", () => {
    const m = parseManifest(enc(index({ mediaType: MEDIA_TYPES.dockerManifestList })), MEDIA_TYPES.dockerManifestList);
    expect(m.kind).toBe("index");
    expect(m.mediaType).toBe(MEDIA_TYPES.dockerManifestList);
  });
  it("accepts an empty index and keeps its artifactType", () => {
    const m = parseManifest(enc(index({ manifests: [], artifactType: "application/vnd.example" })), null);
    expect(m.manifests).toEqual([]);
    expect(m.artifactType).toBe("application/vnd.example");
  });
  it("rejects an index with config or layers", () => {
    invalid(index({ layers: [] }));
    invalid(index({ config: CONFIG }));
  });
  it("rejects an image manifest that has manifests", () => {
    invalid(image({ manifests: [] }));
  });
});

describe("parseManifest: media type", () => {
  it("takes the Content-Type when the body has no mediaType", () => {
    const { mediaType: _omit, ...doc } = image();
    expect(parseManifest(enc(doc), `${MEDIA_TYPES.dockerManifest}; charset=utf-8`).mediaType).toBe(MEDIA_TYPES.dockerManifest);
  });
  it("infers image or index when neither says", () => {
    const { mediaType: _a, ...img } = image();
    const { mediaType: _b, ...idx } = index();
    expect(parseManifest(enc(img), null).mediaType).toBe(MEDIA_TYPES.ociManifest);
    expect(parseManifest(enc(idx), "application/json").mediaType).toBe(MEDIA_TYPES.ociIndex);
  });
  it("rejects a body mediaType that contradicts a manifest Content-Type", () => {
    expect(invalid(image(), MEDIA_TYPES.dockerManifest).message).toMatch(/does not match Content-Type/);
    invalid(index(), MEDIA_TYPES.ociManifest);
  });
  it("ignores a generic Content-Type (application/json, octet-stream)", () => {
    expect(parseManifest(enc(image()), "application/json").mediaType).toBe(MEDIA_TYPES.ociManifest);
    expect(parseManifest(enc(image()), "application/octet-stream").mediaType).toBe(MEDIA_TYPES.ociManifest);
  });
  it("matches the Content-Type case-insensitively", () => {
    expect(parseManifest(enc(image()), "Application/VND.OCI.Image.Manifest.v1+json").mediaType).toBe(MEDIA_TYPES.ociManifest);
  });
  it("rejects unsupported manifest types", () => {
    invalid(image({ mediaType: "application/vnd.docker.distribution.manifest.v1+prettyjws" }));
    invalid(image({ mediaType: "application/json" }));
    invalid(image({ mediaType: 7 }));
    invalid(image({ mediaType: "toString" }));
    invalid(image({ mediaType: "__proto__" }));
  });
  it("does not take inherited object members for manifest kinds", () => {
    invalid(index({ mediaType: "constructor", manifests: [] }));
    invalid(index({ mediaType: "hasOwnProperty", manifests: [] }));
    const { mediaType: _omit, ...doc } = index({ manifests: [] });
    // a Content-Type naming an inherited member is not a manifest type: the body is inferred as an index
    expect(parseManifest(enc(doc), "constructor").mediaType).toBe(MEDIA_TYPES.ociIndex);
  });
  it("uses an index's mediaType to decide its kind, not its fields", () => {
    // an image manifest body that declares itself an index has no manifests array
    invalid(image({ mediaType: MEDIA_TYPES.ociIndex }));
  });
});

describe("parseManifest: malformed documents", () => {
  it.each([
    ["not JSON", "{"],
    ["empty", ""],
    ["a JSON array", "[]"],
    ["a JSON string", '"x"'],
    ["null", "null"],
    ["trailing garbage", JSON.stringify(image()) + "x"],
  ])("rejects %s", (_what, text) => {
    invalid(text);
  });

  it("rejects invalid UTF-8", () => {
    const bytes = enc(image());
    const broken = new Uint8Array(bytes.byteLength + 2);
    broken.set(bytes.subarray(0, bytes.byteLength - 1));
    // an annotation-free position: inject 0xff 0xfe before the final brace
    broken.set([0xff, 0xfe, bytes[bytes.byteLength - 1]], bytes.byteLength - 1);
    expect(() => parseManifest(broken, null)).toThrow(/UTF-8/);
  });

  it("tolerates a UTF-8 byte order mark (RFC 8259 lets parsers ignore it; the digest covers the raw bytes)", () => {
    const withBom = new Uint8Array([0xef, 0xbb, 0xbf, ...enc(image())]);
    expect(parseManifest(withBom, null).kind).toBe("image");
  });

  it("rejects a UTF-16 document", () => {
    const text = JSON.stringify(image());
    const utf16 = new Uint8Array(text.length * 2);
    for (let i = 0; i < text.length; i++) utf16[i * 2] = text.charCodeAt(i);
    expect(() => parseManifest(utf16, null)).toThrow(RegistryError);
  });

  it.each([
    ["schemaVersion missing", { ...image(), schemaVersion: undefined }],
    ["schemaVersion 1", image({ schemaVersion: 1 })],
    ["schemaVersion as a string", image({ schemaVersion: "2" })],
    ["config missing", image({ config: undefined })],
    ["config as an array", image({ config: [CONFIG] })],
    ["config as null", image({ config: null })],
    ["layers missing", image({ layers: undefined })],
    ["layers as an object", image({ layers: {} })],
    ["a layer as a string", image({ layers: ["sha256:x"] })],
    ["a layer without mediaType", image({ layers: [{ digest: d("1"), size: 1 }] })],
    ["a layer with a bad mediaType", image({ layers: [{ ...LAYER, mediaType: "not a type" }] })],
    ["a layer without digest", image({ layers: [{ mediaType: LAYER.mediaType, size: 1 }] })],
    ["a layer with an uppercase digest", image({ layers: [{ ...LAYER, digest: `sha256:${"A".repeat(64)}` }] })],
    ["a layer with an unknown algorithm", image({ layers: [{ ...LAYER, digest: `md5:${"a".repeat(32)}` }] })],
    ["a layer without size", image({ layers: [{ mediaType: LAYER.mediaType, digest: d("1") }] })],
    ["a negative size", image({ layers: [{ ...LAYER, size: -1 }] })],
    ["a fractional size", image({ layers: [{ ...LAYER, size: 1.5 }] })],
    ["a size as a string", image({ layers: [{ ...LAYER, size: "20" }] })],
    ["a size beyond 2^53", image({ layers: [{ ...LAYER, size: 2 ** 60 }] })],
    ["urls that are not strings", image({ layers: [{ ...LAYER, urls: [1] }] })],
    ["urls as a string", image({ layers: [{ ...LAYER, urls: "https://x" }] })],
    ["descriptor annotations with a number", image({ layers: [{ ...LAYER, annotations: { a: 1 } }] })],
    ["manifest annotations as an array", image({ annotations: ["a"] })],
    ["manifest annotations with null", image({ annotations: { a: null } })],
    ["an invalid artifactType", image({ artifactType: "nope" })],
    ["an artifactType that is a number", image({ artifactType: 5 })],
    ["a descriptor with an invalid artifactType", index({ manifests: [{ mediaType: MEDIA_TYPES.ociManifest, digest: d("e"), size: 1, artifactType: "x" }] })],
    ["a subject that is a string", image({ subject: d("5") })],
    ["a subject without digest", image({ subject: { mediaType: MEDIA_TYPES.ociManifest, size: 1 } })],
    ["manifests that is not an array", index({ manifests: {} })],
    ["an index entry without size", index({ manifests: [{ mediaType: MEDIA_TYPES.ociManifest, digest: d("e") }] })],
  ])("rejects %s", (_what, doc) => {
    invalid(doc);
  });
});

describe("referrerDescriptor", () => {
  it("describes the manifest with artifactType and annotations", () => {
    const parsed = parseManifest(enc(image({ artifactType: "application/vnd.example.sig", annotations: { k: "v" } })), null);
    const digest = parseDigest(d("9"))!;
    expect(referrerDescriptor(parsed, digest, 321)).toEqual({
      mediaType: MEDIA_TYPES.ociManifest,
      digest: d("9"),
      size: 321,
      artifactType: "application/vnd.example.sig",
      annotations: { k: "v" },
    });
  });
  it("omits empty annotations and a missing artifactType", () => {
    const parsed = parseManifest(enc(index({ annotations: {} })), null);
    expect(referrerDescriptor(parsed, parseDigest(d("9"))!, 1)).toEqual({ mediaType: MEDIA_TYPES.ociIndex, digest: d("9"), size: 1 });
  });
});
