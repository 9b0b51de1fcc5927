// Storage configuration: every missing or inconsistent setting is a ConfigError that names it; the worker logs it
// once and answers a generic 503 UNAVAILABLE (never a 500, never the problem or a value).
// Every setting fed a secret marker, through the routes: test/auth/config-secrets.test.ts.
import { describe, it, expect, vi } from "vitest";
import { env } from "cloudflare:workers";
import { parseConfig, ConfigError, MAX_PART_SIZE_MIB } from "../../src/config";
import app from "../../src/index";
import { ORIGIN } from "../api/helpers";

/** The project's R2 binding (from wrangler.toml). */
const BUCKET = (env as unknown as { BUCKET: R2Bucket }).BUCKET;
/** The R2 backend, auth open (token auth needs AUTH_REALM and AUTH_SERVICE, see test/auth/realm.test.ts). */
const R2 = { BUCKET, SKIFF_AUTH: "open" };

const S3 = {
  STORAGE_BACKEND: "s3",
  S3_ENDPOINT: "http://127.0.0.1:9000",
  S3_BUCKET: "registry",
  S3_ACCESS_KEY_ID: "AKID",
  S3_SECRET_ACCESS_KEY: "s3-secret-value",
  SKIFF_AUTH: "open",
};
const R2_PRESIGN = {
  R2_ACCOUNT_ID: "0123456789abcdef0123456789abcdef",
  R2_ACCESS_KEY_ID: "r2-key",
  R2_SECRET_ACCESS_KEY: "r2-secret-value",
  R2_BUCKET_NAME: "skiff-registry",
};

function problems(vars: Record<string, unknown>): string[] {
  try {
    parseConfig(vars);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems;
  }
  throw new Error("expected a ConfigError");
}

describe("storage configuration", () => {
  it("S3: defaults, path style for custom endpoints, region auto for R2's endpoint, prefix normalised", () => {
    const c = parseConfig({ ...S3, S3_PREFIX: "skiff" });
    expect(c.storage).toEqual({
      backend: "s3",
      s3: { endpoint: "http://127.0.0.1:9000", region: "us-east-1", bucket: "registry", prefix: "skiff/", accessKeyId: "AKID", secretAccessKey: "s3-secret-value", forcePathStyle: true },
    });
    expect(c.blobRedirect).toEqual({ enabled: true, ttlSeconds: 300, publicBaseUrl: undefined });

    const r2 = parseConfig({ ...S3, S3_ENDPOINT: "https://0123456789abcdef0123456789abcdef.r2.cloudflarestorage.com/" });
    expect(r2.storage.backend === "s3" && r2.storage.s3).toMatchObject({ region: "auto", forcePathStyle: true, endpoint: "https://0123456789abcdef0123456789abcdef.r2.cloudflarestorage.com" });

    const aws = parseConfig({ ...S3, S3_ENDPOINT: undefined, S3_REGION: "eu-west-1" });
    expect(aws.storage.backend === "s3" && aws.storage.s3).toMatchObject({ endpoint: "https://s3.eu-west-1.amazonaws.com", region: "eu-west-1", forcePathStyle: false });

    const explicit = parseConfig({ ...S3, S3_FORCE_PATH_STYLE: "false", BLOB_REDIRECT: "off", BLOB_REDIRECT_TTL_SECONDS: "60" });
    expect(explicit.storage.backend === "s3" && explicit.storage.s3.forcePathStyle).toBe(false);
    expect(explicit.blobRedirect).toMatchObject({ enabled: false, ttlSeconds: 60 });
  });

  it("S3: names every missing setting at once", () => {
    const p = problems({ STORAGE_BACKEND: "s3", SKIFF_AUTH: "open" }).join("\n");
    for (const name of ["S3_BUCKET", "S3_ACCESS_KEY_ID", "S3_SECRET_ACCESS_KEY", "S3_ENDPOINT"]) expect(p).toContain(name);
  });

  it("S3: rejects malformed values, naming the setting", () => {
    expect(problems({ ...S3, S3_ENDPOINT: "s3.example.com" }).join()).toMatch(/S3_ENDPOINT/);
    expect(problems({ ...S3, S3_ENDPOINT: "https://s3.example.com/bucket" }).join()).toMatch(/S3_ENDPOINT .*without path/);
    expect(problems({ ...S3, S3_ENDPOINT: "ftp://s3.example.com" }).join()).toMatch(/S3_ENDPOINT/);
    expect(problems({ ...S3, S3_FORCE_PATH_STYLE: "maybe" }).join()).toMatch(/S3_FORCE_PATH_STYLE/);
    expect(problems({ ...S3, S3_PREFIX: "/abs" }).join()).toMatch(/S3_PREFIX/);
    expect(problems({ ...S3, S3_BUCKET: "a/b" }).join()).toMatch(/S3_BUCKET/);
    expect(problems({ ...S3, S3_ENDPOINT: undefined, S3_REGION: "auto" }).join()).toMatch(/S3_REGION .*S3_ENDPOINT/);
    expect(problems({ ...S3, BLOB_REDIRECT_TTL_SECONDS: "0" }).join()).toMatch(/BLOB_REDIRECT_TTL_SECONDS/);
    expect(problems({ ...S3, BLOB_REDIRECT_TTL_SECONDS: "604801" }).join()).toMatch(/BLOB_REDIRECT_TTL_SECONDS/);
    expect(problems({ ...S3, BLOB_REDIRECT: "sometimes" }).join()).toMatch(/BLOB_REDIRECT/);
    expect(problems({ ...S3, BLOB_PUBLIC_BASE_URL: "cdn.example.com" }).join()).toMatch(/BLOB_PUBLIC_BASE_URL/);
    expect(problems({ STORAGE_BACKEND: "gcs" }).join()).toMatch(/STORAGE_BACKEND must be "r2" or "s3"/);
  });

  it("never puts a secret's value in an error", () => {
    const all = [
      ...problems({ ...S3, S3_ENDPOINT: "nope" }),
      ...problems({ BUCKET, ...R2_PRESIGN, R2_ACCOUNT_ID: "bad" }),
    ].join();
    expect(all).not.toContain("s3-secret-value");
    expect(all).not.toContain("r2-secret-value");
  });

  it("R2: presigning needs all four R2 settings; names the missing ones and a malformed account id", () => {
    const ok = parseConfig({ ...R2, ...R2_PRESIGN });
    expect(ok.storage.backend === "r2" && ok.storage.presign).toMatchObject({
      endpoint: "https://0123456789abcdef0123456789abcdef.r2.cloudflarestorage.com",
      region: "auto",
      bucket: "skiff-registry",
      forcePathStyle: true,
    });
    expect(ok.blobRedirect.enabled).toBe(true);
    expect(parseConfig({ ...R2 }).blobRedirect.enabled).toBe(false);

    const missing = problems({ BUCKET, R2_ACCOUNT_ID: R2_PRESIGN.R2_ACCOUNT_ID, R2_ACCESS_KEY_ID: "k" }).join();
    expect(missing).toMatch(/missing R2_SECRET_ACCESS_KEY, R2_BUCKET_NAME/);
    expect(problems({ BUCKET, ...R2_PRESIGN, R2_ACCOUNT_ID: "evil.example.com/x" }).join()).toMatch(/R2_ACCOUNT_ID/);
  });

  it("inconsistent combinations are errors: redirects forced on without presigning, a CDN without redirects, settings of the other backend", () => {
    expect(problems({ BUCKET, BLOB_REDIRECT: "true" }).join()).toMatch(/BLOB_REDIRECT=true needs presigned URLs/);
    expect(problems({ BUCKET, BLOB_PUBLIC_BASE_URL: "https://cdn.example.com" }).join()).toMatch(/BLOB_PUBLIC_BASE_URL is set but blob redirects are off/);
    expect(problems({ ...S3, BLOB_REDIRECT: "false", BLOB_PUBLIC_BASE_URL: "https://cdn.example.com" }).join()).toMatch(/BLOB_PUBLIC_BASE_URL/);
    expect(problems({ BUCKET, S3_BUCKET: "x" }).join()).toMatch(/S3_BUCKET set but STORAGE_BACKEND is "r2"/);
    expect(problems({ ...S3, R2_ACCOUNT_ID: R2_PRESIGN.R2_ACCOUNT_ID }).join()).toMatch(/R2_ACCOUNT_ID apply to STORAGE_BACKEND=r2 only/);
    expect(problems({ STORAGE_BACKEND: "r2" }).join()).toMatch(/binding named BUCKET/);
  });

  it("UPLOAD_PART_SIZE_MIB: 5 to 32 MiB, so that an upload's two parts in memory fit well inside a Worker's 128 MB", () => {
    expect(MAX_PART_SIZE_MIB).toBe(32);
    expect(parseConfig({ ...R2, UPLOAD_PART_SIZE_MIB: "5" }).registry.partSize).toBe(5 * 1024 * 1024);
    expect(parseConfig({ ...R2, UPLOAD_PART_SIZE_MIB: "32" }).registry.partSize).toBe(32 * 1024 * 1024);
    expect(2 * parseConfig({ ...R2, UPLOAD_PART_SIZE_MIB: "32" }).registry.partSize).toBeLessThanOrEqual((128 * 1024 * 1024) / 2);
    expect(problems({ BUCKET, UPLOAD_PART_SIZE_MIB: "33" }).join()).toMatch(/UPLOAD_PART_SIZE_MIB must be an integer from 5 to 32/);
    expect(problems({ BUCKET, UPLOAD_PART_SIZE_MIB: "4" }).join()).toMatch(/UPLOAD_PART_SIZE_MIB must be an integer from 5 to 32/);
    expect(problems({ BUCKET, UPLOAD_PART_SIZE_MIB: "512" }).join()).toMatch(/UPLOAD_PART_SIZE_MIB/);
  });

  it("URL settings: the problem says what is wrong without quoting the URL (it may hold credentials)", () => {
    const cases: [Record<string, string>, RegExp][] = [
      [{ ...S3, S3_ENDPOINT: "https://AKID:hunter2@s3.example.com" }, /S3_ENDPOINT .*holds credentials/],
      [{ ...S3, S3_ENDPOINT: "https://s3.example.com/?X-Amz-Signature=hunter2" }, /S3_ENDPOINT .*query/],
      [{ ...S3, S3_ENDPOINT: "https://u:hunter2@s3 example.com" }, /S3_ENDPOINT .*not an absolute URL/],
      [{ ...S3, BLOB_PUBLIC_BASE_URL: "https://u:hunter2@cdn.example.com" }, /BLOB_PUBLIC_BASE_URL .*holds credentials/],
    ];
    for (const [vars, re] of cases) {
      const p = problems(vars).join("\n");
      expect(p).toMatch(re);
      expect(p).not.toContain("hunter2");
      for (const part of ["AKID", "cdn.example.com", "s3 example", "X-Amz"]) expect(p).not.toContain(part);
    }
  });

  it("a worker with a broken configuration answers a generic 503 UNAVAILABLE and logs the problem, naming the setting, once", async () => {
    const errors = vi.spyOn(console, "error").mockImplementation(() => {});
    try {
      const vars = { STORAGE_BACKEND: "s3", S3_ENDPOINT: "http://127.0.0.1:9000", S3_ACCESS_KEY_ID: "AKID", S3_SECRET_ACCESS_KEY: "s3-secret-value" };
      for (const path of ["/v2/", "/v2/a/b/blobs/sha256:" + "0".repeat(64), "/v2/a/b/manifests/latest"]) {
        const res = await app.fetch(new Request(new URL(path, ORIGIN)), vars);
        expect(res.status).toBe(503);
        const body = (await res.json()) as { errors: { code: string; message: string }[] };
        expect(body.errors).toEqual([{ code: "UNAVAILABLE", message: "registry misconfigured, see the logs" }]);
        expect(JSON.stringify(body)).not.toContain("s3-secret-value");
      }
      const logged = errors.mock.calls.filter((args) => String(args[0]).includes("S3_BUCKET"));
      expect(logged).toHaveLength(1);
    } finally {
      errors.mockRestore();
    }
  });
});
