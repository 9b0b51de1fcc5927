// Direct-to-bucket uploads (docs/direct-upload.md) through the worker, with the parts PUT to a real Ceph RGW through
// the presigned URLs the worker hands out: RGW checks every signature, so what a URL can and cannot write is
// RGW's verdict, not ours. Each test runs on a worker env of its own with its own key prefix, so that the bucket's
// objects and multipart uploads under it are that test's alone.
import { describe, it, expect } from "vitest";
import { ListMultipartUploadsCommand } from "@aws-sdk/client-s3";
import { SignJWT, exportJWK, generateKeyPair } from "jose";
import app from "../../src/index";
import { createApp } from "../../src/http/app";
import { parseConfig } from "../../src/config";
import { createRuntime, runtimeFor } from "../../src/runtime";
import { readReport, runStep, startRun } from "../../src/gc";
import { createStorage } from "../../src/storage";
import { S3Store } from "../../src/storage/s3";
import { hashPasswordPbkdf2 } from "../../src/auth/passwords";
import { loadUpload, startUpload } from "../../src/registry/uploads";
import { requestPartUrls } from "../../src/registry/direct-uploads";
import { hashStored } from "../../src/registry/upload-bytes";
import type { Env } from "../../src/config/settings";
import { concat } from "../storage/contract";
import { digestOf, expectError, incrementalDigest, pseudoRandomBytes, requestTo, uniqueRepo, withQuery } from "../api/helpers";
import { rgwSettings, rgwVars, sha256Hex } from "./helpers";

const MiB = 1024 * 1024;
const PART = 5 * MiB; // the smallest part size S3 allows, to keep the tests' bytes few

/** A worker env on the S3 backend with a key prefix of its own; blob GETs stream through the worker. */
function freshEnv(extra: Record<string, string> = {}) {
  const vars = rgwVars({ BLOB_REDIRECT: "false", ...extra });
  const store = new S3Store(rgwSettings({ prefix: vars.S3_PREFIX }));
  const call = (path: string, init?: RequestInit) => Promise.resolve(app.fetch(requestTo(path, init), vars));
  /** Multipart uploads in progress under this env's prefix (upload ids). */
  const openUploads = async () => {
    const r = await store.client.send(new ListMultipartUploadsCommand({ Bucket: rgwSettings().bucket, Prefix: vars.S3_PREFIX }));
    return (r.Uploads ?? []).map((u) => u.UploadId!);
  };
  return { vars, store, call, openUploads };
}
type Env_ = ReturnType<typeof freshEnv>;

async function start(env: Env_, repo: string): Promise<string> {
  const res = await env.call(`/v2/${repo}/blobs/uploads/`, { method: "POST" });
  expect(res.status).toBe(202);
  return res.headers.get("location")!;
}

function askParts(env: Env_, location: string, body: unknown, headers: Record<string, string> = { "Content-Type": "application/json" }) {
  return env.call(`${location}/parts`, { method: "POST", headers, body: typeof body === "string" ? body : JSON.stringify(body) });
}

interface PartUrlsAnswer {
  partSize: number;
  expiresAt: string;
  parts: { partNumber: number; url: string }[];
}

async function partUrls(env: Env_, location: string, body: unknown): Promise<PartUrlsAnswer> {
  const res = await askParts(env, location, body);
  expect(res.status, await res.clone().text()).toBe(200);
  expect(res.headers.get("content-type")).toMatch(/^application\/json/);
  expect(res.headers.get("cache-control")).toBe("no-store");
  return res.json();
}

async function listed(env: Env_, location: string): Promise<{ partSize: number | null; parts: { partNumber: number; size: number; etag: string }[] }> {
  const res = await env.call(`${location}/parts`);
  expect(res.status, await res.clone().text()).toBe(200);
  return res.json();
}

/** PUTs a part to its URL as a client does: the bytes with their Content-Length, nothing else. Returns the ETag. */
async function putPart(url: string, bytes: Uint8Array): Promise<string> {
  const res = await fetch(url, { method: "PUT", body: bytes });
  const text = await res.text();
  expect(res.status, text).toBe(200);
  return (res.headers.get("etag") ?? "").replace(/"/g, "");
}

async function complete(env: Env_, location: string, digest: string): Promise<Response> {
  return env.call(withQuery(location, { digest }), { method: "PUT", headers: { "Content-Length": "0" } });
}

/** The object key a part URL writes (after the env's prefix), and its upload id. */
function target(url: string, env: Env_): { key: string; uploadId: string } {
  const u = new URL(url);
  const path = decodeURIComponent(u.pathname);
  return { key: path.slice(path.indexOf(env.vars.S3_PREFIX) + env.vars.S3_PREFIX.length), uploadId: u.searchParams.get("uploadId")! };
}

describe("discovery", () => {
  it("POST on the S3 backend answers Skiff-Direct-Upload: v1, with OCI-Chunk-Min-Length and OCI-Chunk-Max-Length", async () => {
    const env = freshEnv();
    const res = await env.call(`/v2/${uniqueRepo("direct")}/blobs/uploads/`, { method: "POST" });
    expect(res.status).toBe(202);
    expect(res.headers.get("skiff-direct-upload")).toBe("v1");
    expect(res.headers.get("oci-chunk-min-length")).toBe(String(8 * MiB));
    expect(res.headers.get("oci-chunk-max-length")).toBe("100000000"); // the default MAX_REQUEST_BODY_MB
  });

  it("the R2 binding with R2's S3 API credentials offers it too; the binding alone does not (and answers 405)", async () => {
    const { env: projectEnv } = await import("cloudflare:workers");
    const BUCKET = (projectEnv as unknown as { BUCKET: R2Bucket }).BUCKET;
    const r2 = { BUCKET, SKIFF_AUTH: "open" };
    const withKeys = { ...r2, R2_ACCOUNT_ID: "0123456789abcdef0123456789abcdef", R2_ACCESS_KEY_ID: "id", R2_SECRET_ACCESS_KEY: "secret", R2_BUCKET_NAME: "skiff" };
    const repo = uniqueRepo("direct");
    const a = await app.fetch(requestTo(`/v2/${repo}/blobs/uploads/`, { method: "POST" }), withKeys);
    expect(a.headers.get("skiff-direct-upload")).toBe("v1");
    const b = await app.fetch(requestTo(`/v2/${repo}/blobs/uploads/`, { method: "POST" }), r2);
    expect(b.headers.get("skiff-direct-upload")).toBeNull();
    const refused = await app.fetch(
      requestTo(`${b.headers.get("location")}/parts`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ partSize: PART, parts: [1] }) }),
      r2,
    );
    const err = await expectError(refused, 405, "UNSUPPORTED");
    expect(err.message).toMatch(/PATCH/);
  });
});

describe("a direct upload, parts PUT to RGW", () => {
  it("3 parts: URLs for exactly (key, upload id, part number), the listing, completion with 201, the blob byte-identical", async () => {
    const env = freshEnv();
    const repo = uniqueRepo("direct");
    const parts = [pseudoRandomBytes(PART, 1), pseudoRandomBytes(PART, 2), pseudoRandomBytes(1234, 3)];
    const blob = concat(...parts);
    const digest = await digestOf(blob);
    const location = await start(env, repo);

    const before = Date.now();
    const answer = await partUrls(env, location, { partSize: PART, parts: [1, 2, 3] });
    expect(answer.partSize).toBe(PART);
    const expires = Date.parse(answer.expiresAt);
    expect(expires).toBeGreaterThan(before + 14 * 60_000);
    expect(expires).toBeLessThanOrEqual(Date.now() + 15 * 60_000);
    expect(answer.parts.map((p) => p.partNumber)).toEqual([1, 2, 3]);
    const first = target(answer.parts[0].url, env);
    expect(first.key).toMatch(/^data\/[0-9a-f-]{36}$/);
    expect(await env.openUploads()).toEqual([first.uploadId]);
    for (const p of answer.parts) {
      const u = new URL(p.url);
      expect(target(p.url, env)).toEqual(first); // the same upload for every part
      expect(u.searchParams.get("partNumber")).toBe(String(p.partNumber));
      expect(u.searchParams.get("X-Amz-Expires")).toBe("900");
      expect(u.searchParams.get("X-Amz-SignedHeaders")).toBe("host"); // a client sends no header but Content-Length
      expect([...u.searchParams.keys()].filter((k) => /checksum/i.test(k))).toEqual([]);
    }

    const etags: string[] = [];
    for (let i = 0; i < 3; i++) etags.push(await putPart(answer.parts[i].url, parts[i]));
    const list = await listed(env, location);
    expect(list).toEqual({ partSize: PART, parts: parts.map((p, i) => ({ partNumber: i + 1, size: p.byteLength, etag: etags[i] })) });
    // The session's own Range says nothing about parts: the listing is the truth.
    expect((await env.call(location)).headers.get("range")).toBe("0-0");

    const done = await complete(env, location, digest);
    expect(done.status, await done.clone().text()).toBe(201);
    expect(done.headers.get("docker-content-digest")).toBe(digest);
    const got = await env.call(`/v2/${repo}/blobs/${digest}`);
    expect(got.status).toBe(200);
    expect(got.headers.get("content-length")).toBe(String(blob.byteLength));
    expect(`sha256:${await sha256Hex(got.body!)}`).toBe(digest);
    expect(await env.openUploads()).toEqual([]); // completed: no URL can write it any more
    await expectError(await env.call(location), 404, "BLOB_UPLOAD_UNKNOWN");
    // A URL of the finished upload writes nothing. (Refused requests send a few bytes: RGW answers before reading
    // the body, and workerd reports a larger body it could not send as an uncaught exception.)
    const late = await fetch(answer.parts[0].url, { method: "PUT", body: parts[2].subarray(0, 10) });
    expect(late.status).toBe(404);
    await late.arrayBuffer();
  });

  it("resume: the listing shows exactly the parts PUT so far; later requests may omit partSize or repeat it, never change it", async () => {
    const env = freshEnv();
    const repo = uniqueRepo("direct");
    const parts = [pseudoRandomBytes(PART, 11), pseudoRandomBytes(PART, 12), pseudoRandomBytes(PART - 1, 13)];
    const location = await start(env, repo);
    expect(await listed(env, location)).toEqual({ partSize: null, parts: [] });
    const a = await partUrls(env, location, { partSize: PART, parts: [2, 1] });
    expect(a.parts.map((p) => p.partNumber)).toEqual([2, 1]);
    expect(await listed(env, location)).toEqual({ partSize: PART, parts: [] });
    const etag2 = await putPart(a.parts[0].url, parts[1]);
    expect(await listed(env, location)).toEqual({ partSize: PART, parts: [{ partNumber: 2, size: PART, etag: etag2 }] });

    // The client comes back (new URLs for the missing parts, partSize left out or repeated).
    const b = await partUrls(env, location, { parts: [1] });
    const c = await partUrls(env, location, { partSize: PART, parts: [3] });
    expect(target(b.parts[0].url, env)).toEqual(target(a.parts[0].url, env));
    await expectError(await askParts(env, location, { partSize: PART * 2, parts: [3] }), 400, "BLOB_UPLOAD_INVALID");
    const etag1 = await putPart(b.parts[0].url, parts[0]);
    const etag3 = await putPart(c.parts[0].url, parts[2]);
    expect((await listed(env, location)).parts).toEqual([
      { partNumber: 1, size: PART, etag: etag1 },
      { partNumber: 2, size: PART, etag: etag2 },
      { partNumber: 3, size: PART - 1, etag: etag3 },
    ]);
    const digest = await digestOf(concat(...parts));
    expect((await complete(env, location, digest)).status).toBe(201);
    expect(`sha256:${await sha256Hex((await env.call(`/v2/${repo}/blobs/${digest}`)).body!)}`).toBe(digest);
  });

  it("a part replaced after its URL was issued (same size, other bytes): DIGEST_INVALID, the blob unknown, its object and session gone", async () => {
    const env = freshEnv();
    const repo = uniqueRepo("direct");
    const parts = [pseudoRandomBytes(PART, 21), pseudoRandomBytes(100, 22)];
    const digest = await digestOf(concat(...parts)); // what the client claims
    const location = await start(env, repo);
    const answer = await partUrls(env, location, { partSize: PART, parts: [1, 2] });
    await putPart(answer.parts[0].url, parts[0]);
    await putPart(answer.parts[1].url, parts[1]);
    const tampered = pseudoRandomBytes(PART, 23);
    await putPart(answer.parts[0].url, tampered); // re-PUT before completing: replaces part 1
    const { key } = target(answer.parts[0].url, env);

    const err = await expectError(await complete(env, location, digest), 400, "DIGEST_INVALID");
    expect(err.detail).toEqual({ expected: digest, actual: await digestOf(concat(tampered, parts[1])) });
    await expectError(await env.call(`/v2/${repo}/blobs/${digest}`), 404, "BLOB_UNKNOWN");
    expect(await env.store.head(key)).toBeNull();
    expect(await env.openUploads()).toEqual([]);
    await expectError(await env.call(location), 404, "BLOB_UPLOAD_UNKNOWN");
    expect((await env.store.list({ prefix: "" })).objects.map((o) => o.key)).toEqual([]); // nothing at all left behind
  });

  it("a URL writes its own part of its own upload only: another upload id or key in it is refused by RGW (403)", async () => {
    const env = freshEnv();
    const repo = uniqueRepo("direct");
    const locA = await start(env, repo);
    const locB = await start(env, repo);
    const a = (await partUrls(env, locA, { partSize: PART, parts: [1] })).parts[0].url;
    const b = (await partUrls(env, locB, { partSize: PART, parts: [1] })).parts[0].url;
    const tb = target(b, env);
    const bytes = pseudoRandomBytes(PART, 31);
    const few = bytes.subarray(0, 10); // refused requests: see the first test

    const otherUpload = new URL(a);
    otherUpload.searchParams.set("uploadId", tb.uploadId);
    const otherKey = new URL(a);
    otherKey.pathname = otherKey.pathname.replace(target(a, env).key.split("/")[1], tb.key.split("/")[1]);
    expect(otherKey.href).not.toBe(a);
    const both = new URL(otherKey);
    both.searchParams.set("uploadId", tb.uploadId);
    const otherPart = new URL(a);
    otherPart.searchParams.set("partNumber", "2");
    for (const forged of [otherUpload, otherKey, both, otherPart]) {
      const res = await fetch(forged, { method: "PUT", body: few });
      expect(res.status, forged.href).toBe(403);
      expect(await res.text()).toMatch(/SignatureDoesNotMatch/);
    }
    await putPart(a, bytes);
    expect((await listed(env, locA)).parts.map((p) => p.partNumber)).toEqual([1]);
    expect((await listed(env, locB)).parts).toEqual([]);
  });

  it("parts of the wrong sizes or with gaps: 400 on completion, the session unchanged, and fixed parts complete", async () => {
    const env = freshEnv();
    const repo = uniqueRepo("direct");
    const good = [pseudoRandomBytes(PART, 41), pseudoRandomBytes(PART, 42), pseudoRandomBytes(10, 43)];
    const digest = await digestOf(concat(...good));
    const location = await start(env, repo);
    const urls = (await partUrls(env, location, { partSize: PART, parts: [1, 2, 3] })).parts.map((p) => p.url);

    let err = await expectError(await complete(env, location, digest), 400, "BLOB_UPLOAD_INVALID");
    expect(err.message).toMatch(/no part/);
    await putPart(urls[0], good[0]);
    await putPart(urls[2], good[2]);
    err = await expectError(await complete(env, location, digest), 400, "BLOB_UPLOAD_INVALID");
    expect(err.message).toMatch(/part 2 is missing/);
    await putPart(urls[1], good[1].subarray(0, PART - 1)); // a short middle part
    err = await expectError(await complete(env, location, digest), 400, "BLOB_UPLOAD_INVALID");
    expect(err.message).toMatch(/part 2 holds 5242879 bytes/);
    await putPart(urls[1], good[1]);
    await putPart(urls[2], pseudoRandomBytes(PART + 1, 44)); // a last part larger than partSize
    err = await expectError(await complete(env, location, digest), 400, "BLOB_UPLOAD_INVALID");
    expect(err.message).toMatch(/last part/);

    // Nothing was claimed or completed: the same upload takes the right part and completes.
    expect(await env.openUploads()).toEqual([target(urls[0], env).uploadId]);
    await putPart(urls[2], good[2]);
    const done = await complete(env, location, digest);
    expect(done.status, await done.clone().text()).toBe(201);
    expect(`sha256:${await sha256Hex((await env.call(`/v2/${repo}/blobs/${digest}`)).body!)}`).toBe(digest);
  });

  it("the request body is checked strictly: 400 (413 over 64 KiB) with a clear message, and the session stays empty", async () => {
    const env = freshEnv();
    const location = await start(env, uniqueRepo("direct"));
    const cases: [unknown, RegExp][] = [
      ["not json", /must be JSON/],
      [[1, 2], /JSON object/],
      [{ parts: [1] }, /partSize is required/],
      [{ partSize: PART, parts: [1], extra: true }, /unknown field "extra"/],
      [{ partSize: PART - 1, parts: [1] }, /partSize must be from 5242880/],
      [{ partSize: 5 * 1024 ** 3 + 1, parts: [1] }, /partSize must be from/],
      [{ partSize: PART + 0.5, parts: [1] }, /integer/],
      [{ partSize: String(PART), parts: [1] }, /integer/],
      [{ partSize: PART }, /parts must be an array/],
      [{ partSize: PART, parts: [] }, /1 to 1000/],
      [{ partSize: PART, parts: Array.from({ length: 1001 }, (_, i) => i + 1) }, /1 to 1000/],
      [{ partSize: PART, parts: [0] }, /from 1 to 10000/],
      [{ partSize: PART, parts: [10001] }, /from 1 to 10000/],
      [{ partSize: PART, parts: [1.5] }, /from 1 to 10000/],
      [{ partSize: PART, parts: ["1"] }, /from 1 to 10000/],
      [{ partSize: PART, parts: [3, 3] }, /listed twice/],
    ];
    for (const [body, message] of cases) {
      const err = await expectError(await askParts(env, location, body), 400, "BLOB_UPLOAD_INVALID");
      expect(err.message, JSON.stringify(body).slice(0, 80)).toMatch(message);
    }
    const wrongType = await askParts(env, location, { partSize: PART, parts: [1] }, { "Content-Type": "text/plain" });
    expect((await expectError(wrongType, 400, "BLOB_UPLOAD_INVALID")).message).toMatch(/application\/json/);
    await expectError(await askParts(env, location, " ".repeat(64 * 1024 + 1)), 413, "SIZE_INVALID");
    expect(await listed(env, location)).toEqual({ partSize: null, parts: [] });
    expect(await env.openUploads()).toEqual([]);
  });

  it("a session that holds PATCH bytes refuses parts; a direct session refuses PATCH and a completing PUT with a body", async () => {
    const env = freshEnv();
    const repo = uniqueRepo("direct");
    const patched = await start(env, repo);
    expect((await env.call(patched, { method: "PATCH", body: "some bytes" })).status).toBe(202);
    await expectError(await askParts(env, patched, { partSize: PART, parts: [1] }), 400, "BLOB_UPLOAD_INVALID");
    await expectError(await env.call(`${patched}/parts`), 400, "BLOB_UPLOAD_INVALID");
    expect((await env.call(patched)).headers.get("range")).toBe("0-9");

    const direct = await start(env, repo);
    const url = (await partUrls(env, direct, { partSize: PART, parts: [1] })).parts[0].url;
    await putPart(url, pseudoRandomBytes(100, 51));
    await expectError(await env.call(direct, { method: "PATCH", body: "more" }), 400, "BLOB_UPLOAD_INVALID");
    const withBody = await env.call(withQuery(direct, { digest: await digestOf("x") }), { method: "PUT", body: "x" });
    expect((await expectError(withBody, 400, "BLOB_UPLOAD_INVALID")).message).toMatch(/empty body/);
    expect((await listed(env, direct)).parts.map((p) => p.size)).toEqual([100]); // still there, still usable
    expect((await complete(env, direct, await digestOf(pseudoRandomBytes(100, 51)))).status).toBe(201);
  });

  it("an ended or expired session gives no URLs (404); DELETE aborts the multipart upload, so its URLs write nothing", async () => {
    const env = freshEnv();
    const repo = uniqueRepo("direct");
    const location = await start(env, repo);
    const url = (await partUrls(env, location, { partSize: PART, parts: [1] })).parts[0].url;
    await putPart(url, pseudoRandomBytes(10, 61));
    expect((await env.call(location, { method: "DELETE" })).status).toBe(204);
    expect(await env.openUploads()).toEqual([]);
    await expectError(await askParts(env, location, { parts: [1] }), 404, "BLOB_UPLOAD_UNKNOWN");
    await expectError(await env.call(`${location}/parts`), 404, "BLOB_UPLOAD_UNKNOWN");
    const after = await fetch(url, { method: "PUT", body: pseudoRandomBytes(10, 62) });
    expect(after.status).toBe(404); // NoSuchUpload
    expect(await after.text()).toMatch(/NoSuchUpload/);

    // Expiry: the same worker with a 1.5 s session lifetime (the registry's check, the one every session request makes).
    const config = parseConfig(env.vars as Env);
    const shortLived = createApp(() => createRuntime({ ...config, registry: { ...config.registry, uploadTtlMs: 1500 } }));
    const shortCall = (path: string, init?: RequestInit) => Promise.resolve(shortLived.fetch(requestTo(path, init), env.vars));
    const res = await shortCall(`/v2/${repo}/blobs/uploads/`, { method: "POST" });
    const old = res.headers.get("location")!;
    await new Promise((r) => setTimeout(r, 1600));
    const late = await shortCall(`${old}/parts`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ partSize: PART, parts: [1] }) });
    await expectError(late, 404, "BLOB_UPLOAD_UNKNOWN");
  });

  it("a presigned part URL expires: RGW refuses it afterwards (403)", async () => {
    const env = freshEnv();
    const uploadId = await env.store.createMultipart("data/expiry");
    const url = await env.store.presignUploadPart("data/expiry", uploadId, 1, 1);
    await new Promise((r) => setTimeout(r, 2100));
    const res = await fetch(url, { method: "PUT", body: "late" });
    expect(res.status).toBe(403);
    expect(await res.text()).toMatch(/AccessDenied|expired/i);
    await env.store.abortMultipart("data/expiry", uploadId);
  });
});

describe("garbage collection of an abandoned direct session", () => {
  it("a session older than UPLOAD_TTL_HOURS: GC aborts its multipart upload (its URLs then write nothing) and removes its state; a young one is kept", async () => {
    const env = freshEnv({ GC_MIN_GRACE_HOURS: "0" });
    const repo = uniqueRepo("gcdirect");
    const old = await start(env, repo);
    const young = await start(env, repo);
    const oldUrls = await partUrls(env, old, { partSize: PART, parts: [1, 2] });
    await putPart(oldUrls.parts[0].url, pseudoRandomBytes(PART, 71));
    const youngUrls = await partUrls(env, young, { partSize: PART, parts: [1] });
    await putPart(youngUrls.parts[0].url, pseudoRandomBytes(PART, 72));
    expect((await env.openUploads()).length).toBe(2);
    // The GC's clock moves two days on instead of the test waiting: the old session is then past its TTL. The young
    // one is re-dated so that it stays inside it (a session opened a moment ago, for that clock).
    const now = Date.now() + 2 * 24 * 3600 * 1000;
    const youngId = young.split("/").pop()!.split("?")[0];
    const youngState = await env.store.get(`uploads/${youngId}/state`);
    const doc = JSON.parse(await new Response(youngState!.body).text());
    await env.store.put(`uploads/${youngId}/state`, JSON.stringify({ ...doc, createdAt: now - 60_000 }), { contentType: "application/json" });
    const deps = { ...runtimeFor(env.vars).gcDeps(), now: () => now };
    let status = await startRun(deps, { dryRun: false, trigger: "admin", graceMs: 0, quarantineMs: 0 });
    for (let i = 0; i < 100 && !status.done; i++) status = await runStep(deps);
    expect(status.done).toBe(true);
    const report = await readReport(deps, status.run);
    expect(report?.deleted.sessions).toBe(1);
    expect(report?.deleted.multipartAborted).toBe(1);
    const left = await env.openUploads();
    expect(left).toHaveLength(1);
    expect(await env.store.head(`uploads/${youngId}/state`)).not.toBeNull();
    // The aborted upload's part URL writes nothing any more (RGW: NoSuchUpload).
    const res = await fetch(oldUrls.parts[1].url, { method: "PUT", body: pseudoRandomBytes(PART, 73) });
    await res.text();
    expect(res.status).toBe(404);
    expect((await env.call(`${old}/parts`)).status).toBe(404);
  });
});

describe("two first parts requests at once on one empty session", () => {
  it("end with ONE multipart upload in the state (compare-and-swap): the loser aborts its own and uses the winner's", async () => {
    const env = freshEnv();
    const deps = createRuntime(parseConfig(env.vars as Env), createStorage(parseConfig(env.vars as Env))).deps;
    const repo = uniqueRepo("direct");
    const started = await startUpload(deps, repo, null);
    // Both requests loaded the same (empty) state before either wrote: the race, made certain.
    const one = await loadUpload(deps, repo, started.state.id, null);
    const two = await loadUpload(deps, repo, started.state.id, null);
    const [a, b] = await Promise.all([
      requestPartUrls(deps, one, { partSize: PART, parts: [1] }, 60),
      requestPartUrls(deps, two, { partSize: PART, parts: [2] }, 60),
    ]);
    const ta = target(a.parts[0].url, env);
    expect(target(b.parts[0].url, env)).toEqual(ta);
    expect(await env.openUploads()).toEqual([ta.uploadId]);
    const state = (await loadUpload(deps, repo, started.state.id, null)).state.content;
    expect(state).toEqual({ kind: "direct", key: ta.key, uploadId: ta.uploadId, partSize: PART });

    // The same through HTTP, on a fresh session.
    const location = await start(env, repo);
    const answers = await Promise.all([1, 2, 3].map((n) => partUrls(env, location, { partSize: PART, parts: [n] })));
    const ids = new Set(answers.map((x) => target(x.parts[0].url, env).uploadId));
    expect(ids.size).toBe(1);
    expect((await env.openUploads()).sort()).toEqual([ta.uploadId, [...ids][0]].sort());
  });
});

describe("with token auth", () => {
  /** Token auth on the S3 backend: two users who may both push everywhere, and tokens signed here for them. */
  async function authEnv() {
    const { privateKey } = await generateKeyPair("ES256", { extractable: true });
    const jwk = { ...(await exportJWK(privateKey)), kid: "direct-test", alg: "ES256" };
    const users = [`alice:${await hashPasswordPbkdf2("a", 1000)}`, `bob:${await hashPasswordPbkdf2("b", 1000)}`].join("\n");
    const env = freshEnv({
      SKIFF_AUTH: "token",
      AUTH_USERS: users,
      AUTH_RULES: JSON.stringify({ admins: ["alice", "bob"] }),
      AUTH_SIGNING_KEY: JSON.stringify(jwk),
      AUTH_SERVICE: "registry.test",
      AUTH_REALM: "https://registry.test/token",
      AUTH_RATE_LIMIT: "off",
    });
    const token = async (sub: string, repo: string, ttlSeconds: number) => {
      const now = Math.floor(Date.now() / 1000);
      return new SignJWT({ access: [{ type: "repository", name: repo, actions: ["pull", "push"] }] })
        .setProtectedHeader({ alg: "ES256", kid: "direct-test", typ: "JWT" })
        .setIssuer("skiff")
        .setSubject(sub)
        .setAudience("registry.test")
        .setIssuedAt(now)
        .setNotBefore(now)
        .setExpirationTime(now + ttlSeconds)
        .setJti(crypto.randomUUID())
        .sign(privateKey);
    };
    return { env, token };
  }

  it("only the session's owner gets URLs or the listing; a URL never outlives the caller's token", async () => {
    const { env, token } = await authEnv();
    const repo = uniqueRepo("direct");
    const alice = { Authorization: `Bearer ${await token("alice", repo, 120)}` };
    const bob = { Authorization: `Bearer ${await token("bob", repo, 600)}` };
    const res = await env.call(`/v2/${repo}/blobs/uploads/`, { method: "POST", headers: alice });
    expect(res.status).toBe(202);
    const location = res.headers.get("location")!;
    const body = JSON.stringify({ partSize: PART, parts: [1] });

    await expectError(await env.call(`${location}/parts`, { method: "POST", headers: { ...bob, "Content-Type": "application/json" }, body }), 404, "BLOB_UPLOAD_UNKNOWN");
    await expectError(await env.call(`${location}/parts`, { headers: bob }), 404, "BLOB_UPLOAD_UNKNOWN");
    expect(await env.openUploads()).toEqual([]);
    await expectError(await env.call(`${location}/parts`, { method: "POST", headers: { "Content-Type": "application/json" }, body }), 401, "UNAUTHORIZED");

    const ok = await env.call(`${location}/parts`, { method: "POST", headers: { ...alice, "Content-Type": "application/json" }, body });
    expect(ok.status, await ok.clone().text()).toBe(200);
    const answer = (await ok.json()) as PartUrlsAnswer;
    const seconds = Number(new URL(answer.parts[0].url).searchParams.get("X-Amz-Expires"));
    expect(seconds).toBeGreaterThan(100);
    expect(seconds).toBeLessThanOrEqual(120); // the token's remaining life, not 15 minutes
    expect(Date.parse(answer.expiresAt)).toBeLessThanOrEqual(Date.now() + 120_000);
  });
});

describe("cost of completing", () => {
  it("256 MiB in 16 parts of 16 MiB: the worker's read-back on completion (timed, logged)", async () => {
    const env = freshEnv();
    const repo = uniqueRepo("direct");
    const partSize = 16 * MiB;
    const piece = pseudoRandomBytes(partSize, 81);
    const hash = incrementalDigest();
    for (let i = 0; i < 16; i++) await hash.write(piece);
    const digest = await hash.digest();
    const location = await start(env, repo);
    const { parts } = await partUrls(env, location, { partSize, parts: Array.from({ length: 16 }, (_, i) => i + 1) });
    const t0 = performance.now();
    for (let i = 0; i < parts.length; i += 4) await Promise.all(parts.slice(i, i + 4).map((p) => putPart(p.url, piece)));
    const t1 = performance.now();
    const done = await complete(env, location, digest);
    const t2 = performance.now();
    expect(done.status, await done.clone().text()).toBe(201);
    // The read-back alone, as completion does it, once more on the committed object.
    const t3 = performance.now();
    expect(`sha256:${await hashStored(env.store, target(parts[0].url, env).key, "sha256")}`).toBe(digest);
    const t4 = performance.now();
    console.log(
      `[direct] 256 MiB on RGW: parts PUT by the test ${(t1 - t0).toFixed(0)} ms; completion (list, complete, read-back, commit) ` +
        `${(t2 - t1).toFixed(0)} ms, of which the read-back hash is about ${(t4 - t3).toFixed(0)} ms`,
    );
  });
});
