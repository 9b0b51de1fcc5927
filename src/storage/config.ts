// Storage and blob-redirect settings, read from the Worker's env by src/config.ts. Every problem found is pushed
// to `problems` with the name of the setting, so that one ConfigError lists them all. Problems never quote a value
// (they are logged; endpoints may carry credentials, and keys are secrets).
import type { S3Settings } from "./s3";
import type { SettingName } from "../env";
import { checkHttpUrl } from "../config-values";

export type StorageConfig =
  | { backend: "r2"; bucket: R2Bucket; /** R2's S3 API, used only to presign blob GETs. */ presign?: S3Settings }
  | { backend: "s3"; s3: S3Settings };

export interface BlobRedirectConfig {
  /** Answer blob GETs with a 307 to a presigned URL. */
  enabled: boolean;
  ttlSeconds: number;
  /** Replaces the origin of presigned URLs (a CDN or proxy that forwards to the bucket endpoint). */
  publicBaseUrl?: string;
}

type Vars = Record<string, unknown>;

const DEFAULT_REDIRECT_TTL_SECONDS = 300;
/** The longest expiry SigV4 presigning allows (7 days). */
const MAX_REDIRECT_TTL_SECONDS = 7 * 24 * 3600;

const S3_SETTINGS: SettingName[] = ["S3_ENDPOINT", "S3_REGION", "S3_BUCKET", "S3_PREFIX", "S3_ACCESS_KEY_ID", "S3_SECRET_ACCESS_KEY", "S3_FORCE_PATH_STYLE"];
const R2_PRESIGN_SETTINGS: SettingName[] = ["R2_ACCOUNT_ID", "R2_ACCESS_KEY_ID", "R2_SECRET_ACCESS_KEY", "R2_BUCKET_NAME"];

function str(env: Vars, name: SettingName): string | undefined {
  const v = env[name];
  return typeof v === "string" && v.trim() !== "" ? v.trim() : undefined;
}

function bool(env: Vars, name: SettingName, problems: string[]): boolean | undefined {
  const v = str(env, name)?.toLowerCase();
  if (v === undefined) return undefined;
  if (["1", "true", "yes", "on"].includes(v)) return true;
  if (["0", "false", "no", "off"].includes(v)) return false;
  problems.push(`${name} must be true or false`);
  return undefined;
}

/** An http(s) origin with nothing after it; `name` is the setting, for errors. */
function origin(value: string, name: SettingName, problems: string[]): string | undefined {
  const { url, problem } = checkHttpUrl(value, { path: false });
  if (!url) {
    problems.push(`${name} must be an http(s) origin without path, query or credentials, such as https://s3.example.com; ${problem}`);
    return undefined;
  }
  return url.origin;
}

function s3Settings(env: Vars, problems: string[]): S3Settings | undefined {
  const before = problems.length;
  for (const name of ["S3_BUCKET", "S3_ACCESS_KEY_ID", "S3_SECRET_ACCESS_KEY"] as const) {
    if (!str(env, name)) problems.push(`STORAGE_BACKEND=s3 needs ${name}${name === "S3_SECRET_ACCESS_KEY" ? " (set it as a secret: wrangler secret put S3_SECRET_ACCESS_KEY)" : ""}`);
  }
  const endpointSetting = str(env, "S3_ENDPOINT");
  let region = str(env, "S3_REGION");
  let endpoint: string | undefined;
  if (endpointSetting) {
    endpoint = origin(endpointSetting, "S3_ENDPOINT", problems);
    region ??= endpoint && new URL(endpoint).hostname.endsWith(".r2.cloudflarestorage.com") ? "auto" : "us-east-1";
  } else if (region) {
    if (!/^[a-z0-9-]+$/.test(region) || region === "auto") problems.push("S3_REGION needs an S3_ENDPOINT unless it is an AWS region (only AWS regions imply one)");
    else endpoint = `https://s3.${region}.amazonaws.com`;
  } else {
    problems.push("STORAGE_BACKEND=s3 needs S3_ENDPOINT (e.g. https://<account>.r2.cloudflarestorage.com) or an AWS S3_REGION");
  }
  const bucket = str(env, "S3_BUCKET");
  if (bucket && !/^[A-Za-z0-9._-]{3,255}$/.test(bucket)) problems.push("S3_BUCKET must be a bucket name (3 to 255 letters, digits, . _ -)");
  let prefix = str(env, "S3_PREFIX") ?? "";
  if (prefix.startsWith("/") || prefix.includes("//")) problems.push('S3_PREFIX must not start with "/" or contain "//"');
  if (prefix && !prefix.endsWith("/")) prefix += "/";
  // AWS serves virtual-hosted buckets; S3-compatible servers (RGW, MinIO, R2) are usually reached path-style.
  const forcePathStyle = bool(env, "S3_FORCE_PATH_STYLE", problems) ?? endpointSetting !== undefined;
  if (problems.length > before) return undefined;
  return {
    endpoint: endpoint!,
    region: region!,
    bucket: bucket!,
    prefix,
    accessKeyId: str(env, "S3_ACCESS_KEY_ID")!,
    secretAccessKey: str(env, "S3_SECRET_ACCESS_KEY")!,
    forcePathStyle,
  };
}

/** R2 S3 API credentials for presigning with the binding: all four settings or none. */
function r2PresignSettings(env: Vars, problems: string[]): S3Settings | undefined {
  const set = R2_PRESIGN_SETTINGS.filter((n) => str(env, n));
  if (set.length === 0) return undefined;
  if (set.length < R2_PRESIGN_SETTINGS.length) {
    const missing = R2_PRESIGN_SETTINGS.filter((n) => !set.includes(n));
    problems.push(`presigned R2 URLs need all of ${R2_PRESIGN_SETTINGS.join(", ")}; missing ${missing.join(", ")}`);
    return undefined;
  }
  const account = str(env, "R2_ACCOUNT_ID")!;
  // The account id becomes a host name: accept only what Cloudflare issues (32 hex digits).
  if (!/^[0-9a-f]{32}$/i.test(account)) {
    problems.push("R2_ACCOUNT_ID must be a Cloudflare account id (32 hex digits)");
    return undefined;
  }
  return {
    endpoint: `https://${account.toLowerCase()}.r2.cloudflarestorage.com`,
    region: "auto",
    bucket: str(env, "R2_BUCKET_NAME")!,
    prefix: "",
    accessKeyId: str(env, "R2_ACCESS_KEY_ID")!,
    secretAccessKey: str(env, "R2_SECRET_ACCESS_KEY")!,
    forcePathStyle: true,
  };
}

export function parseStorageConfig(env: Vars, problems: string[]): { storage?: StorageConfig; blobRedirect: BlobRedirectConfig } {
  const backend = str(env, "STORAGE_BACKEND") ?? "r2";
  let storage: StorageConfig | undefined;
  if (backend === "s3") {
    const stray = R2_PRESIGN_SETTINGS.filter((n) => str(env, n));
    if (stray.length) problems.push(`${stray.join(", ")} apply to STORAGE_BACKEND=r2 only; with s3, presigned URLs come from the S3_* settings`);
    const s3 = s3Settings(env, problems);
    if (s3) storage = { backend: "s3", s3 };
  } else if (backend === "r2") {
    const stray = S3_SETTINGS.filter((n) => str(env, n));
    if (stray.length) problems.push(`${stray.join(", ")} set but STORAGE_BACKEND is "r2": set STORAGE_BACKEND=s3 to use them`);
    const bucket = env.BUCKET as R2Bucket | undefined;
    if (!bucket) problems.push("STORAGE_BACKEND=r2 needs an R2 bucket binding named BUCKET in wrangler.toml");
    const presign = r2PresignSettings(env, problems);
    if (bucket) storage = { backend: "r2", bucket, presign };
  } else {
    problems.push('STORAGE_BACKEND must be "r2" or "s3"');
  }

  const canPresign = storage?.backend === "s3" || (storage?.backend === "r2" && storage.presign !== undefined);
  const redirect = bool(env, "BLOB_REDIRECT", problems);
  if (redirect === true && storage && !canPresign) {
    problems.push(`BLOB_REDIRECT=true needs presigned URLs: STORAGE_BACKEND=s3, or ${R2_PRESIGN_SETTINGS.join(", ")} with the R2 binding`);
  }
  const enabled = (redirect ?? true) && canPresign;

  let ttlSeconds = DEFAULT_REDIRECT_TTL_SECONDS;
  const ttl = str(env, "BLOB_REDIRECT_TTL_SECONDS");
  if (ttl !== undefined) {
    const n = Number(ttl);
    if (!Number.isInteger(n) || n < 1 || n > MAX_REDIRECT_TTL_SECONDS) {
      problems.push(`BLOB_REDIRECT_TTL_SECONDS must be an integer from 1 to ${MAX_REDIRECT_TTL_SECONDS}`);
    } else ttlSeconds = n;
  }

  let publicBaseUrl: string | undefined;
  const base = str(env, "BLOB_PUBLIC_BASE_URL");
  if (base !== undefined) {
    const { url, problem } = checkHttpUrl(base, { path: true });
    if (!url) {
      problems.push(`BLOB_PUBLIC_BASE_URL must be an http(s) URL without query or credentials; ${problem}`);
    } else if (storage && !enabled) {
      problems.push("BLOB_PUBLIC_BASE_URL is set but blob redirects are off (BLOB_REDIRECT=false, or no presigning credentials)");
    } else publicBaseUrl = url.href;
  }
  return { storage, blobRedirect: { enabled, ttlSeconds, publicBaseUrl } };
}
