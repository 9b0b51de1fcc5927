// Media types of manifests this registry understands.

export const MEDIA_TYPES = {
  ociManifest: "application/vnd.oci.image.manifest.v1+json",
  ociIndex: "application/vnd.oci.image.index.v1+json",
  dockerManifest: "application/vnd.docker.distribution.manifest.v2+json",
  dockerManifestList: "application/vnd.docker.distribution.manifest.list.v2+json",
  ociEmpty: "application/vnd.oci.empty.v1+json",
} as const;

export type ManifestKind = "image" | "index";

/** Manifest media types accepted on PUT, and whether each is an image manifest or an index. */
// A null-prototype map: a client-chosen media type such as "constructor" must not find an inherited member.
export const MANIFEST_KINDS: Record<string, ManifestKind> = Object.assign(Object.create(null), {
  [MEDIA_TYPES.ociManifest]: "image",
  [MEDIA_TYPES.dockerManifest]: "image",
  [MEDIA_TYPES.ociIndex]: "index",
  [MEDIA_TYPES.dockerManifestList]: "index",
});

/** Layers that clients fetch from their `urls`, not from the registry (Windows base layers). */
export const FOREIGN_LAYER_TYPES = new Set([
  "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
  "application/vnd.oci.image.layer.nondistributable.v1.tar",
  "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
  "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
]);

/** Strips parameters and case from a Content-Type header value. */
export function essence(contentType: string | null | undefined): string {
  return (contentType ?? "").split(";")[0].trim().toLowerCase();
}

const MEDIA_TYPE = /^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}\/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$/;
export function isValidMediaType(value: unknown): value is string {
  return typeof value === "string" && MEDIA_TYPE.test(value);
}
