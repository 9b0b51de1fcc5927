// What every registry operation needs: the store and the registry's settings.
import type { ObjectStore } from "../storage/types";

export interface RegistrySettings {
  /** Multipart part size in bytes; every part but the last has exactly this size (R2 requires it). */
  partSize: number;
  /** Largest manifest accepted, in bytes. */
  maxManifestBytes: number;
  /** Upload sessions older than this are unknown (R2 aborts unfinished multipart uploads after 7 days). */
  uploadTtlMs: number;
}

/** How long an upload session lives (R2 aborts unfinished multipart uploads after 7 days). */
export const UPLOAD_TTL_MS = 6 * 24 * 3600 * 1000;

export interface RegistryDeps {
  store: ObjectStore;
  settings: RegistrySettings;
}
