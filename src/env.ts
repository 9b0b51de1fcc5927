// The Worker's bindings and variables (wrangler.toml [vars], secrets, .dev.vars).
export interface Env {
  BUCKET?: R2Bucket;
  /** "r2" (the BUCKET binding, default) or "s3" (the S3_* settings). */
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
  /** Blob GET answered by a 307 to a presigned URL: default on whenever the store can presign. */
  BLOB_REDIRECT?: string;
  /** Lifetime of presigned blob URLs (default 300). */
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
  /** Token issuer (default "skiff"). */
  AUTH_ISSUER?: string;
  /** Token endpoint URL in the challenge (https; http only on loopback). Required with token auth. */
  AUTH_REALM?: string;
  /** Access token lifetime, 60..3600 (default 300). */
  AUTH_TOKEN_TTL_SECONDS?: string;
  /** Refresh token lifetime in days (default 90). */
  AUTH_REFRESH_TTL_DAYS?: string;
  /** Rate limiting bindings ([[ratelimits]] in wrangler.toml): password checks per user name / per client address. */
  LOGIN_LIMIT_USER?: unknown;
  LOGIN_LIMIT_ADDRESS?: unknown;
  /** "on" (default): login rate limits with the two bindings above; "off": none. */
  AUTH_RATE_LIMIT?: string;
  /** Multipart part size, 5..32 (default 8): an upload holds two parts in memory. */
  UPLOAD_PART_SIZE_MIB?: string;
  MAX_MANIFEST_BYTES?: string;
  [key: string]: unknown;
}

/**
 * Every setting the config parser reads, and what kind of value it holds. The readers in src/config.ts,
 * src/storage/config.ts and src/auth/settings.ts take only these names (SettingName), so a new setting must be
 * listed here, and the test that feeds every setting a secret marker (test/auth/config-secrets.test.ts) covers it.
 * kind: "url" | "json" | "jwk" (JSON holding a key) | "users" (AUTH_USERS lines) | "text".
 * secret: its value must never be shown anywhere. public: a valid value is published by design (challenges,
 * tokens, presigned URLs), so only invalid values must stay out of responses.
 */
export const SETTINGS = {
  STORAGE_BACKEND: { kind: "text" },
  S3_ENDPOINT: { kind: "url" },
  S3_REGION: { kind: "text" },
  S3_BUCKET: { kind: "text" },
  S3_PREFIX: { kind: "text" },
  S3_FORCE_PATH_STYLE: { kind: "text" },
  S3_ACCESS_KEY_ID: { kind: "text", secret: true },
  S3_SECRET_ACCESS_KEY: { kind: "text", secret: true },
  R2_ACCOUNT_ID: { kind: "text" },
  R2_ACCESS_KEY_ID: { kind: "text", secret: true },
  R2_SECRET_ACCESS_KEY: { kind: "text", secret: true },
  R2_BUCKET_NAME: { kind: "text" },
  BLOB_REDIRECT: { kind: "text" },
  BLOB_REDIRECT_TTL_SECONDS: { kind: "text" },
  BLOB_PUBLIC_BASE_URL: { kind: "url", public: true },
  SKIFF_AUTH: { kind: "text" },
  AUTH_USERS: { kind: "users", secret: true },
  AUTH_RULES: { kind: "json" },
  AUTH_SIGNING_KEY: { kind: "jwk", secret: true },
  AUTH_VERIFY_KEYS: { kind: "jwk" },
  AUTH_SERVICE: { kind: "text", public: true },
  AUTH_ISSUER: { kind: "text", public: true },
  AUTH_REALM: { kind: "url", public: true },
  AUTH_TOKEN_TTL_SECONDS: { kind: "text" },
  AUTH_REFRESH_TTL_DAYS: { kind: "text" },
  AUTH_RATE_LIMIT: { kind: "text" },
  UPLOAD_PART_SIZE_MIB: { kind: "text" },
  MAX_MANIFEST_BYTES: { kind: "text" },
} as const satisfies Record<string, { kind: "url" | "json" | "jwk" | "users" | "text"; secret?: true; public?: true }>;

export type SettingName = keyof typeof SETTINGS;
