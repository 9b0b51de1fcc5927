// Blob upload sessions: every request form real clients use, and the edge cases of src/registry/uploads.ts
// (tail object between requests, re-chunking into 8 MiB parts, native hashing vs read-back verification).
import { describe, it, expect } from "vitest";
import {
  registry,
  uniqueRepo,
  startUpload,
  withQuery,
  digestOf,
  pseudoRandomBytes,
  pushBlob,
  pushBlobMonolithic,
  expectError,
  streamDigest,
} from "./helpers";

const MiB = 1024 * 1024;
const PART = 8 * MiB;
const EMPTY_SHA256 = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** A body with no Content-Length (sent chunked), the way docker streams a layer. */
function streamOf(bytes: Uint8Array, chunkSize = 64 * 1024): ReadableStream<Uint8Array> {
  let at = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (at >= bytes.byteLength) return controller.close();
      controller.enqueue(bytes.slice(at, at + chunkSize));
      at += chunkSize;
    },
  });
}

function patch(location: string, body: Uint8Array | ReadableStream<Uint8Array> | null, headers: Record<string, string> = {}) {
  return registry(location, { method: "PATCH", body, headers });
}

/** PATCHes `data` in chunks of the given sizes with Content-Range; returns the last Location. */
async function patchChunks(location: string, data: Uint8Array, sizes: number[], rangeForm: (start: number, end: number) => string = (s, e) => `${s}-${e}`) {
  let at = 0;
  for (const size of sizes) {
    const chunk = data.subarray(at, at + size);
    const res = await patch(location, chunk, { "Content-Range": rangeForm(at, at + size - 1), "Content-Type": "application/octet-stream" });
    expect(res.status, await res.clone().text()).toBe(202);
    at += size;
    expect(res.headers.get("range")).toBe(`0-${at - 1}`);
    location = res.headers.get("location")!;
  }
  expect(at).toBe(data.byteLength);
  return location;
}

async function finish(location: string, digest: string, body: Uint8Array | null = null, headers: Record<string, string> = {}) {
  return registry(withQuery(location, { digest }), { method: "PUT", body, headers });
}

async function expectBlob(repo: string, digest: string, data: Uint8Array) {
  const head = await registry(`/v2/${repo}/blobs/${digest}`, { method: "HEAD" });
  expect(head.status).toBe(200);
  expect(head.headers.get("content-length")).toBe(String(data.byteLength));
  const get = await registry(`/v2/${repo}/blobs/${digest}`);
  expect(get.status).toBe(200);
  const got = new Uint8Array(await get.arrayBuffer());
  expect(got.byteLength).toBe(data.byteLength);
  // compare by digest first: a byte-by-byte diff of megabytes is unreadable
  expect(await digestOf(got, digest.startsWith("sha512") ? "sha512" : "sha256")).toBe(digest);
}

async function status(location: string) {
  return registry(location);
}

describe("POST /blobs/uploads/ (start a session)", () => {
  it("answers 202 with Location, Docker-Upload-UUID, Range and OCI-Chunk-Min-Length", async () => {
    const repo = uniqueRepo();
    const res = await registry(`/v2/${repo}/blobs/uploads/`, { method: "POST" });
    expect(res.status).toBe(202);
    const location = res.headers.get("location")!;
    const uuid = res.headers.get("docker-upload-uuid")!;
    expect(uuid).toMatch(UUID);
    expect(location).toBe(`/v2/${repo}/blobs/uploads/${uuid}`);
    expect(res.headers.get("oci-chunk-min-length")).toBe(String(PART));
    expect(res.headers.get("range")).toBe("0-0");
    expect(res.headers.get("content-length") ?? "0").toBe("0");
  });

  it("GET on a fresh session answers 204 with Range 0-0", async () => {
    const repo = uniqueRepo();
    const location = await startUpload(repo);
    const res = await status(location);
    expect(res.status).toBe(204);
    expect(res.headers.get("range")).toBe("0-0");
    expect(res.headers.get("location")).toBe(location);
    expect(res.headers.get("docker-upload-uuid")).toBe(location.split("/").pop());
  });

  it("gives every session its own id", async () => {
    const repo = uniqueRepo();
    const ids = new Set(await Promise.all([1, 2, 3, 4, 5].map(() => startUpload(repo))));
    expect(ids.size).toBe(5);
  });
});

describe("POST ?digest= (monolithic)", () => {
  it("answers 201 with Location and Docker-Content-Digest, and the blob is readable at once", async () => {
    const repo = uniqueRepo();
    const data = pseudoRandomBytes(3000, 21);
    const digest = await digestOf(data);
    const res = await pushBlobMonolithic(repo, data);
    expect(res.status).toBe(201);
    expect(res.headers.get("location")).toBe(`/v2/${repo}/blobs/${digest}`);
    expect(res.headers.get("docker-content-digest")).toBe(digest);
    await expectBlob(repo, digest, data);
  });

  it("accepts a zero-byte blob with no body", async () => {
    const repo = uniqueRepo();
    const res = await registry(`/v2/${repo}/blobs/uploads/?digest=${EMPTY_SHA256}`, { method: "POST" });
    expect(res.status).toBe(201);
    await expectBlob(repo, EMPTY_SHA256, new Uint8Array(0));
  });

  it("accepts a blob bigger than one part (multipart, hashed natively)", async () => {
    const repo = uniqueRepo();
    const data = pseudoRandomBytes(PART + 12345, 22);
    const res = await pushBlobMonolithic(repo, data);
    expect(res.status).toBe(201);
    await expectBlob(repo, await digestOf(data), data);
  });

  it("answers 400 DIGEST_INVALID when the content does not match, and nothing is visible", async () => {
    const repo = uniqueRepo();
    const data = pseudoRandomBytes(500, 23);
    const claimed = await digestOf("something else");
    const res = await pushBlobMonolithic(repo, data, claimed);
    const err = await expectError(res, 400, "DIGEST_INVALID");
    expect(err.detail).toMatchObject({ expected: claimed, actual: await digestOf(data) });
    await expectError(await registry(`/v2/${repo}/blobs/${claimed}`), 404, "BLOB_UNKNOWN");
    await expectError(await registry(`/v2/${repo}/blobs/${await digestOf(data)}`), 404, "BLOB_UNKNOWN");
  });

  it("answers 400 DIGEST_INVALID for a malformed digest", async () => {
    const repo = uniqueRepo();
    await expectError(await registry(`/v2/${repo}/blobs/uploads/?digest=sha256:xyz`, { method: "POST", body: "x" }), 400, "DIGEST_INVALID");
    await expectError(await registry(`/v2/${repo}/blobs/uploads/?digest=`, { method: "POST", body: "x" }), 400, "DIGEST_INVALID");
  });

  it("answers 400 SIZE_INVALID when Content-Range announces another length than the body has", async () => {
    // A streamed body shorter than announced: the length is checked against what arrived.
    const repo = uniqueRepo();
    const location = await startUpload(repo);
    const res = await patch(location, streamOf(pseudoRandomBytes(50, 1)), { "Content-Range": "0-99" });
    await expectError(res, 400, "SIZE_INVALID");
    const after = await status(location);
    expect(after.status).toBe(204);
    expect(after.headers.get("range")).toBe("0-0");
  });
});

describe("POST ?mount=&from= (cross-repository mount)", () => {
  it("answers 201 and links the blob when the source repository holds it", async () => {
    const from = uniqueRepo();
    const to = uniqueRepo();
    const data = pseudoRandomBytes(777, 31);
    const digest = await pushBlob(from, data);
    const res = await registry(`/v2/${to}/blobs/uploads/?mount=${digest}&from=${from}`, { method: "POST" });
    expect(res.status).toBe(201);
    expect(res.headers.get("location")).toBe(`/v2/${to}/blobs/${digest}`);
    expect(res.headers.get("docker-content-digest")).toBe(digest);
    await expectBlob(to, digest, data);
  });

  it("answers 202 with an upload session when the source does not hold the blob", async () => {
    const from = uniqueRepo();
    const to = uniqueRepo();
    await pushBlob(from, "unrelated");
    const elsewhere = uniqueRepo();
    const digest = await pushBlob(elsewhere, "only elsewhere");
    const res = await registry(`/v2/${to}/blobs/uploads/?mount=${digest}&from=${from}`, { method: "POST" });
    expect(res.status).toBe(202);
    const location = res.headers.get("location")!;
    expect(location).toMatch(new RegExp(`^/v2/${to}/blobs/uploads/`));
    expect(res.headers.get("docker-upload-uuid")).toMatch(UUID);
    // the session works as a normal upload
    const done = await finish(location, digest, new TextEncoder().encode("only elsewhere"));
    expect(done.status).toBe(201);
    await expectError(await registry(`/v2/${from}/blobs/${digest}`), 404, "BLOB_UNKNOWN");
  });

  it("answers 202 for a digest no repository holds", async () => {
    const to = uniqueRepo();
    const digest = await digestOf(`nowhere ${crypto.randomUUID()}`);
    const res = await registry(`/v2/${to}/blobs/uploads/?mount=${digest}&from=${uniqueRepo()}`, { method: "POST" });
    expect(res.status).toBe(202);
    await expectError(await registry(`/v2/${to}/blobs/${digest}`), 404, "BLOB_UNKNOWN");
  });

  it("answers 202 when the blob was deleted from the source repository", async () => {
    const from = uniqueRepo();
    const digest = await pushBlob(from, `deleted ${crypto.randomUUID()}`);
    expect((await registry(`/v2/${from}/blobs/${digest}`, { method: "DELETE" })).status).toBe(202);
    const res = await registry(`/v2/${uniqueRepo()}/blobs/uploads/?mount=${digest}&from=${from}`, { method: "POST" });
    expect(res.status).toBe(202);
  });

  it("without from, mounts a blob the registry holds (open registry: the caller reads everything)", async () => {
    const from = uniqueRepo();
    const to = uniqueRepo();
    const data = pseudoRandomBytes(99, 33);
    const digest = await pushBlob(from, data);
    const res = await registry(`/v2/${to}/blobs/uploads/?mount=${digest}`, { method: "POST" });
    expect(res.status).toBe(201);
    await expectBlob(to, digest, data);
  });

  it("without from, answers 202 for an unknown digest", async () => {
    const digest = await digestOf(`nowhere ${crypto.randomUUID()}`);
    const res = await registry(`/v2/${uniqueRepo()}/blobs/uploads/?mount=${digest}`, { method: "POST" });
    expect(res.status).toBe(202);
    expect(res.headers.get("location")).toBeTruthy();
  });

  it("answers 400 DIGEST_INVALID for a bad mount digest and 400 NAME_INVALID for a bad from", async () => {
    const to = uniqueRepo();
    await expectError(await registry(`/v2/${to}/blobs/uploads/?mount=sha256:bad&from=${uniqueRepo()}`, { method: "POST" }), 400, "DIGEST_INVALID");
    const digest = await digestOf("x");
    await expectError(await registry(`/v2/${to}/blobs/uploads/?mount=${digest}&from=Bad..Name`, { method: "POST" }), 400, "NAME_INVALID");
  });
});

describe("PATCH streamed (docker: no Content-Length, no Content-Range)", () => {
  it("appends a chunked body, reports Range 0-<last>, and PUT ?digest= with no body completes it", async () => {
    const repo = uniqueRepo();
    const data = pseudoRandomBytes(300_000, 41);
    const location = await startUpload(repo);
    const res = await patch(location, streamOf(data));
    expect(res.status).toBe(202);
    expect(res.headers.get("range")).toBe(`0-${data.byteLength - 1}`);
    expect(res.headers.get("docker-upload-uuid")).toBe(location.split("/").pop());
    const next = res.headers.get("location")!;
    const st = await status(next);
    expect(st.status).toBe(204);
    expect(st.headers.get("range")).toBe(`0-${data.byteLength - 1}`);
    const done = await finish(next, await digestOf(data));
    expect(done.status).toBe(201);
    expect(done.headers.get("location")).toBe(`/v2/${repo}/blobs/${await digestOf(data)}`);
    await expectBlob(repo, await digestOf(data), data);
  });

  it("streams a layer larger than two parts (native hash path)", async () => {
    const repo = uniqueRepo();
    const data = pseudoRandomBytes(2 * PART + 3 * MiB + 7, 42);
    const location = await startUpload(repo);
    const res = await patch(location, streamOf(data, 1000 * 1000));
    expect(res.status).toBe(202);
    expect(res.headers.get("range")).toBe(`0-${data.byteLength - 1}`);
    expect((await finish(res.headers.get("location")!, await digestOf(data))).status).toBe(201);
    await expectBlob(repo, await digestOf(data), data);
  });

  it("appends several streamed PATCHes in order", async () => {
    const repo = uniqueRepo();
    const data = pseudoRandomBytes(PART + 5000, 43);
    let location = await startUpload(repo);
    for (const [a, b] of [[0, 1000], [1000, PART - 10], [PART - 10, data.byteLength]]) {
      const res = await patch(location, streamOf(data.subarray(a, b)));
      expect(res.status).toBe(202);
      expect(res.headers.get("range")).toBe(`0-${b - 1}`);
      location = res.headers.get("location")!;
    }
    expect((await finish(location, await digestOf(data))).status).toBe(201);
    await expectBlob(repo, await digestOf(data), data);
  });

  it("PATCH with Content-Length and no Content-Range (skopeo, podman)", async () => {
    const repo = uniqueRepo();
    const data = pseudoRandomBytes(PART * 2, 44); // exactly two parts
    const location = await startUpload(repo);
    const res = await patch(location, data);
    expect(res.status).toBe(202);
    expect(res.headers.get("range")).toBe(`0-${data.byteLength - 1}`);
    expect((await finish(res.headers.get("location")!, await digestOf(data))).status).toBe(201);
    await expectBlob(repo, await digestOf(data), data);
  });
});

describe("PATCH chunked with Content-Range", () => {
  it("accepts uneven chunks that straddle the 8 MiB part size", async () => {
    const repo = uniqueRepo();
    // tail grows to PART-1, spills over by 1, refills to exactly one part (tail emptied), then spills again
    const sizes = [PART - 1, 2, PART - 1, PART + 1, 3 * MiB, 1];
    const total = sizes.reduce((a, b) => a + b, 0) + 5;
    const data = pseudoRandomBytes(total, 51);
    const location = await patchChunks(await startUpload(repo), data.subarray(0, total - 5), sizes);
    // final chunk in the PUT
    const done = await finish(location, await digestOf(data), data.subarray(total - 5), { "Content-Range": `${total - 5}-${total - 1}` });
    expect(done.status, await done.clone().text()).toBe(201);
    await expectBlob(repo, await digestOf(data), data);
  });

  it("accepts chunks smaller than a part, then a final chunk larger than a part in the PUT", async () => {
    const repo = uniqueRepo();
    const data = pseudoRandomBytes(3 * MiB + PART + MiB, 52);
    const location = await patchChunks(await startUpload(repo), data.subarray(0, 3 * MiB), [MiB, MiB, MiB]);
    const done = await finish(location, await digestOf(data), data.subarray(3 * MiB));
    expect(done.status).toBe(201);
    await expectBlob(repo, await digestOf(data), data);
  });

  it("accepts exact multiples of the part size, in part-size chunks and in half-part chunks", async () => {
    const repo = uniqueRepo();
    const data = pseudoRandomBytes(2 * PART, 53);
    const a = await patchChunks(await startUpload(repo), data, [PART, PART]);
    expect((await finish(a, await digestOf(data))).status).toBe(201);
    await expectBlob(repo, await digestOf(data), data);

    const repo2 = uniqueRepo();
    const b = await patchChunks(await startUpload(repo2), data, [PART / 2, PART / 2, PART / 2, PART / 2]);
    expect((await finish(b, await digestOf(data))).status).toBe(201);
    await expectBlob(repo2, await digestOf(data), data);
  });

  it("a final PUT chunk that completes exactly one part leaves no last part to write", async () => {
    const repo = uniqueRepo();
    const data = pseudoRandomBytes(PART, 59);
    const location = await patchChunks(await startUpload(repo), data.subarray(0, PART - 10), [PART - 10]);
    const done = await finish(location, await digestOf(data), data.subarray(PART - 10), { "Content-Range": `${PART - 10}-${PART - 1}` });
    expect(done.status, await done.clone().text()).toBe(201);
    await expectBlob(repo, await digestOf(data), data);
  });

  it("accepts the RFC forms of Content-Range (bytes a-b/total, bytes a-b/*)", async () => {
    const repo = uniqueRepo();
    const data = pseudoRandomBytes(3000, 54);
    const location = await patchChunks(await startUpload(repo), data, [1000, 1000, 1000], (s, e) => (s === 0 ? `bytes ${s}-${e}/3000` : `bytes ${s}-${e}/*`));
    expect((await finish(location, await digestOf(data))).status).toBe(201);
    await expectBlob(repo, await digestOf(data), data);
  });

  it("accepts 1-byte chunks and reports the Range after each", async () => {
    const repo = uniqueRepo();
    const data = pseudoRandomBytes(12, 55);
    const location = await patchChunks(await startUpload(repo), data, Array(12).fill(1));
    const st = await status(location);
    expect(st.headers.get("range")).toBe("0-11");
    expect((await finish(location, await digestOf(data))).status).toBe(201);
    await expectBlob(repo, await digestOf(data), data);
  });

  it("answers an out-of-order chunk with 416, the current Range and Location, and the upload continues", async () => {
    const repo = uniqueRepo();
    const data = pseudoRandomBytes(300, 56);
    const location = await patchChunks(await startUpload(repo), data.subarray(0, 100), [100]);
    for (const range of ["150-249", "50-149", "0-99", "101-200"]) {
      const res = await patch(location, data.subarray(100, 200), { "Content-Range": range });
      expect(res.headers.get("range"), range).toBe("0-99");
      expect(res.headers.get("location")).toBe(location);
      await expectError(res, 416, "BLOB_UPLOAD_INVALID");
    }
    const res = await patch(location, data.subarray(100, 300), { "Content-Range": "100-299" });
    expect(res.status).toBe(202);
    expect(res.headers.get("range")).toBe("0-299");
    expect((await finish(location, await digestOf(data))).status).toBe(201);
    await expectBlob(repo, await digestOf(data), data);
  });

  it("answers a malformed Content-Range with 416", async () => {
    const repo = uniqueRepo();
    const location = await startUpload(repo);
    for (const range of ["abc", "10-5", "-5", "0-", "0-1,2-3"]) {
      const res = await patch(location, new Uint8Array(2), { "Content-Range": range });
      expect(res.headers.get("range")).toBe("0-0");
      await expectError(res, 416, "BLOB_UPLOAD_INVALID");
    }
  });

  it("answers a Content-Length that contradicts Content-Range with 416", async () => {
    const repo = uniqueRepo();
    const location = await startUpload(repo);
    const res = await patch(location, new Uint8Array(10), { "Content-Range": "0-4" });
    await expectError(res, 416, "SIZE_INVALID");
    expect((await status(location)).headers.get("range")).toBe("0-0");
  });

  it("an empty PATCH changes nothing", async () => {
    const repo = uniqueRepo();
    const data = pseudoRandomBytes(PART + 10, 57);
    const location = await patchChunks(await startUpload(repo), data, [PART + 10]);
    const res = await patch(location, null);
    expect(res.status).toBe(202);
    expect(res.headers.get("range")).toBe(`0-${PART + 9}`);
    expect((await finish(location, await digestOf(data))).status).toBe(201);
    await expectBlob(repo, await digestOf(data), data);
  });

  it("GET status reports 0-<last> with 204 while chunks arrive", async () => {
    const repo = uniqueRepo();
    const data = pseudoRandomBytes(PART + 100, 58);
    const location = await patchChunks(await startUpload(repo), data.subarray(0, PART + 50), [PART - 50, 100]);
    const st = await status(location);
    expect(st.status).toBe(204);
    expect(st.headers.get("range")).toBe(`0-${PART + 49}`);
    expect(st.headers.get("location")).toBe(location);
    expect((await st.arrayBuffer()).byteLength).toBe(0);
  });
});

describe("PUT ?digest= (complete)", () => {
  it("containerd style: POST then one PUT with the whole blob", async () => {
    const repo = uniqueRepo();
    const data = pseudoRandomBytes(PART + PART / 2, 61);
    const location = await startUpload(repo);
    const res = await finish(location, await digestOf(data), data);
    expect(res.status).toBe(201);
    expect(res.headers.get("docker-content-digest")).toBe(await digestOf(data));
    await expectBlob(repo, await digestOf(data), data);
  });

  it("a zero-byte blob: POST then PUT with no body", async () => {
    const repo = uniqueRepo();
    const res = await finish(await startUpload(repo), EMPTY_SHA256);
    expect(res.status).toBe(201);
    await expectBlob(repo, EMPTY_SHA256, new Uint8Array(0));
  });

  it("a zero-byte blob after an empty PATCH", async () => {
    const repo = uniqueRepo();
    const location = await startUpload(repo);
    expect((await patch(location, new Uint8Array(0))).status).toBe(202);
    expect((await finish(location, EMPTY_SHA256)).status).toBe(201);
    await expectBlob(repo, EMPTY_SHA256, new Uint8Array(0));
  });

  it("answers 400 DIGEST_INVALID without a digest or with a malformed one, and the session survives", async () => {
    const repo = uniqueRepo();
    const data = pseudoRandomBytes(10, 62);
    const location = await patchChunks(await startUpload(repo), data, [10]);
    await expectError(await registry(location, { method: "PUT" }), 400, "DIGEST_INVALID");
    await expectError(await finish(location, "sha256:123"), 400, "DIGEST_INVALID");
    await expectError(await finish(location, `sha256:${"F".repeat(64)}`), 400, "DIGEST_INVALID");
    expect((await status(location)).status).toBe(204);
    expect((await finish(location, await digestOf(data))).status).toBe(201);
  });

  it("answers 416 when the final chunk's Content-Range does not continue the upload", async () => {
    const repo = uniqueRepo();
    const data = pseudoRandomBytes(20, 63);
    const location = await patchChunks(await startUpload(repo), data.subarray(0, 10), [10]);
    const res = await finish(location, await digestOf(data), data.subarray(10), { "Content-Range": "11-20" });
    expect(res.headers.get("range")).toBe("0-9");
    await expectError(res, 416, "BLOB_UPLOAD_INVALID");
    expect((await finish(location, await digestOf(data), data.subarray(10), { "Content-Range": "10-19" })).status).toBe(201);
    await expectBlob(repo, await digestOf(data), data);
  });

  it("answers 416 SIZE_INVALID when the final chunk's Content-Length contradicts its Content-Range", async () => {
    const repo = uniqueRepo();
    const data = pseudoRandomBytes(20, 68);
    const location = await patchChunks(await startUpload(repo), data.subarray(0, 10), [10]);
    const res = await finish(location, await digestOf(data), data.subarray(10), { "Content-Range": "10-14" });
    expect(res.headers.get("range")).toBe("0-9");
    await expectError(res, 416, "SIZE_INVALID");
    expect((await finish(location, await digestOf(data), data.subarray(10), { "Content-Range": "10-19" })).status).toBe(201);
  });

  it.each([
    ["a small blob held in memory", 1000, [1000]],
    ["a multipart blob sent in one request (native hash)", PART + 1, [PART + 1]],
    ["a multipart blob sent in chunks (read-back verification)", PART + 1, [PART - 1, 2]],
    ["an exact part multiple in chunks", PART, [PART / 2, PART / 2]],
  ])("answers 400 DIGEST_INVALID for %s with a wrong digest; nothing is visible and the session ends", async (_what, size, sizes) => {
    const repo = uniqueRepo();
    const data = pseudoRandomBytes(size, 64 + size);
    const location = await patchChunks(await startUpload(repo), data, sizes);
    const claimed = await digestOf(`not it ${crypto.randomUUID()}`);
    const err = await expectError(await finish(location, claimed), 400, "DIGEST_INVALID");
    expect(err.detail).toMatchObject({ expected: claimed, actual: await digestOf(data) });
    await expectError(await registry(`/v2/${repo}/blobs/${claimed}`), 404, "BLOB_UNKNOWN");
    expect((await registry(`/v2/${repo}/blobs/${claimed}`, { method: "HEAD" })).status).toBe(404);
    await expectError(await registry(`/v2/${repo}/blobs/${await digestOf(data)}`), 404, "BLOB_UNKNOWN");
    await expectError(await status(location), 404, "BLOB_UPLOAD_UNKNOWN");
    // the mount-without-from path must not find it either
    const mounted = await registry(`/v2/${uniqueRepo()}/blobs/uploads/?mount=${claimed}`, { method: "POST" });
    expect(mounted.status).toBe(202);
  });

  it("after a completed PUT the session is gone: PATCH, PUT, GET answer 404 BLOB_UPLOAD_UNKNOWN", async () => {
    const repo = uniqueRepo();
    const data = pseudoRandomBytes(100, 65);
    const location = await startUpload(repo);
    expect((await finish(location, await digestOf(data), data)).status).toBe(201);
    await expectError(await patch(location, new Uint8Array(5)), 404, "BLOB_UPLOAD_UNKNOWN");
    await expectError(await finish(location, await digestOf(data), data), 404, "BLOB_UPLOAD_UNKNOWN");
    await expectError(await status(location), 404, "BLOB_UPLOAD_UNKNOWN");
    await expectError(await registry(location, { method: "DELETE" }), 404, "BLOB_UPLOAD_UNKNOWN");
    await expectBlob(repo, await digestOf(data), data);
  });

  it("sha512 digests: chunked (read-back) and in one request", async () => {
    const repo = uniqueRepo();
    const data = pseudoRandomBytes(PART + 3000, 66);
    const digest = await digestOf(data, "sha512");
    const location = await patchChunks(await startUpload(repo), data, [PART - 1000, 4000]);
    expect((await finish(location, digest)).status).toBe(201);
    await expectBlob(repo, digest, data);

    const repo2 = uniqueRepo();
    const one = await patch(await startUpload(repo2), streamOf(data));
    expect((await finish(one.headers.get("location")!, digest)).status).toBe(201);
    await expectBlob(repo2, digest, data);

    const repo3 = uniqueRepo();
    const wrong = await digestOf("nope", "sha512");
    const bad = await patch(await startUpload(repo3), streamOf(data));
    await expectError(await finish(bad.headers.get("location")!, wrong), 400, "DIGEST_INVALID");
  });

  it("a second identical upload in the same repository keeps one consistent blob", async () => {
    const repo = uniqueRepo();
    const data = pseudoRandomBytes(PART + 1, 67);
    await pushBlob(repo, data);
    await pushBlob(repo, data);
    await expectBlob(repo, await digestOf(data), data);
  });
});

describe("DELETE (cancel)", () => {
  it("answers 204, then the session is 404 BLOB_UPLOAD_UNKNOWN", async () => {
    const repo = uniqueRepo();
    const data = pseudoRandomBytes(PART + 100, 71);
    const location = await patchChunks(await startUpload(repo), data, [PART + 100]);
    const res = await registry(location, { method: "DELETE" });
    expect(res.status).toBe(204);
    await expectError(await status(location), 404, "BLOB_UPLOAD_UNKNOWN");
    await expectError(await patch(location, new Uint8Array(1)), 404, "BLOB_UPLOAD_UNKNOWN");
    await expectError(await finish(location, await digestOf(data)), 404, "BLOB_UPLOAD_UNKNOWN");
    await expectError(await registry(location, { method: "DELETE" }), 404, "BLOB_UPLOAD_UNKNOWN");
    await expectError(await registry(`/v2/${repo}/blobs/${await digestOf(data)}`), 404, "BLOB_UNKNOWN");
  });

  it("cancels a fresh session and one holding only a tail", async () => {
    const repo = uniqueRepo();
    const fresh = await startUpload(repo);
    expect((await registry(fresh, { method: "DELETE" })).status).toBe(204);
    const tail = await patchChunks(await startUpload(repo), pseudoRandomBytes(10, 72), [10]);
    expect((await registry(tail, { method: "DELETE" })).status).toBe(204);
    await expectError(await status(tail), 404, "BLOB_UPLOAD_UNKNOWN");
  });
});

describe("upload ids", () => {
  it("a session of repository A is unknown on repository B", async () => {
    const a = uniqueRepo();
    const b = uniqueRepo();
    const data = pseudoRandomBytes(10, 81);
    const location = await patchChunks(await startUpload(a), data.subarray(0, 5), [5]);
    const id = location.split("/").pop()!;
    const onB = `/v2/${b}/blobs/uploads/${id}`;
    await expectError(await status(onB), 404, "BLOB_UPLOAD_UNKNOWN");
    await expectError(await patch(onB, data.subarray(5), { "Content-Range": "5-9" }), 404, "BLOB_UPLOAD_UNKNOWN");
    await expectError(await finish(onB, await digestOf(data), data.subarray(5)), 404, "BLOB_UPLOAD_UNKNOWN");
    await expectError(await registry(onB, { method: "DELETE" }), 404, "BLOB_UPLOAD_UNKNOWN");
    await expectError(await registry(`/v2/${b}/blobs/${await digestOf(data)}`), 404, "BLOB_UNKNOWN");
    // still intact on A
    expect((await status(location)).headers.get("range")).toBe("0-4");
    expect((await finish(location, await digestOf(data), data.subarray(5))).status).toBe(201);
    await expectBlob(a, await digestOf(data), data);
  });

  it.each([
    "nope",
    "..%2F..%2Fstate",
    "00000000-0000-0000-0000-000000000000",
    crypto.randomUUID().toUpperCase(),
    crypto.randomUUID(),
    "x".repeat(2000),
    "%00",
  ])("answers 404 BLOB_UPLOAD_UNKNOWN for id %j on every method", async (id) => {
    const repo = uniqueRepo();
    const location = `/v2/${repo}/blobs/uploads/${id}`;
    await expectError(await status(location), 404, "BLOB_UPLOAD_UNKNOWN");
    await expectError(await patch(location, new Uint8Array(1)), 404, "BLOB_UPLOAD_UNKNOWN");
    await expectError(await finish(location, EMPTY_SHA256), 404, "BLOB_UPLOAD_UNKNOWN");
    await expectError(await registry(location, { method: "DELETE" }), 404, "BLOB_UPLOAD_UNKNOWN");
  });
});

describe("a streamed GET of a multipart blob", () => {
  it("returns exactly the uploaded bytes (hashed as a stream)", async () => {
    const repo = uniqueRepo();
    const data = pseudoRandomBytes(3 * PART + 17, 91);
    const location = await patchChunks(await startUpload(repo), data, [PART + 5, PART - 5, PART, 17]);
    const digest = await digestOf(data);
    expect((await finish(location, digest)).status).toBe(201);
    const got = await streamDigest((await registry(`/v2/${repo}/blobs/${digest}`)).body);
    expect(got).toEqual({ digest, size: data.byteLength });
  });
});
