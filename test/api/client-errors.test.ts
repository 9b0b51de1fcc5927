// Bad client input of every kind gets an OCI error JSON with a 4xx status: never a 500.
import { describe, it, expect, vi, afterEach } from "vitest";
import { env } from "cloudflare:workers";
import { registry, uniqueRepo, startUpload, withQuery, digestOf, pushImage, pushBlob, expectError, pseudoRandomBytes } from "./helpers";

const D = "sha256:" + "a".repeat(64);
const PART_PLUS = 8 * 1024 * 1024 + 100;

/** Not a server error; and when it is an error, the spec's JSON body. (Some odd inputs are valid: 200 is fine.) */
async function expectNoServerError(res: Response, what: string) {
  const text = await res.text();
  expect(res.status, `${what}: ${text.slice(0, 200)}`).toBeLessThan(500);
  if (res.status >= 400) {
    const body = JSON.parse(text) as { errors: { code: string; message: string }[] };
    expect(body.errors[0].code, what).toMatch(/^[A-Z_]+$/);
    expect(body.errors[0].message, what).toBeTruthy();
  }
}

describe("never a 500 for client input", () => {
  it("a table of malformed requests", async () => {
    const repo = uniqueRepo();
    await pushImage(repo, "v1");
    const location = await startUpload(repo);
    const long = "x".repeat(5000);
    const cases: [string, string, RequestInit?][] = [
      ["GET", `/v2/${repo}/manifests/${long}`],
      ["GET", `/v2/${repo}/manifests/sha256:${long}`],
      ["GET", `/v2/${repo}/manifests/${encodeURIComponent("a b")}`],
      ["GET", `/v2/${repo}/manifests/%ff`],
      ["GET", `/v2/${repo}/blobs/${encodeURIComponent("sha256:" + "a".repeat(63) + "é")}`],
      ["GET", `/v2/${long}/${long}/tags/list`],
      ["GET", `/v2/${repo}/tags/list?n=${long}`],
      ["GET", `/v2/${repo}/referrers/${D}?artifactType=${long}`],
      ["GET", `/v2/${repo}/blobs/${D}`, { headers: { Range: `bytes=${long}` } }],
      ["GET", `/v2/${repo}/blobs/uploads/${long}`],
      ["PUT", `/v2/${repo}/manifests/v2`, { body: long, headers: { "Content-Type": "application/vnd.oci.image.manifest.v1+json" } }],
      ["PUT", `/v2/${repo}/manifests/v2`, { body: '{"schemaVersion":2,"config":{},"layers":[]}' }],
      ["PUT", `/v2/${repo}/manifests/v2`, { body: '{"schemaVersion":2,"manifests":[null]}' }],
      ["PUT", `/v2/${repo}/manifests/v2`, { body: '{"schemaVersion":2,"layers":[],"config":{"mediaType":"a/b","digest":"sha256:x","size":1}}' }],
      ["PUT", `/v2/${repo}/manifests/v2`, { body: '{"__proto__":{"schemaVersion":2},"schemaVersion":2}' }],
      ["PUT", `/v2/${repo}/manifests/v2`, { body: "\u0000" }],
      ["PUT", `/v2/${repo}/manifests/v2?tag=${long}`, { body: "{}" }],
      ["POST", `/v2/${repo}/blobs/uploads/?digest=${long}`],
      ["POST", `/v2/${repo}/blobs/uploads/?mount=${long}&from=${repo}`],
      ["POST", `/v2/${repo}/blobs/uploads/?mount=${D}&from=${long}`],
      ["PATCH", location, { body: "abc", headers: { "Content-Range": `0-${"9".repeat(30)}` } }],
      ["PATCH", location, { body: "abc", headers: { "Content-Range": "bytes 1-3/3" } }],
      ["PUT", withQuery(location, { digest: "nope" })],
      ["PUT", withQuery(location, { digest: D }), { body: "abc", headers: { "Content-Range": "junk" } }],
      ["DELETE", `/v2/${repo}/blobs/${long}`],
      ["DELETE", `/v2/${repo}/manifests/${long}`],
    ];
    for (const [method, path, init] of cases) {
      await expectNoServerError(await registry(path, { method, ...init }), `${method} ${path.slice(0, 100)}`);
    }
  });

  it("a very long last on tags/list and _catalog", async () => {
    const repo = uniqueRepo();
    await pushImage(repo, "v1");
    const last = "z".repeat(3000);
    const tags = await registry(`/v2/${repo}/tags/list?last=${last}`);
    expect(tags.status).toBeLessThan(500);
    const catalog = await registry(`/v2/_catalog?last=${last}`);
    expect(catalog.status).toBeLessThan(500);
  });

  it("a PATCH whose body breaks off before its Content-Range length answers 400 and leaves the session as it was", async () => {
    // Inside the test pool a JS stream that errors reaches the Worker as an early end of body, so only a
    // declared length (Content-Range or Content-Length) can reveal the break; both are checked.
    const repo = uniqueRepo();
    const data = pseudoRandomBytes(2000, 9);
    const location = await startUpload(repo);
    const first = await registry(location, { method: "PATCH", body: data.subarray(0, 1000), headers: { "Content-Range": "0-999" } });
    expect(first.status).toBe(202);
    let sent = 0;
    const broken = new ReadableStream<Uint8Array>({
      pull(c) {
        if (sent++ === 0) c.enqueue(data.slice(1000, 1500));
        else c.close();
      },
    });
    await expectError(await registry(location, { method: "PATCH", body: broken, headers: { "Content-Range": "1000-1999" } }), 400, "SIZE_INVALID");
    const st = await registry(location);
    expect(st.status).toBe(204);
    expect(st.headers.get("range")).toBe("0-999");
    const rest = await registry(location, { method: "PATCH", body: data.subarray(1000), headers: { "Content-Range": "1000-1999" } });
    expect(rest.status).toBe(202);
    expect((await registry(withQuery(location, { digest: await digestOf(data) }), { method: "PUT" })).status).toBe(201);
  });

  it("a final PUT chunk shorter than its Content-Range answers 400 SIZE_INVALID and commits nothing", async () => {
    const repo = uniqueRepo();
    const data = pseudoRandomBytes(PART_PLUS, 10);
    const location = await startUpload(repo);
    const digest = await digestOf(data);
    let sent = false;
    const short = new ReadableStream<Uint8Array>({
      pull(c) {
        if (sent) return c.close();
        sent = true;
        c.enqueue(data.slice(0, data.byteLength - 10));
      },
    });
    const res = await registry(withQuery(location, { digest }), { method: "PUT", body: short, headers: { "Content-Range": `0-${data.byteLength - 1}` } });
    await expectError(res, 400, "SIZE_INVALID");
    await expectError(await registry(`/v2/${repo}/blobs/${digest}`), 404, "BLOB_UNKNOWN");
    // the session is intact: the whole blob can still be sent
    expect((await registry(location)).headers.get("range")).toBe("0-0");
    expect((await registry(withQuery(location, { digest }), { method: "PUT", body: data })).status).toBe(201);
  });
});

// The worker's clock is faked 6 days ahead. On the S3 backend that also skews SigV4 signatures: the AWS SDK then
// corrects its clock offset and keeps the correction in the worker's cached client, breaking every later request
// of this run. The TTL logic is the registry's, the same on both backends, so it is tested on R2 only.
describe.skipIf((env as { STORAGE_BACKEND?: string }).STORAGE_BACKEND === "s3")("upload session lifetime", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("a session older than the upload TTL (6 days) is unknown", async () => {
    const repo = uniqueRepo();
    const location = await startUpload(repo);
    expect((await registry(location)).status).toBe(204);
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(Date.now() + 6 * 24 * 3600 * 1000 + 60_000);
    await expectError(await registry(location), 404, "BLOB_UPLOAD_UNKNOWN");
    await expectError(await registry(location, { method: "PATCH", body: "x" }), 404, "BLOB_UPLOAD_UNKNOWN");
  });
});

describe("blob and manifest headers", () => {
  it("every response carries Docker-Distribution-API-Version, errors included", async () => {
    const repo = uniqueRepo();
    const digest = await pushBlob(repo, "hdr");
    for (const res of [
      await registry(`/v2/${repo}/blobs/${digest}`),
      await registry(`/v2/${repo}/blobs/${await digestOf("missing")}`),
      await registry(`/v2/${repo}/blobs/uploads/`, { method: "POST" }),
      await registry(`/v2/Bad/blobs/${digest}`),
    ]) {
      expect(res.headers.get("docker-distribution-api-version")).toBe("registry/2.0");
      await res.arrayBuffer();
    }
  });
});
