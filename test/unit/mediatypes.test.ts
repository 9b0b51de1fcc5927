import { describe, it, expect } from "vitest";
import { essence, isValidMediaType, MANIFEST_KINDS, MEDIA_TYPES, FOREIGN_LAYER_TYPES } from "../../src/protocol/mediatypes";

describe("essence", () => {
  it("strips parameters, whitespace and case", () => {
    expect(essence("application/vnd.oci.image.manifest.v1+json; charset=utf-8")).toBe(MEDIA_TYPES.ociManifest);
    expect(essence(" Application/JSON ")).toBe("application/json");
    expect(essence("")).toBe("");
    expect(essence(null)).toBe("");
    expect(essence(undefined)).toBe("");
  });
});

describe("isValidMediaType", () => {
  it.each([
    "application/json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.example.sbom.v1",
    "text/plain",
    "application/vnd.cncf.helm.config.v1+json",
    `a/${"b".repeat(127)}`,
  ])("accepts %j", (t) => expect(isValidMediaType(t)).toBe(true));
  it.each([
    ["no subtype", "application"],
    ["no type", "/json"],
    ["two slashes", "a/b/c"],
    ["empty", ""],
    ["parameters", "application/json; charset=utf-8"],
    ["spaces", "application/ json"],
    ["a subtype over 127 characters", `a/${"b".repeat(128)}`],
    ["a leading symbol", "+a/b"],
    ["a number", 42],
    ["null", null],
  ])("rejects %s", (_what, t) => expect(isValidMediaType(t)).toBe(false));
});

describe("manifest kinds", () => {
  it("knows the four manifest media types and nothing else", () => {
    expect(MANIFEST_KINDS[MEDIA_TYPES.ociManifest]).toBe("image");
    expect(MANIFEST_KINDS[MEDIA_TYPES.dockerManifest]).toBe("image");
    expect(MANIFEST_KINDS[MEDIA_TYPES.ociIndex]).toBe("index");
    expect(MANIFEST_KINDS[MEDIA_TYPES.dockerManifestList]).toBe("index");
    expect(Object.keys(MANIFEST_KINDS)).toHaveLength(4);
    expect(MANIFEST_KINDS["application/vnd.docker.distribution.manifest.v1+json"]).toBeUndefined();
    expect(MANIFEST_KINDS["toString"]).toBeUndefined();
  });
  it("lists Docker and OCI foreign layer types", () => {
    expect(FOREIGN_LAYER_TYPES.has("application/vnd.docker.image.rootfs.foreign.diff.tar.gzip")).toBe(true);
    expect(FOREIGN_LAYER_TYPES.has("application/vnd.oci.image.layer.v1.tar+gzip")).toBe(false);
  });
});
