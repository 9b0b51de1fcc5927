// Storage and blob-redirect settings, read from the Worker's env by src/config. Every problem found is pushed to
// `problems` with the name of the setting, so that one ConfigError lists them all. Problems never quote a value
// (they are logged; endpoints may carry credentials, and keys are secrets).
import type { S3Settings } from "./s3";
import type { SettingName } from "../config/settings";
import { settingsReader, type SettingsReader } from "../config/read";
import { checkHttpUrl } from "../config/values";

export type StorageConfig =
  | { backend: "r2"; bucket: R2Bucket; /** R2's S3 API (same bucket, no prefix): presigned blob GETs and upload parts. */ presign?: S3Settings }
  | { backend: "s3"; s3: S3Settings };

export interface BlobRedirectConfig {
  /** Answer blob GETs with a 307 to a presigned URL. */
  enabled: boolean;
  ttlSeconds: number;
  /** Replaces the origin of presigned URLs (a CDN or proxy that forwards to the bucket endpoint). */
  publicBaseUrl?: string;
}

type Vars = Record<string, unknown>;

/** The longest expiry SigV4 presigning allows (7 days). */
const MAX_REDIRECT_TTL_SECONDS = 7 * 24 * 3600;

const S3_SETTINGS: SettingName[] = ["S3_ENDPOINT", "S3_REGION", "S3_BUCKET", "S3_PREFIX", "S3_ACCESS_KEY_ID", "S3_SECRET_ACCESS_KEY", "S3_FORCE_PATH_STYLE"];
const R2_PRESIGN_SETTINGS: SettingName[] = ["R2_ACCOUNT_ID", "R2_ACCESS_KEY_ID", "R2_SECRET_ACCESS_KEY", "R2_BUCKET_NAME"];

/** An http(s) origin with nothing after it; `name` is the setting, for errors. */
function origin(value: string, name: SettingName, read: SettingsReader): string | undefined {
  const { url, problem } = checkHttpUrl(value, { path: false });
  if (!url) {
    read.problem(`${name} must be an http(s) origin without path, query or credentials, such as https://s3.example.com; ${problem}`);
    return undefined;
  }
  return url.origin;
}

function s3Settings(read: SettingsReader): S3Settings | undefined {
  const before = read.problems.length;
  for (const name of ["S3_BUCKET", "S3_ACCESS_KEY_ID", "S3_SECRET_ACCESS_KEY"] as const) {
    if (!read.text(name)) read.problem(`STORAGE_BACKEND=s3 needs ${name}${name === "S3_SECRET_ACCESS_KEY" ? " (set it as a secret: wrangler secret put S3_SECRET_ACCESS_KEY)" : ""}`);
  }
  const endpointSetting = read.text("S3_ENDPOINT");
  let region = read.text("S3_REGION");
  let endpoint: string | undefined;
  if (endpointSetting) {
    endpoint = origin(endpointSetting, "S3_ENDPOINT", read);
    region ??= endpoint && new URL(endpoint).hostname.endsWith(".r2.cloudflarestorage.com") ? "auto" : "us-east-1";
  } else if (region) {
    if (!/^[a-z0-9-]+$/.test(region) || region === "auto") read.problem("S3_REGION needs an S3_ENDPOINT unless it is an AWS region (only AWS regions imply one)");
    else endpoint = `https://s3.${region}.amazonaws.com`;
  } else {
    read.problem("STORAGE_BACKEND=s3 needs S3_ENDPOINT (e.g. https://<account>.r2.cloudflarestorage.com) or an AWS S3_REGION");
  }
  const bucket = read.text("S3_BUCKET");
  if (bucket && !/^[A-Za-z0-9._-]{3,255}$/.test(bucket)) read.problem("S3_BUCKET must be a bucket name (3 to 255 letters, digits, . _ -)");
  let prefix = read.text("S3_PREFIX");
  if (prefix.startsWith("/") || prefix.includes("//")) read.problem('S3_PREFIX must not start with "/" or contain "//"');
  if (prefix && !prefix.endsWith("/")) prefix += "/";
  // AWS serves virtual-hosted buckets; S3-compatible servers (RGW, MinIO, R2) are usually reached path-style.
  const forcePathStyle = read.bool("S3_FORCE_PATH_STYLE") ?? endpointSetting !== undefined;
  if (read.problems.length > before) return undefined;
  return {
    endpoint: endpoint!,
    region: region!,
    bucket: bucket!,
    prefix,
    accessKeyId: read.text("S3_ACCESS_KEY_ID")!,
    secretAccessKey: read.text("S3_SECRET_ACCESS_KEY")!,
    forcePathStyle,
  };
}

/** R2 S3 API credentials for presigning with the binding: all four settings or none. */
function r2PresignSettings(read: SettingsReader): S3Settings | undefined {
  const set = R2_PRESIGN_SETTINGS.filter((n) => read.text(n));
  if (set.length === 0) return undefined;
  if (set.length < R2_PRESIGN_SETTINGS.length) {
    const missing = R2_PRESIGN_SETTINGS.filter((n) => !set.includes(n));
    read.problem(`presigned R2 URLs need all of ${R2_PRESIGN_SETTINGS.join(", ")}; missing ${missing.join(", ")}`);
    return undefined;
  }
  const account = read.text("R2_ACCOUNT_ID")!;
  // The account id becomes a host name: accept only what Cloudflare issues (32 hex digits).
  if (!/^[0-9a-f]{32}$/i.test(account)) {
    read.problem("R2_ACCOUNT_ID must be a Cloudflare account id (32 hex digits)");
    return undefined;
  }
  return {
    endpoint: `https://${account.toLowerCase()}.r2.cloudflarestorage.com`,
    region: "auto",
    bucket: read.text("R2_BUCKET_NAME")!,
    prefix: "",
    accessKeyId: read.text("R2_ACCESS_KEY_ID")!,
    secretAccessKey: read.text("R2_SECRET_ACCESS_KEY")!,
    forcePathStyle: true,
  };
}

export function parseStorageConfig(env: Vars, problems: string[]): { storage?: StorageConfig; blobRedirect: BlobRedirectConfig } {
  const read = settingsReader(env, problems);
  const backend = read.oneOf("STORAGE_BACKEND", ["r2", "s3"]);
  let storage: StorageConfig | undefined;
  if (backend === "s3") {
    const stray = R2_PRESIGN_SETTINGS.filter((n) => read.text(n));
    if (stray.length) read.problem(`${stray.join(", ")} apply to STORAGE_BACKEND=r2 only; with s3, presigned URLs come from the S3_* settings`);
    const s3 = s3Settings(read);
    if (s3) storage = { backend: "s3", s3 };
  } else if (backend === "r2") {
    const stray = S3_SETTINGS.filter((n) => read.text(n));
    if (stray.length) read.problem(`${stray.join(", ")} set but STORAGE_BACKEND is "r2": set STORAGE_BACKEND=s3 to use them`);
    const bucket = env.BUCKET as R2Bucket | undefined;
    if (!bucket) read.problem("STORAGE_BACKEND=r2 needs an R2 bucket binding named BUCKET in wrangler.toml");
    const presign = r2PresignSettings(read);
    if (bucket) storage = { backend: "r2", bucket, presign };
  }

  const canPresign = storage?.backend === "s3" || (storage?.backend === "r2" && storage.presign !== undefined);
  const redirect = read.bool("BLOB_REDIRECT");
  if (redirect === true && storage && !canPresign) {
    read.problem(`BLOB_REDIRECT=true needs presigned URLs: STORAGE_BACKEND=s3, or ${R2_PRESIGN_SETTINGS.join(", ")} with the R2 binding`);
  }
  const enabled = (redirect ?? true) && canPresign;

  const ttlSeconds = read.int("BLOB_REDIRECT_TTL_SECONDS", { min: 1, max: MAX_REDIRECT_TTL_SECONDS });

  let publicBaseUrl: string | undefined;
  const base = read.text("BLOB_PUBLIC_BASE_URL");
  if (base !== undefined) {
    const { url, problem } = checkHttpUrl(base, { path: true });
    if (!url) {
      read.problem(`BLOB_PUBLIC_BASE_URL must be an http(s) URL without query or credentials; ${problem}`);
    } else if (storage && !enabled) {
      read.problem("BLOB_PUBLIC_BASE_URL is set but blob redirects are off (BLOB_REDIRECT=false, or no presigning credentials)");
    } else publicBaseUrl = url.href;
  }
  return { storage, blobRedirect: { enabled, ttlSeconds, publicBaseUrl } };
}
