// The one place that knows the object-key layout.
//
//   blobs/<alg>/<hex>                          blob record: empty body; metadata {size, data} (data: key of the bytes)
//   data/<object-id>                           blob bytes: a write-once object, named at random by the request
//                                              that wrote it (never rewritten once a digest was verified)
//   repos/<name>/_blobs/<alg>/<hex>            link: the blob belongs to the repository; metadata {size, data}
//   repos/<name>/_manifests/<alg>/<hex>        manifest bytes (contentType = media type)
//   repos/<name>/_tags/<tag>                   manifest bytes again, metadata {digest}: one read serves a tag
//   repos/<name>/_referrers/<alg>/<hex>/<alg>/<hex>   referrer descriptor JSON (subject first, referrer second)
//   uploads/<upload-id>/state                  upload session state (JSON)
//   uploads/<upload-id>/tails/<tail-id>        bytes received beyond the last full multipart part (write-once,
//                                              one per request; the state names the current one)
//   catalog/<name>                             marker: the repository has manifests
//   gc/state                                   the garbage collector's current run: phase, cursor, lease (docs/gc.md)
//   _skiff/health                              never written: the health check HEADs it (a miss proves access)
//   gc/runs/<run>/report.json                  a run's report; gc/runs/<run>/... its saved marks
//
// Name components start with [a-z0-9], so the `_`-prefixed segments can never collide with a nested repository.
import type { Digest } from "../protocol/digest";

export const keys = {
  blob: (d: Digest) => `blobs/${d.algorithm}/${d.hex}`,
  blobData: (objectId: string) => `data/${objectId}`,
  repoBlob: (name: string, d: Digest) => `repos/${name}/_blobs/${d.algorithm}/${d.hex}`,
  manifestsPrefix: (name: string) => `repos/${name}/_manifests/`,
  manifest: (name: string, d: Digest) => `repos/${name}/_manifests/${d.algorithm}/${d.hex}`,
  tagsPrefix: (name: string) => `repos/${name}/_tags/`,
  tag: (name: string, tag: string) => `repos/${name}/_tags/${tag}`,
  referrersPrefix: (name: string, subject: Digest) => `repos/${name}/_referrers/${subject.algorithm}/${subject.hex}/`,
  referrer: (name: string, subject: Digest, d: Digest) => `repos/${name}/_referrers/${subject.algorithm}/${subject.hex}/${d.algorithm}/${d.hex}`,
  uploadState: (id: string) => `uploads/${id}/state`,
  uploadTail: (id: string, tailId: string) => `uploads/${id}/tails/${tailId}`,
  catalogPrefix: "catalog/",
  catalog: (name: string) => `catalog/${name}`,
  blobsPrefix: "blobs/",
  dataPrefix: "data/",
  reposPrefix: "repos/",
  uploadsPrefix: "uploads/",
  gcState: "gc/state",
  healthProbe: "_skiff/health",
  gcRunsPrefix: "gc/runs/",
  gcRun: (run: string) => `gc/runs/${run}/`,
  gcReport: (run: string) => `gc/runs/${run}/report.json`,
};
