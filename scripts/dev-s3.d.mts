// Types for scripts/dev-s3.mjs (imported by the e2e tests).
export interface LocalS3 {
  /** http://127.0.0.1:<port> */
  endpoint: string;
  /** Worker variables that point Skiff at it (STORAGE_BACKEND=s3, S3_*). */
  vars: Record<string, string>;
  /** Stops the daemons and deletes the data. */
  stop(): Promise<void>;
}
export function startLocalS3(opts?: { bucket?: string; log?: (s: string) => void }): Promise<LocalS3>;
