// How uploads land in the bucket (R2 binding only: it inspects the bucket directly, which the S3 project does not
// bind). The registry's visible behaviour is covered backend-independently elsewhere; this checks that the cheap
// paths stay cheap.
import { describe, it, expect } from "vitest";
import { env } from "cloudflare:workers";
import { registry, uniqueRepo, startUpload, withQuery, digestOf, pseudoRandomBytes, streamDigest } from "./helpers";

const bucket = (env as { BUCKET?: R2Bucket; STORAGE_BACKEND?: string }).BUCKET;
// Not on S3 (no binding) nor on the MemoryStore (api-memory's binding is a placeholder).
const onR2 = (env as { STORAGE_BACKEND?: string }).STORAGE_BACKEND !== "s3" && (env as { SKIFF_TEST_TARGET?: string }).SKIFF_TEST_TARGET !== "memory";
const PART = 8 * 1024 * 1024;

/** The object holding the blob's bytes, as the repository's link names it. */
async function dataObject(repo: string, digest: string): Promise<R2Object> {
  const link = await bucket!.head(`repos/${repo}/_blobs/${digest.replace(":", "/")}`);
  expect(link, "repository link").not.toBeNull();
  const data = await bucket!.head(link!.customMetadata!.data);
  expect(data, "data object").not.toBeNull();
  return data!;
}

describe.skipIf(!onR2 || !bucket)("where upload bytes are stored (R2)", () => {
  it("skopeo's flow (one PATCH with Content-Length, then an empty PUT) keeps the PATCH's single object: no copy", async () => {
    const repo = uniqueRepo();
    const data = pseudoRandomBytes(PART + 12345, 21);
    const digest = await digestOf(data);
    const location = await startUpload(repo);
    const patch = await registry(location, { method: "PATCH", body: data, headers: { "Content-Length": String(data.byteLength) } });
    expect(patch.status).toBe(202);
    // The session state names the one object the PATCH wrote.
    const state = await (await bucket!.get(`uploads/${location.split("/").pop()}/state`))!.json<{ content: { kind: string; key: string } }>();
    expect(state.content.kind).toBe("object");
    const afterPatch = await bucket!.head(state.content.key);
    expect(afterPatch?.size).toBe(data.byteLength);
    // An empty body, as skopeo and podman send it (Content-Length: 0, a body stream nonetheless).
    const put = await registry(withQuery(location, { digest }), { method: "PUT", body: new Uint8Array(0), headers: { "Content-Length": "0" } });
    expect(put.status).toBe(201);
    const stored = await dataObject(repo, digest);
    // The very object the PATCH wrote (same version): the PUT neither re-read nor rewrote the blob as parts.
    expect(stored.key).toBe(afterPatch!.key);
    expect(stored.version).toBe(afterPatch!.version);
    expect(stored.size).toBe(data.byteLength);
  });

  it("more bytes after a single-object PATCH move it into parts, and the blob is right", async () => {
    const repo = uniqueRepo();
    const data = pseudoRandomBytes(PART + 777, 22);
    const digest = await digestOf(data);
    const location = await startUpload(repo);
    const first = data.subarray(0, 5000);
    expect((await registry(location, { method: "PATCH", body: first, headers: { "Content-Length": String(first.byteLength) } })).status).toBe(202);
    const rest = data.subarray(5000);
    const put = await registry(withQuery(location, { digest }), { method: "PUT", body: rest, headers: { "Content-Range": `5000-${data.byteLength - 1}` } });
    expect(put.status).toBe(201);
    const got = await registry(`/v2/${repo}/blobs/${digest}`);
    expect(await streamDigest(got.body)).toEqual({ digest, size: data.byteLength });
  });
});
