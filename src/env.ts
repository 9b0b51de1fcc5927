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
  /** JSON access rules: admins, groups, public repositories, rules (see src/auth/rules.ts and the README). */
  AUTH_RULES?: string;
  /** Secret: the private JWK that signs tokens (`npm run keygen`). */
  AUTH_SIGNING_KEY?: string;
  /** JSON list of public JWKs of earlier signing keys, still accepted while keys rotate. */
  AUTH_VERIFY_KEYS?: string;
  /** Token audience (`service`); default: the host the request was sent to. */
  AUTH_SERVICE?: string;
  /** Token issuer (default "skiff"). */
  AUTH_ISSUER?: string;
  /** Token endpoint URL in the challenge; default: <request origin>/token. */
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
  UPLOAD_PART_SIZE_MIB?: string;
  MAX_MANIFEST_BYTES?: string;
  [key: string]: unknown;
}
