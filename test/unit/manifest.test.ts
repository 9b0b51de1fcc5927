import { describe, it, expect, vi, afterEach } from "vitest";
import { parseManifest, referrerDescriptor, MAX_MANIFEST_REFERENCES, MANIFEST_JSON_LIMITS } from "../../src/protocol/manifest";
import { checkJsonLimits, type JsonLimits } from "../../src/protocol/json-limits";
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
    parseManifest(doc instanceof Uint8Array ? doc : enc(doc), contentType);
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
    expect(m.foreignBlobs.map(formatDigest)).toEqual([d("f")]);
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

describe("checkJsonLimits: the pre-scan before JSON.parse", () => {
  const check = (text: string, limits: Partial<JsonLimits> = {}) => checkJsonLimits(enc(text), { maxDepth: 1000, maxTokens: 1e9, ...limits });
  const nest = (n: number, open = "[", close = "]") => open.repeat(n) + close.repeat(n);

  it("passes documents within both limits, the empty input included", () => {
    expect(check("")).toBeNull();
    expect(check("{}", { maxDepth: 1, maxTokens: 1 })).toBeNull();
    expect(check(JSON.stringify(image()), { maxDepth: 3, maxTokens: 40 })).toBeNull();
  });

  it("allows exactly maxDepth nested containers and rejects one more, at the byte that opens it", () => {
    expect(check(nest(32), { maxDepth: 32 })).toBeNull();
    expect(check(nest(33), { maxDepth: 32 })).toEqual({ limit: "depth", max: 32, offset: 32 });
    expect(check('{"a":'.repeat(32) + "0" + "}".repeat(32), { maxDepth: 32 })).toBeNull();
    expect(check('{"a":'.repeat(33) + "0" + "}".repeat(33), { maxDepth: 32 })).toEqual({ limit: "depth", max: 32, offset: 32 * 5 });
    // arrays and objects mixed; siblings do not add up, only nesting does
    expect(check('[{"a":[{"b":[]}]}]', { maxDepth: 5 })).toBeNull();
    expect(check('[{"a":[{"b":[[]]}]}]', { maxDepth: 5 })?.limit).toBe("depth");
    expect(check("[[[]],[[]],[[]]]", { maxDepth: 3 })).toBeNull();
  });

  it("counts arrays, objects, strings, keys and bare values as tokens, exactly", () => {
    const doc = '{"a":[1,true,null,"x",-1.5e3,false],"b":{}}'; // {} "a" [] 1 true null "x" -1.5e3 false "b" {} = 11
    expect(check(doc, { maxTokens: 11 })).toBeNull();
    expect(check(doc, { maxTokens: 10 })).toEqual({ limit: "tokens", max: 10, offset: doc.lastIndexOf("{") });
    expect(check("[12345,678]", { maxTokens: 3 })).toBeNull();
    expect(check("[12345,678]", { maxTokens: 2 })).toEqual({ limit: "tokens", max: 2, offset: 7 });
    expect(check(" [ 1 ,\t2 \r\n, 3 ] ", { maxTokens: 4 })).toBeNull();
    expect(check(" [ 1 ,\t2 \r\n, 3 ] ", { maxTokens: 3 })?.limit).toBe("tokens");
    expect(check('"a string"', { maxTokens: 1 })).toBeNull();
    expect(check("0", { maxTokens: 0 })).toEqual({ limit: "tokens", max: 0, offset: 0 });
  });

  it("ignores brackets, braces, commas, colons and spaces inside strings and keys", () => {
    expect(check(`["${"[{".repeat(100)}"]`, { maxDepth: 1, maxTokens: 2 })).toBeNull();
    expect(check(`{"[[[[": "]]]]{{", "a b,c:d": 1}`, { maxDepth: 1, maxTokens: 6 })).toBeNull();
    expect(check(`["é[[[", "日本[{"]`, { maxDepth: 1, maxTokens: 3 })).toBeNull();
  });

  it("skips escaped quotes and sees the quote after an escaped backslash as the end of the string", () => {
    // the string is  "\"[[["  : its inner quote is escaped, so the brackets stay inside it
    expect(check(String.raw`["\"[[[", 1]`, { maxDepth: 1, maxTokens: 3 })).toBeNull();
    // the string is  "\\"  : it ends at the second quote, and the brackets after it are real
    expect(check(String.raw`["\\", [[[]]]]`, { maxDepth: 3 })?.limit).toBe("depth");
    expect(check(String.raw`["\\", [[[]]]]`, { maxDepth: 4 })).toBeNull();
    // \\\" : an escaped backslash, then an escaped quote: still inside
    expect(check(String.raw`["\\\"[[", 2]`, { maxDepth: 1, maxTokens: 3 })).toBeNull();
    // \u escapes and every short escape
    expect(check(String.raw`["\u0022[\u005b", "\/\b\f\n\r\t"]`, { maxDepth: 1, maxTokens: 3 })).toBeNull();
  });

  it("stops at an unbalanced closing bracket (JSON.parse rejects the document there)", () => {
    expect(check("]" + nest(100), { maxDepth: 2 })).toBeNull();
    expect(() => JSON.parse("]" + nest(100))).toThrow(SyntaxError);
  });

  it("agrees with the depth and token count of what JSON.parse builds, on random documents with tricky strings", () => {
    let x = 12345;
    const rand = (n: number) => ((x = (Math.imul(x, 1103515245) + 12345) >>> 0) >>> 8) % n;
    const pieces = ['"', "\\", "[", "]", "{", "}", ",", ":", " ", "é", "\u2028", "\n", "a", "\u0000", "😀"];
    const str = () => Array.from({ length: rand(6) }, () => pieces[rand(pieces.length)]).join("");
    const value = (depth: number): unknown => {
      const r = rand(depth > 6 ? 4 : 7);
      if (r === 0) return str();
      if (r === 1) return rand(1000) - 500 + rand(100) / 8;
      if (r === 2) return [true, false, null][rand(3)];
      if (r === 3) return rand(2) ? [] : {};
      if (r === 4 || r === 5) return Array.from({ length: rand(4) }, () => value(depth + 1));
      return Object.fromEntries(Array.from({ length: rand(4) }, () => [str() + rand(99), value(depth + 1)]));
    };
    const measure = (v: unknown): { depth: number; tokens: number } => {
      if (Array.isArray(v)) {
        const inner = v.map(measure);
        return { depth: 1 + Math.max(0, ...inner.map((m) => m.depth)), tokens: 1 + inner.reduce((s, m) => s + m.tokens, 0) };
      }
      if (v !== null && typeof v === "object") {
        const inner = Object.values(v).map(measure);
        return { depth: 1 + Math.max(0, ...inner.map((m) => m.depth)), tokens: 1 + Object.keys(v).length + inner.reduce((s, m) => s + m.tokens, 0) };
      }
      return { depth: 0, tokens: 1 };
    };
    for (let i = 0; i < 500; i++) {
      const doc = value(0);
      const text = JSON.stringify(doc, null, rand(2) ? 0 : 1);
      const { depth, tokens } = measure(JSON.parse(text));
      expect(checkJsonLimits(enc(text), { maxDepth: depth, maxTokens: tokens }), text).toBeNull();
      if (depth > 0) expect(checkJsonLimits(enc(text), { maxDepth: depth - 1, maxTokens: tokens })?.limit, text).toBe("depth");
      expect(checkJsonLimits(enc(text), { maxDepth: depth, maxTokens: tokens - 1 })?.limit, text).toBe("tokens");
    }
  });
});

describe("parseManifest: bounded cost", () => {
  const MiB4 = 4 * 1024 * 1024;
  /** An image manifest whose extra field "x" holds `value`, padded with spaces to 4 MiB. */
  const hostile = (value: string) => {
    const text = `{"schemaVersion":2,"mediaType":"${MEDIA_TYPES.ociManifest}","config":${JSON.stringify(CONFIG)},"layers":[],"x":${value}}`;
    return enc(text.padEnd(MiB4, " "));
  };
  afterEach(() => vi.restoreAllMocks());

  it.each([
    ["deep arrays", () => "[".repeat(MiB4 / 2 - 200) + "]".repeat(MiB4 / 2 - 200), /nested deeper than 32/],
    ["deep objects", () => '{"a":'.repeat(600_000) + "0" + "}".repeat(600_000), /nested deeper than 32/],
    ["2M tiny array elements", () => "[" + "0,".repeat(MiB4 / 2 - 200) + "0]", /more than 100000 JSON tokens/],
    ["empty objects", () => "[" + "{},".repeat(MiB4 / 3 - 200) + "{}]", /more than 100000 JSON tokens/],
    ["many keys", () => "{" + Array.from({ length: 350_000 }, (_, i) => `"${i}":0`).join(",") + "}", /more than 100000 JSON tokens/],
  ])("rejects a 4 MiB manifest of %s before JSON.parse runs", (_what, make, message) => {
    const bytes = hostile(make());
    expect(bytes.byteLength).toBe(MiB4);
    const parse = vi.spyOn(JSON, "parse");
    expect(invalid(bytes).message).toMatch(message);
    expect(parse).not.toHaveBeenCalled();
  });

  it("parses a 4 MiB manifest made of one long string", () => {
    const bytes = hostile(JSON.stringify("a".repeat(MiB4 - 400)));
    expect(parseManifest(bytes, null).kind).toBe("image");
  });

  it("accepts nesting up to the limit and tokens up to the limit", () => {
    expect(MANIFEST_JSON_LIMITS).toEqual({ maxDepth: 32, maxTokens: 100_000 });
    // the manifest object is depth 1, "x" adds 31 more
    expect(parseManifest(hostile("[".repeat(31) + "]".repeat(31)), null).kind).toBe("image");
    expect(invalid(hostile("[".repeat(32) + "]".repeat(32))).message).toMatch(/nested deeper than 32/);
    // the object 1, "schemaVersion" 2 2, "mediaType" "..." 2, "config" {...} 1 + 7, "layers" [] 2, "x" 1
    const used = 16;
    const fill = (n: number) => "[" + "0,".repeat(n - 2) + "0]"; // n - 1 zeros + the array
    expect(parseManifest(hostile(fill(100_000 - used)), null).kind).toBe("image");
    expect(invalid(hostile(fill(100_001 - used))).message).toMatch(/more than 100000 JSON tokens/);
  });
});

describe("parseManifest: reference cap", () => {
  const layers = (n: number) => Array.from({ length: n }, () => LAYER);
  const entries = (n: number) => index().manifests.flatMap((e) => Array(n).fill(e));
  const subject = { mediaType: MEDIA_TYPES.ociManifest, digest: d("5"), size: 1 };

  it("is 1000 descriptors: config, layers, index entries and subject all count", () => {
    expect(MAX_MANIFEST_REFERENCES).toBe(1000);
    expect(parseManifest(enc(image({ layers: layers(999) })), null).blobs).toHaveLength(1000);
    expect(parseManifest(enc(image({ layers: layers(998), subject })), null).blobs).toHaveLength(999);
    expect(parseManifest(enc(index({ manifests: entries(1000) })), null).manifests).toHaveLength(1000);
    expect(parseManifest(enc(index({ manifests: entries(999), subject })), null).manifests).toHaveLength(999);
  });

  it.each([
    ["an image with 1000 layers", image({ layers: layers(1000) }), 1001],
    ["an image with 999 layers and a subject", image({ layers: layers(999), subject }), 1001],
    ["an index with 1001 entries", index({ manifests: entries(1001) }), 1001],
    ["an index with 1000 entries and a subject", index({ manifests: entries(1000), subject }), 1001],
  ])("rejects %s, naming the cap", (_what, doc, count) => {
    const err = invalid(doc);
    expect(err.message).toMatch(/at most 1000/);
    expect(err.detail).toEqual({ limit: 1000, references: count });
  });

  it("20000 layers naming one blob pass the token limit first (7 tokens per descriptor at least)", () => {
    const parse = vi.spyOn(JSON, "parse");
    expect(invalid(image({ layers: layers(20000) })).message).toMatch(/more than 100000 JSON tokens/);
    expect(parse).not.toHaveBeenCalled();
    // 14,000 layers fit the token limit at 7 tokens each: then the cap answers
    expect(invalid(image({ layers: layers(14000) })).detail).toEqual({ limit: 1000, references: 14001 });
    parse.mockRestore();
  });
});
