// The Worker's bindings and variables (wrangler.toml [vars], secrets, .dev.vars); defaults are in SETTINGS below.
export interface Env {
  BUCKET?: R2Bucket;
  /** The garbage collection Workflow (wrangler.toml [[workflows]]): the scheduled run's production path (src/gc/runner.ts). */
  GC_WORKFLOW?: Workflow<{ run: string }>;
  /** "r2" (the BUCKET binding) or "s3" (the S3_* settings). */
  STORAGE_BACKEND?: string;
  /** S3 backend: endpoint origin (or an AWS S3_REGION alone), bucket, key prefix, path-style addressing. */
  S3_ENDPOINT?: string;
  S3_REGION?: string;
  S3_BUCKET?: string;
  S3_PREFIX?: string;
  S3_FORCE_PATH_STYLE?: string;
  S3_ACCESS_KEY_ID?: string;
  /** Secret: `wrangler secret put S3_SECRET_ACCESS_KEY`. */
  S3_SECRET_ACCESS_KEY?: string;
  /** R2 binding + R2 S3 API credentials: blob GETs redirect to presigned https://<account>.r2.cloudflarestorage.com URLs. */
  R2_ACCOUNT_ID?: string;
  R2_ACCESS_KEY_ID?: string;
  /** Secret. */
  R2_SECRET_ACCESS_KEY?: string;
  R2_BUCKET_NAME?: string;
  /** Blob GET answered by a 307 to a presigned URL (on by default when the store can presign). */
  BLOB_REDIRECT?: string;
  /** Lifetime of presigned blob URLs, in seconds. */
  BLOB_REDIRECT_TTL_SECONDS?: string;
  /** Optional origin (CDN, proxy) that replaces the storage endpoint's in presigned URLs. */
  BLOB_PUBLIC_BASE_URL?: string;
  /** "open": anonymous push and pull (local development only). Otherwise token auth; with no users, deny all. */
  SKIFF_AUTH?: string;
  /** Secret: users, one `name:hash` per line (htpasswd bcrypt lines or `npm run user -- add NAME`). */
  AUTH_USERS?: string;
  /** JSON access rules: admins, groups, public repositories, rules (see src/auth/rules.ts and README "Setting up auth"). */
  AUTH_RULES?: string;
  /** Secret: the private JWK that signs tokens (`npm run keygen`). */
  AUTH_SIGNING_KEY?: string;
  /** JSON list of public JWKs of earlier signing keys, still accepted while keys rotate. */
  AUTH_VERIFY_KEYS?: string;
  /** Token audience and the challenge's `service`: the registry's host name. Required with token auth. */
  AUTH_SERVICE?: string;
  /** Token issuer. */
  AUTH_ISSUER?: string;
  /** Token endpoint URL in the challenge (https; http only on loopback). Required with token auth. */
  AUTH_REALM?: string;
  /** Access token lifetime, 60..3600 seconds. */
  AUTH_TOKEN_TTL_SECONDS?: string;
  /** Refresh token lifetime in days. */
  AUTH_REFRESH_TTL_DAYS?: string;
  /** Rate limiting bindings ([[ratelimits]] in wrangler.toml): password checks per user name / per client address. */
  LOGIN_LIMIT_USER?: unknown;
  LOGIN_LIMIT_ADDRESS?: unknown;
  /** "on": login rate limits with the two bindings above; "off": none. */
  AUTH_RATE_LIMIT?: string;
  /** Multipart part size, 5..32: an upload holds two parts in memory. */
  UPLOAD_PART_SIZE_MIB?: string;
  MAX_MANIFEST_BYTES?: string;
  /**
   * The largest request body the edge lets through, in MB (1,000,000 bytes), 1..5000: 100 on Free and Pro, 200 on
   * Business, 500 or more on Enterprise. Larger upload bodies get a 413 that says what to do instead.
   */
  MAX_REQUEST_BODY_MB?: string;
  /** Upload sessions older than this many hours are unknown, and garbage collection removes them (1..144). */
  UPLOAD_TTL_HOURS?: string;
  /** Repository patterns (comma-separated: `name`, `prefix/*`, `*`) whose tags, once pushed, never move. */
  IMMUTABLE_TAGS?: string;
  /** Garbage collection: grace window for new blobs and unnamed objects, in hours. */
  GC_GRACE_HOURS?: string;
  /** Garbage collection: hours between tombstoning and the second mark. */
  GC_QUARANTINE_HOURS?: string;
  /** Garbage collection: the smallest grace an on-demand run may ask for, in hours (0 only for tests). */
  GC_MIN_GRACE_HOURS?: string;
  /** Retention policies (JSON list, see src/gc/retention-policy.ts); unset = off. */
  RETENTION?: string;
  /**
   * Edge cache (Workers Cache API) for what never changes: manifests by digest and blob metadata, in seconds; 0 = off.
   * Also how long another colo may still serve a deleted manifest or blob. Blob metadata is cached only when this is
   * shorter than GC_QUARANTINE_HOURS (docs/gc.md §13).
   */
  EDGE_CACHE_SECONDS?: string;
  /** How stale a pull by tag may be, in seconds: tag lookups are cached this long (0 = never, the default). */
  TAG_CACHE_SECONDS?: string;
  /** "false": no per-request log line (events such as storage failures are still logged). Default on. */
  LOG_REQUESTS?: string;
  /** Workers Analytics Engine dataset ([[analytics_engine_datasets]] binding METRICS): one data point per request. */
  METRICS?: AnalyticsEngineDataset;
  [key: string]: unknown;
}

/**
 * Every setting the config parser reads: its kind and, where it has one, its default. The reader (read.ts) takes only
 * these names (SettingName) and takes defaults from here, so a new setting must be listed here, and the test that
 * feeds every setting a secret marker (test/auth/config-secrets.test.ts) covers it.
 * kind: "url" | "json" | "jwk" (JSON holding a key) | "users" (AUTH_USERS lines) | "int" | "bool" | "choice" | "text".
 * secret: its value must never be shown anywhere. public: a valid value is published by design (challenges,
 * tokens, presigned URLs), so only invalid values must stay out of responses.
 */
export const SETTINGS = {
  STORAGE_BACKEND: { kind: "choice", default: "r2" },
  S3_ENDPOINT: { kind: "url" },
  S3_REGION: { kind: "text" },
  S3_BUCKET: { kind: "text" },
  S3_PREFIX: { kind: "text", default: "" },
  /** Default: on with S3_ENDPOINT (S3-compatible servers), off for AWS. */
  S3_FORCE_PATH_STYLE: { kind: "bool" },
  S3_ACCESS_KEY_ID: { kind: "text", secret: true },
  S3_SECRET_ACCESS_KEY: { kind: "text", secret: true },
  R2_ACCOUNT_ID: { kind: "text" },
  R2_ACCESS_KEY_ID: { kind: "text", secret: true },
  R2_SECRET_ACCESS_KEY: { kind: "text", secret: true },
  R2_BUCKET_NAME: { kind: "text" },
  /** Default: on whenever the store can presign. */
  BLOB_REDIRECT: { kind: "bool" },
  BLOB_REDIRECT_TTL_SECONDS: { kind: "int", default: 300 },
  BLOB_PUBLIC_BASE_URL: { kind: "url", public: true },
  SKIFF_AUTH: { kind: "choice", default: "token" },
  AUTH_USERS: { kind: "users", secret: true },
  AUTH_RULES: { kind: "json" },
  AUTH_SIGNING_KEY: { kind: "jwk", secret: true },
  AUTH_VERIFY_KEYS: { kind: "jwk" },
  AUTH_SERVICE: { kind: "text", public: true },
  AUTH_ISSUER: { kind: "text", public: true, default: "skiff" },
  AUTH_REALM: { kind: "url", public: true },
  AUTH_TOKEN_TTL_SECONDS: { kind: "int", default: 300 },
  AUTH_REFRESH_TTL_DAYS: { kind: "int", default: 90 },
  AUTH_RATE_LIMIT: { kind: "choice", default: "on" },
  UPLOAD_PART_SIZE_MIB: { kind: "int", default: 8 },
  MAX_MANIFEST_BYTES: { kind: "int", default: 4 * 1024 * 1024 },
  MAX_REQUEST_BODY_MB: { kind: "int", default: 100 },
  UPLOAD_TTL_HOURS: { kind: "int", default: 24 },
  IMMUTABLE_TAGS: { kind: "text", default: "" },
  GC_GRACE_HOURS: { kind: "int", default: 24 },
  GC_QUARANTINE_HOURS: { kind: "int", default: 24 },
  GC_MIN_GRACE_HOURS: { kind: "int", default: 1 },
  RETENTION: { kind: "json" },
  EDGE_CACHE_SECONDS: { kind: "int", default: 300 },
  TAG_CACHE_SECONDS: { kind: "int", default: 0 },
  LOG_REQUESTS: { kind: "bool", default: true },
} as const satisfies Record<string, SettingSpec>;

interface SettingSpec {
  kind: "url" | "json" | "jwk" | "users" | "int" | "bool" | "choice" | "text";
  secret?: true;
  public?: true;
  default?: string | number | boolean;
}

export type SettingName = keyof typeof SETTINGS;
