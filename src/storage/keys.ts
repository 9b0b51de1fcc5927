// The one place that knows the object-key layout.
//
//   blobs/<alg>/<hex>                          blob record: empty body; metadata {size, data} (data: key of the bytes)
//   data/<upload-id>                           blob bytes, written by the upload that first completed that digest
//   repos/<name>/_blobs/<alg>/<hex>            link: the blob belongs to the repository; metadata {size, data}
//   repos/<name>/_manifests/<alg>/<hex>        manifest bytes (contentType = media type)
//   repos/<name>/_tags/<tag>                   manifest bytes again, metadata {digest}: one read serves a tag
//   repos/<name>/_referrers/<alg>/<hex>/<alg>/<hex>   referrer descriptor JSON (subject first, referrer second)
//   uploads/<upload-id>/state                  upload session state (JSON)
//   uploads/<upload-id>/tail                   bytes received beyond the last full multipart part
//   catalog/<name>                             marker: the repository has manifests
//
// Name components start with [a-z0-9], so the `_`-prefixed segments can never collide with a nested repository.
import type { Digest } from "../protocol/digest";

export const keys = {
  blob: (d: Digest) => `blobs/${d.algorithm}/${d.hex}`,
  blobData: (uploadId: string) => `data/${uploadId}`,
  repoBlob: (name: string, d: Digest) => `repos/${name}/_blobs/${d.algorithm}/${d.hex}`,
  manifest: (name: string, d: Digest) => `repos/${name}/_manifests/${d.algorithm}/${d.hex}`,
  tagsPrefix: (name: string) => `repos/${name}/_tags/`,
  tag: (name: string, tag: string) => `repos/${name}/_tags/${tag}`,
  referrersPrefix: (name: string, subject: Digest) => `repos/${name}/_referrers/${subject.algorithm}/${subject.hex}/`,
  referrer: (name: string, subject: Digest, d: Digest) => `repos/${name}/_referrers/${subject.algorithm}/${subject.hex}/${d.algorithm}/${d.hex}`,
  uploadState: (id: string) => `uploads/${id}/state`,
  uploadTail: (id: string) => `uploads/${id}/tail`,
  catalogPrefix: "catalog/",
  catalog: (name: string) => `catalog/${name}`,
};
