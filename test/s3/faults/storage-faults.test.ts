// Storage faults on the S3 backend: the S3 server (RGW) stopped, or answering errors, in the middle of an upload.
// The client must get a retryable 5xx (503 UNAVAILABLE with Retry-After), no blob may become visible under a digest
// that was not verified, and the push must succeed when retried once the server is back.
// Runs in its own project ("s3-faults") with its own RGW, because stopping the gateway would break other tests.
import { describe, it, expect, afterEach } from "vitest";
import { digestOf, expectError, pseudoRandomBytes, registry, startUpload, uniqueRepo, withQuery } from "../../api/helpers";
import { clearFaults, gateway, injectFault, sha256Hex, streamOf } from "../helpers";

const MiB = 1024 * 1024;

async function expectRetryable(res: Response) {
  const err = await expectError(res, 503, "UNAVAILABLE");
  expect(res.headers.get("retry-after")).toBe("1");
  return err;
}

/** The blob is nowhere: not in the repository, not as a blob, not downloadable. */
async function expectInvisible(repo: string, digest: string) {
  expect((await registry(`/v2/${repo}/blobs/${digest}`, { method: "HEAD" })).status).toBe(404);
  await expectError(await registry(`/v2/${repo}/blobs/${digest}`, { redirect: "manual" }), 404, "BLOB_UNKNOWN");
}

/** GET through the redirect, as a client does: the bytes' digest. */
async function pulledDigest(repo: string, digest: string): Promise<string> {
  const res = await registry(`/v2/${repo}/blobs/${digest}`, { redirect: "manual" });
  expect(res.status).toBe(307);
  const blob = await fetch(res.headers.get("location")!);
  expect(blob.status).toBe(200);
  return `sha256:${await sha256Hex(blob.body!)}`;
}

/** A stream of `bytes` that runs `onceAt` (awaited) when `at` bytes have been produced. */
function streamWithHook(bytes: Uint8Array, at: number, onceAt: () => Promise<void>): ReadableStream<Uint8Array> {
  let sent = 0;
  let fired = false;
  return new ReadableStream<Uint8Array>({
    async pull(c) {
      if (!fired && sent >= at) {
        fired = true;
        await onceAt();
      }
      if (sent >= bytes.byteLength) return c.close();
      const chunk = bytes.slice(sent, sent + 256 * 1024);
      sent += chunk.byteLength;
      c.enqueue(chunk);
    },
  });
}

afterEach(async () => {
  await clearFaults();
  await gateway("start").catch(() => {}); // a failed test must not leave the gateway down for the next one
});

describe("S3 server stopped mid-upload", () => {
  it("a streamed PATCH whose S3 parts start failing gets 503; nothing is visible; the retry on the same session succeeds", async () => {
    const repo = uniqueRepo("fault");
    const bytes = pseudoRandomBytes(26 * MiB + 1234, 31);
    const digest = await digestOf(bytes);
    const location = await startUpload(repo);

    // The gateway goes away after the first part (8 MiB) was handed to S3, while the client is still sending.
    const body = streamWithHook(bytes, 10 * MiB, () => gateway("stop"));
    const patch = await registry(location, { method: "PATCH", body, headers: { "Content-Type": "application/octet-stream" } });
    await expectRetryable(patch);

    // While S3 is down, reads of the blob are 503 too (never a 404 that a client would take as final).
    const head = await registry(`/v2/${repo}/blobs/${digest}`, { method: "HEAD" });
    expect(head.status).toBe(503); // a HEAD answer has no body to carry the error code
    expect(head.headers.get("retry-after")).toBe("1");
    await gateway("start");
    await expectInvisible(repo, digest);

    // The session survived: its stored state still says 0 bytes, so the client's retry starts over there.
    const status = await registry(location);
    expect(status.status).toBe(204);
    expect(status.headers.get("range")).toBe("0-0");
    const retry = await registry(location, { method: "PATCH", body: streamOf(bytes, 1024 * 1024) });
    expect(retry.status, await retry.clone().text()).toBe(202);
    expect(retry.headers.get("range")).toBe(`0-${bytes.byteLength - 1}`);
    const put = await registry(withQuery(location, { digest }), { method: "PUT" });
    expect(put.status, await put.clone().text()).toBe(201);
    expect(await pulledDigest(repo, digest)).toBe(digest);
  });

  it("a final PUT ?digest= while S3 is down gets 503, the session keeps its bytes, and the same PUT succeeds later", async () => {
    const repo = uniqueRepo("fault");
    const bytes = pseudoRandomBytes(12 * MiB + 7, 32);
    const digest = await digestOf(bytes);
    const location = await startUpload(repo);
    const first = await registry(location, { method: "PATCH", body: bytes.slice(0, 10 * MiB), headers: { "Content-Range": `0-${10 * MiB - 1}` } });
    expect(first.status).toBe(202);
    const nextLocation = first.headers.get("location")!;

    await gateway("stop");
    const last = bytes.slice(10 * MiB);
    const range = `${10 * MiB}-${bytes.byteLength - 1}`;
    await expectRetryable(await registry(withQuery(nextLocation, { digest }), { method: "PUT", body: last, headers: { "Content-Range": range } }));
    await gateway("start");
    await expectInvisible(repo, digest);

    const status = await registry(nextLocation);
    expect(status.headers.get("range")).toBe(`0-${10 * MiB - 1}`);
    const put = await registry(withQuery(nextLocation, { digest }), { method: "PUT", body: last, headers: { "Content-Range": range } });
    expect(put.status, await put.clone().text()).toBe(201);
    expect(await pulledDigest(repo, digest)).toBe(digest);
  });

  it("a monolithic push while S3 is down gets 503 at once; it succeeds once S3 is back", async () => {
    const repo = uniqueRepo("fault");
    const bytes = pseudoRandomBytes(300_000, 33);
    const digest = await digestOf(bytes);
    await gateway("stop");
    await expectRetryable(await registry(`/v2/${repo}/blobs/uploads/?digest=${digest}`, { method: "POST", body: bytes }));
    await expectRetryable(await registry(`/v2/${repo}/blobs/uploads/`, { method: "POST" }));
    await expectRetryable(await registry(`/v2/${repo}/manifests/latest`));
    // The base endpoint needs no storage and still answers.
    expect((await registry("/v2/")).status).toBe(200);
    await gateway("start");
    await expectInvisible(repo, digest);
    const res = await registry(`/v2/${repo}/blobs/uploads/?digest=${digest}`, { method: "POST", body: bytes });
    expect(res.status, await res.clone().text()).toBe(201);
    expect(await pulledDigest(repo, digest)).toBe(digest);
  });
});

describe("S3 server answering errors mid-upload", () => {
  it("every write of blob bytes failing with 500 gives the client 503 (parts and whole objects); nothing is visible; the retried push succeeds", async () => {
    const repo = uniqueRepo("fault");
    const bytes = pseudoRandomBytes(17 * MiB, 34);
    const digest = await digestOf(bytes);
    // Blob bytes live at data/<upload id>: as multipart parts (a body of unknown length) or one object (known length).
    await injectFault({ method: "PUT", match: "/data/", status: 500, code: "InternalError" });
    const chunked = await startUpload(repo);
    await expectRetryable(await registry(withQuery(chunked, { digest }), { method: "PUT", body: streamOf(bytes, 512 * 1024) }));
    // The S3 client retried the failing part (3 attempts: bytes can be resent) before giving up.
    expect(await clearFaults()).toBeGreaterThanOrEqual(3);
    await injectFault({ method: "PUT", match: "/data/", status: 500, code: "InternalError" });
    const whole = await startUpload(repo);
    await expectRetryable(await registry(withQuery(whole, { digest }), { method: "PUT", body: bytes }));
    expect(await clearFaults()).toBeGreaterThanOrEqual(1);
    await expectInvisible(repo, digest);

    const again = await startUpload(repo);
    const put = await registry(withQuery(again, { digest }), { method: "PUT", body: streamOf(bytes, 512 * 1024) });
    expect(put.status, await put.clone().text()).toBe(201);
    expect(await pulledDigest(repo, digest)).toBe(digest);
  });

  it("one transient 503 SlowDown on a part is retried by the S3 client: the push succeeds without the client noticing", async () => {
    const repo = uniqueRepo("fault");
    const bytes = pseudoRandomBytes(9 * MiB, 35);
    const digest = await digestOf(bytes);
    await injectFault({ method: "PUT", match: "partNumber=1&", status: 503, code: "SlowDown", count: 1 });
    const location = await startUpload(repo);
    // A body of unknown length (as docker sends) goes to S3 in parts, each sent as bytes that a retry can resend.
    const put = await registry(withQuery(location, { digest }), { method: "PUT", body: streamOf(bytes, 512 * 1024) });
    expect(put.status, await put.clone().text()).toBe(201);
    expect(await clearFaults()).toBe(1); // the fault did happen
    expect(await pulledDigest(repo, digest)).toBe(digest);
  });

  it("a failing commit (the blob record write answers 500) leaves nothing visible under the digest", async () => {
    const repo = uniqueRepo("fault");
    const bytes = pseudoRandomBytes(1000, 36);
    const digest = await digestOf(bytes);
    const blobKey = `blobs/sha256/${digest.slice(7)}`;
    await injectFault({ method: "PUT", match: blobKey, status: 500, code: "InternalError" });
    await expectRetryable(await registry(`/v2/${repo}/blobs/uploads/?digest=${digest}`, { method: "POST", body: bytes }));
    expect(await clearFaults()).toBeGreaterThanOrEqual(1);
    await expectInvisible(repo, digest);
    const res = await registry(`/v2/${repo}/blobs/uploads/?digest=${digest}`, { method: "POST", body: bytes });
    expect(res.status).toBe(201);
    expect(await pulledDigest(repo, digest)).toBe(digest);
  });
});


describe("GET /_skiff/health with the S3 server failing", () => {
  const HEALTH_CACHE_WAIT_MS = 5_200; // src/http/routes/health.ts HEALTH_CACHE_MS, and a little
  const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

  it("503 unavailable while RGW is stopped or refuses the credentials, ok again after; nothing of the backend leaks", async () => {
    const { env } = await import("cloudflare:workers");
    const vars = env as unknown as Record<string, string>;
    const ok = await registry("/_skiff/health");
    expect(ok.status).toBe(200);
    expect((await ok.json<{ status: string }>()).status).toBe("ok");

    await gateway("stop");
    await wait(HEALTH_CACHE_WAIT_MS);
    const down = await registry("/_skiff/health");
    const text = await down.text();
    expect(down.status).toBe(503);
    expect(JSON.parse(text)).toEqual({ status: "unavailable", version: expect.any(String) });
    for (const s of [vars.S3_ENDPOINT, new URL(vars.S3_ENDPOINT).host, vars.S3_BUCKET, vars.S3_ACCESS_KEY_ID, vars.S3_SECRET_ACCESS_KEY, "ECONNREFUSED", "s3"]) {
      expect(text).not.toContain(s);
    }
    await gateway("start");

    // Credentials refused (as a rotated or wrong key would be): the probe's HEAD gets a 403.
    await wait(HEALTH_CACHE_WAIT_MS);
    await injectFault({ method: "HEAD", match: "_skiff/health", status: 403, code: "AccessDenied" });
    const refused = await registry("/_skiff/health");
    expect(refused.status).toBe(503);
    expect(await clearFaults()).toBe(1);

    await wait(HEALTH_CACHE_WAIT_MS);
    expect((await registry("/_skiff/health")).status).toBe(200);
  });
});
