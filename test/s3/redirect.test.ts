// Blob GETs answered with a 307 to a presigned URL, through the worker, in each storage configuration:
//   S3 backend (RGW)             307 to RGW; the URL is fetched for real and RGW checks its signature
//   S3 backend, redirects off    the worker streams, with Range support
//   R2 binding                   the worker streams (the binding cannot presign)
//   R2 binding + R2 S3 API keys  307 to https://<account>.r2.cloudflarestorage.com/...: ONLY THE URL IS CHECKED here
//                                (shape, expiry, signature recomputed independently), because no real R2 S3 endpoint
//                                can run locally; the same signer is proven against RGW above it.
import { describe, it, expect } from "vitest";
import { env } from "cloudflare:workers";
import app from "../../src/index";
import { keys } from "../../src/registry/paths";
import { parseDigest } from "../../src/protocol/digest";
import { ORIGIN, digestOf, pseudoRandomBytes, pushBlob, pushImage, registry, uniqueRepo, expectError } from "../api/helpers";
import { rgwSettings, rgwVars, sha256Hex } from "./helpers";
import { expectedSignature } from "./sigv4";

/** The project's R2 binding (from wrangler.toml). */
const BUCKET = (env as unknown as { BUCKET: R2Bucket }).BUCKET;

/** Calls the worker's app with its own env (a configuration other than the project's). */
function call(vars: Record<string, unknown>, path: string, init?: RequestInit): Promise<Response> {
  return Promise.resolve(app.fetch(new Request(new URL(path, ORIGIN), init), vars));
}

async function push(vars: Record<string, unknown>, repo: string, bytes: Uint8Array): Promise<string> {
  const digest = await digestOf(bytes);
  const res = await call(vars, `/v2/${repo}/blobs/uploads/?digest=${digest}`, { method: "POST", body: bytes });
  expect(res.status, await res.clone().text()).toBe(201);
  return digest;
}

describe("S3 backend: blob GET redirects to a presigned URL (the project's configuration)", () => {
  it("answers 307 with Location and Docker-Content-Digest; the URL serves the blob with no credentials", async () => {
    const repo = uniqueRepo("redirect");
    const bytes = pseudoRandomBytes(3_000_001, 5);
    const digest = await pushBlob(repo, bytes);

    // redirect: "manual" because a worker's fetcher follows redirects back into the worker itself.
    const res = await registry(`/v2/${repo}/blobs/${digest}`, { redirect: "manual" });
    expect(res.status).toBe(307);
    expect(res.headers.get("docker-content-digest")).toBe(digest);
    expect(res.headers.get("cache-control")).toBe("no-store");
    const location = new URL(res.headers.get("location")!);
    expect(location.origin).toBe(new URL(rgwSettings().endpoint).origin);
    expect(location.searchParams.get("X-Amz-Expires")).toBe("300"); // the default TTL

    const blob = await fetch(location);
    expect(blob.status).toBe(200);
    expect(blob.headers.get("content-length")).toBe(String(bytes.byteLength));
    expect(`sha256:${await sha256Hex(blob.body!)}`).toBe(digest);
  });

  it("a Range request gets the same redirect; the storage answers the range with the right bytes", async () => {
    const repo = uniqueRepo("redirect");
    const bytes = pseudoRandomBytes(20 * 1024 * 1024 + 5, 9); // multipart: ranges cross part boundaries
    const digest = await pushBlob(repo, bytes);
    for (const [range, from, to] of [
      ["bytes=0-99", 0, 100],
      [`bytes=${8 * 1024 * 1024 - 50}-${8 * 1024 * 1024 + 49}`, 8 * 1024 * 1024 - 50, 8 * 1024 * 1024 + 50],
      ["bytes=-7", bytes.byteLength - 7, bytes.byteLength],
      [`bytes=${bytes.byteLength - 3}-`, bytes.byteLength - 3, bytes.byteLength],
    ] as const) {
      const res = await registry(`/v2/${repo}/blobs/${digest}`, { headers: { Range: range }, redirect: "manual" });
      expect(res.status).toBe(307);
      // What Go clients, curl -L and fetch do: follow, sending Range again (and no Authorization to another host).
      const part = await fetch(res.headers.get("location")!, { headers: { Range: range } });
      expect(part.status).toBe(206);
      expect(part.headers.get("content-range")).toBe(`bytes ${from}-${to - 1}/${bytes.byteLength}`);
      expect(new Uint8Array(await part.arrayBuffer())).toEqual(bytes.slice(from, to));
    }
  });

  it("an unsatisfiable Range gets the registry's 416, not a redirect", async () => {
    const repo = uniqueRepo("redirect");
    const digest = await pushBlob(repo, "0123456789");
    const res = await registry(`/v2/${repo}/blobs/${digest}`, { headers: { Range: "bytes=10-20" }, redirect: "manual" });
    expect(res.status).toBe(416);
    expect(res.headers.get("content-range")).toBe("bytes */10");
    expect(res.headers.get("location")).toBeNull();
  });

  it("HEAD is answered by the worker itself, with the size; manifests are never redirected", async () => {
    const repo = uniqueRepo("redirect");
    const { digest, bytes } = await pushImage(repo, "v1");
    const layer = await pushBlob(repo, "layer bytes");
    const head = await registry(`/v2/${repo}/blobs/${layer}`, { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(head.headers.get("content-length")).toBe("11");
    expect(head.headers.get("docker-content-digest")).toBe(layer);
    expect(head.headers.get("location")).toBeNull();
    const manifest = await registry(`/v2/${repo}/manifests/v1`);
    expect(manifest.status).toBe(200);
    expect(manifest.headers.get("docker-content-digest")).toBe(digest);
    expect(new Uint8Array(await manifest.arrayBuffer())).toEqual(bytes);
  });

  it("unknown blobs and blobs of other repositories are 404, never redirected", async () => {
    const a = uniqueRepo("redirect");
    const digest = await pushBlob(a, "only in a");
    await expectError(await registry(`/v2/${uniqueRepo("redirect")}/blobs/${digest}`, { redirect: "manual" }), 404, "BLOB_UNKNOWN");
    await expectError(await registry(`/v2/${a}/blobs/sha256:${"0".repeat(64)}`, { redirect: "manual" }), 404, "BLOB_UNKNOWN");
  });

  it("the presigned URL expires after BLOB_REDIRECT_TTL_SECONDS (RGW refuses it with 403)", async () => {
    const vars = rgwVars({ BLOB_REDIRECT_TTL_SECONDS: "1" });
    const repo = uniqueRepo("ttl");
    const digest = await push(vars, repo, new TextEncoder().encode("expiring"));
    const res = await call(vars, `/v2/${repo}/blobs/${digest}`);
    expect(res.status).toBe(307);
    const url = res.headers.get("location")!;
    expect(new URL(url).searchParams.get("X-Amz-Expires")).toBe("1");
    expect(await (await fetch(url)).text()).toBe("expiring");
    await new Promise((r) => setTimeout(r, 2100));
    expect((await fetch(url)).status).toBe(403);
  });

  it("BLOB_PUBLIC_BASE_URL replaces the origin of the redirect", async () => {
    const vars = rgwVars({ BLOB_PUBLIC_BASE_URL: "https://cdn.example.net/registry" });
    const repo = uniqueRepo("cdn");
    const digest = await push(vars, repo, new TextEncoder().encode("via cdn"));
    const location = new URL((await call(vars, `/v2/${repo}/blobs/${digest}`)).headers.get("location")!);
    expect(location.origin).toBe("https://cdn.example.net");
    expect(location.pathname).toMatch(new RegExp(`^/registry/${rgwSettings().bucket}/${vars.S3_PREFIX}data/`));
    expect(location.searchParams.get("X-Amz-Signature")).toMatch(/^[0-9a-f]{64}$/);
  });

  it("the independent SigV4 check agrees with RGW: URLs RGW accepts verify, with the right secret only", async () => {
    const vars = rgwVars();
    const repo = uniqueRepo("sig");
    const digest = await push(vars, repo, new TextEncoder().encode("signed"));
    const url = (await call(vars, `/v2/${repo}/blobs/${digest}`)).headers.get("location")!;
    expect((await fetch(url)).status).toBe(200);
    const sig = new URL(url).searchParams.get("X-Amz-Signature");
    expect(await expectedSignature(url, vars.S3_SECRET_ACCESS_KEY)).toBe(sig);
    expect(await expectedSignature(url, "another secret")).not.toBe(sig);
  });
});

describe("S3 backend with BLOB_REDIRECT=false: the worker streams", () => {
  it("serves the blob and its ranges itself", async () => {
    const vars = rgwVars({ BLOB_REDIRECT: "false" });
    const repo = uniqueRepo("stream");
    const bytes = pseudoRandomBytes(100_000, 2);
    const digest = await push(vars, repo, bytes);
    const res = await call(vars, `/v2/${repo}/blobs/${digest}`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-length")).toBe("100000");
    expect(`sha256:${await sha256Hex(res.body!)}`).toBe(digest);
    const part = await call(vars, `/v2/${repo}/blobs/${digest}`, { headers: { Range: "bytes=500-599" } });
    expect(part.status).toBe(206);
    expect(new Uint8Array(await part.arrayBuffer())).toEqual(bytes.slice(500, 600));
  });
});

describe("R2 binding", () => {
  const ACCOUNT = "0123456789abcdef0123456789abcdef";
  const r2Presign = {
    R2_ACCOUNT_ID: ACCOUNT,
    R2_ACCESS_KEY_ID: "r2-access-key-id",
    R2_SECRET_ACCESS_KEY: "r2-secret-access-key",
    R2_BUCKET_NAME: "skiff-registry",
  };

  it("without R2 S3 credentials, blob GETs stream through the worker", async () => {
    const vars = { BUCKET, SKIFF_AUTH: "open" };
    const repo = uniqueRepo("r2");
    const bytes = pseudoRandomBytes(50_000, 4);
    const digest = await push(vars, repo, bytes);
    const res = await call(vars, `/v2/${repo}/blobs/${digest}`);
    expect(res.status).toBe(200);
    expect(res.headers.get("location")).toBeNull();
    expect(`sha256:${await sha256Hex(res.body!)}`).toBe(digest);
  });

  // No R2 S3 endpoint can run locally: this checks only the URL the worker builds, not that R2 accepts it.
  it("with R2 S3 credentials, blob GETs redirect to a presigned https://<account>.r2.cloudflarestorage.com URL (URL checked only)", async () => {
    const vars = { BUCKET, SKIFF_AUTH: "open", BLOB_REDIRECT_TTL_SECONDS: "120", ...r2Presign };
    const repo = uniqueRepo("r2p");
    const digest = await push(vars, repo, new TextEncoder().encode("bytes in R2"));
    const before = Date.now();
    const res = await call(vars, `/v2/${repo}/blobs/${digest}`);
    expect(res.status).toBe(307);
    expect(res.headers.get("docker-content-digest")).toBe(digest);

    const url = new URL(res.headers.get("location")!);
    expect(url.protocol).toBe("https:");
    expect(url.host).toBe(`${ACCOUNT}.r2.cloudflarestorage.com`);
    // Path style: /<bucket>/<key>, the key being where the blob's bytes are stored in the bound bucket.
    const record = await BUCKET.head(keys.blob(parseDigest(digest)!));
    expect(url.pathname).toBe(`/skiff-registry/${record!.customMetadata!.data}`);
    const q = url.searchParams;
    expect(q.get("X-Amz-Algorithm")).toBe("AWS4-HMAC-SHA256");
    expect(q.get("X-Amz-Expires")).toBe("120");
    expect(q.get("X-Amz-SignedHeaders")).toBe("host");
    const [keyId, day, region, service, terminator] = q.get("X-Amz-Credential")!.split("/");
    expect([keyId, region, service, terminator]).toEqual(["r2-access-key-id", "auto", "s3", "aws4_request"]);
    const signedAt = Date.parse(q.get("X-Amz-Date")!.replace(/^(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z$/, "$1-$2-$3T$4:$5:$6Z"));
    expect(Math.abs(signedAt - before)).toBeLessThan(60_000);
    expect(q.get("X-Amz-Date")!.startsWith(day)).toBe(true);
    expect([...q.keys()].filter((k) => /checksum|x-amz-security-token/i.test(k))).toEqual([]);
    // The signature is what SigV4 gives for the R2 secret (recomputed independently), and not for another one.
    expect(q.get("X-Amz-Signature")).toBe(await expectedSignature(url.href, "r2-secret-access-key"));
    expect(q.get("X-Amz-Signature")).not.toBe(await expectedSignature(url.href, "another-secret"));
    // HEAD stays with the worker.
    const head = await call(vars, `/v2/${repo}/blobs/${digest}`, { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(head.headers.get("content-length")).toBe("11");
  });

  it("BLOB_REDIRECT=false keeps streaming even with R2 S3 credentials", async () => {
    const vars = { BUCKET, SKIFF_AUTH: "open", BLOB_REDIRECT: "false", ...r2Presign };
    const repo = uniqueRepo("r2off");
    const digest = await push(vars, repo, new TextEncoder().encode("streamed"));
    const res = await call(vars, `/v2/${repo}/blobs/${digest}`);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe("streamed");
  });
});
