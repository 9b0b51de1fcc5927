// The Worker's bindings and variables (wrangler.toml [vars], secrets, .dev.vars).
export interface Env {
  BUCKET?: R2Bucket;
  STORAGE_BACKEND?: string;
  /** "open": anonymous push and pull (local development only). Otherwise token auth; with no users, deny all. */
  SKIFF_AUTH?: string;
  UPLOAD_PART_SIZE_MIB?: string;
  MAX_MANIFEST_BYTES?: string;
  [key: string]: unknown;
}
