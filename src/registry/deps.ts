// What every registry operation needs: the store and the registry's settings.
import type { ObjectStore, PartUploads } from "../storage/types";
import type { RepoPattern } from "../protocol/repo-patterns";
import type { EdgeCache } from "./edge-cache";

export interface RegistrySettings {
  /** Multipart part size in bytes; every part but the last has exactly this size (R2 requires it). */
  partSize: number;
  /** Largest manifest accepted, in bytes. */
  maxManifestBytes: number;
  /** Largest upload request body, in bytes (MAX_REQUEST_BODY_MB): larger ones get 413, before or while being read. */
  maxRequestBodyBytes: number;
  /** Upload sessions older than this are unknown (UPLOAD_TTL_HOURS), and garbage collection removes them. */
  uploadTtlMs: number;
  /** Repositories whose tags never move once pushed (IMMUTABLE_TAGS). */
  immutableTags: RepoPattern[];
  /**
   * Garbage collection's grace window (GC_GRACE_HOURS). A request that wrote a data object itself must name it in
   * a state or record within half of it, or delete it (docs/gc.md §5): the orphan sweep relies on that bound.
   */
  graceMs: number;
}

export interface RegistryDeps {
  store: ObjectStore;
  settings: RegistrySettings;
  /**
   * Multipart uploads whose parts clients PUT straight to storage (direct-uploads.ts), on the same bucket and keys as
   * `store`; null or absent when the backend cannot presign them (the R2 binding alone).
   */
  partUploads?: PartUploads | null;
  /**
   * The edge cache of the read paths (edge-cache.ts); null or absent when off or where there is no Cache API. Only
   * the pull paths (`getManifest`, `serveBlob`) read it; nothing that decides a write may.
   */
  edgeCache?: EdgeCache | null;
}
