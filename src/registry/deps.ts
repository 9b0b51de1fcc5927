// What every registry operation needs: the store and the registry's settings.
import type { ObjectStore, PartUploads } from "../storage/types";

export interface RegistrySettings {
  /** Multipart part size in bytes; every part but the last has exactly this size (R2 requires it). */
  partSize: number;
  /** Largest manifest accepted, in bytes. */
  maxManifestBytes: number;
  /** Largest upload request body, in bytes (MAX_REQUEST_BODY_MB): larger ones get 413, before or while being read. */
  maxRequestBodyBytes: number;
  /** Upload sessions older than this are unknown (R2 aborts unfinished multipart uploads after 7 days). */
  uploadTtlMs: number;
}

/** How long an upload session lives (R2 aborts unfinished multipart uploads after 7 days). */
export const UPLOAD_TTL_MS = 6 * 24 * 3600 * 1000;

export interface RegistryDeps {
  store: ObjectStore;
  settings: RegistrySettings;
  /**
   * Multipart uploads whose parts clients PUT straight to storage (direct-uploads.ts), on the same bucket and keys as
   * `store`; null or absent when the backend cannot presign them (the R2 binding alone).
   */
  partUploads?: PartUploads | null;
}
