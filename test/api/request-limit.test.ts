// The request body limit (MAX_REQUEST_BODY_MB): Cloudflare's edge refuses larger bodies with an HTML 413 before the
// worker runs, so the worker announces the limit (OCI-Chunk-Max-Length) and refuses the same bodies itself, with a
// JSON error that says what to do, and leaves the session as it was. The project runs with an Enterprise-sized
// limit (vitest.config.ts); these tests call the same worker with the smallest one, 1 MB.
import { describe, it, expect } from "vitest";
import { env } from "cloudflare:workers";
import app from "../../src/index";
import { digestOf, expectError, pseudoRandomBytes, pseudoRandomStream, registry, requestTo, uniqueRepo, withQuery } from "./helpers";

const LIMIT = 1_000_000;
/** The project's worker variables with a 1 MB limit: one object, so the worker builds its runtime once. */
const limited = { ...(env as Record<string, unknown>), MAX_REQUEST_BODY_MB: "1" };

function call(path: string, init?: RequestInit): Promise<Response> {
  return Promise.resolve(app.fetch(requestTo(path, init), limited));
}

async function start(repo: string): Promise<{ location: string; res: Response }> {
  const res = await call(`/v2/${repo}/blobs/uploads/`, { method: "POST" });
  expect(res.status).toBe(202);
  return { location: res.headers.get("location")!, res };
}

/** The body as docker sends its PATCH: streamed, without Content-Length. */
function streamed(bytes: Uint8Array): ReadableStream<Uint8Array> {
  let at = 0;
  return new ReadableStream<Uint8Array>({
    pull(c) {
      if (at >= bytes.byteLength) return c.close();
      c.enqueue(bytes.slice(at, at + 64 * 1024));
      at += 64 * 1024;
    },
  });
}

async function expectTooLarge(res: Response): Promise<void> {
  const err = await expectError(res, 413, "SIZE_INVALID");
  expect(err.message).toContain("npx skiff push SOURCE DEST");
  expect(err.message).toContain(String(LIMIT));
  expect(err.message).toContain("MAX_REQUEST_BODY_MB");
}

async function rangeOf(location: string): Promise<string | null> {
  const res = await call(location);
  expect(res.status).toBe(204);
  return res.headers.get("range");
}

describe("the request body limit is announced", () => {
  it("POST answers OCI-Chunk-Max-Length: MAX_REQUEST_BODY_MB * 1,000,000 (and OCI-Chunk-Min-Length)", async () => {
    const { res } = await start(uniqueRepo("limit"));
    expect(res.headers.get("oci-chunk-max-length")).toBe(String(LIMIT));
    expect(Number(res.headers.get("oci-chunk-min-length"))).toBeGreaterThanOrEqual(5 * 1024 * 1024);
    // The project's own worker: its own limit (Enterprise-sized on R2 and S3, the default 100 MB on api-memory).
    const own = await registry(`/v2/${uniqueRepo("limit")}/blobs/uploads/`, { method: "POST" });
    const ownMB = Number((env as { MAX_REQUEST_BODY_MB?: string }).MAX_REQUEST_BODY_MB ?? 100);
    expect(own.headers.get("oci-chunk-max-length")).toBe(String(ownMB * 1_000_000));
  });
});

describe("bodies over the limit get 413 SIZE_INVALID, and the session stays as it was", () => {
  const first = pseudoRandomBytes(1000, 71);
  const over = pseudoRandomBytes(LIMIT + 1, 72);

  /** A session holding `first` (a chunk with Content-Range, as chunked clients send). */
  async function holding(repo: string): Promise<string> {
    const { location } = await start(repo);
    const res = await call(location, { method: "PATCH", body: first, headers: { "Content-Range": `0-${first.byteLength - 1}` } });
    expect(res.status).toBe(202);
    return res.headers.get("location")!;
  }

  /** The session still takes its next chunk and completes with the right digest. */
  async function stillWorks(repo: string, location: string, held: Uint8Array): Promise<void> {
    const next = pseudoRandomBytes(LIMIT, 73); // exactly the limit: accepted
    const patched = await call(location, {
      method: "PATCH",
      body: next,
      headers: { "Content-Range": `${held.byteLength}-${held.byteLength + next.byteLength - 1}` },
    });
    expect(patched.status, await patched.clone().text()).toBe(202);
    const whole = new Uint8Array(held.byteLength + next.byteLength);
    whole.set(held);
    whole.set(next, held.byteLength);
    const digest = await digestOf(whole);
    const done = await call(withQuery(patched.headers.get("location")!, { digest }), { method: "PUT" });
    expect(done.status, await done.clone().text()).toBe(201);
    const blob = await call(`/v2/${repo}/blobs/${digest}`);
    expect(await digestOf(new Uint8Array(await blob.arrayBuffer()))).toBe(digest);
  }

  it("a PATCH whose Content-Length is over the limit", async () => {
    const repo = uniqueRepo("limit");
    const location = await holding(repo);
    await expectTooLarge(await call(location, { method: "PATCH", body: over }));
    expect(await rangeOf(location)).toBe(`0-${first.byteLength - 1}`);
    await stillWorks(repo, location, first);
  });

  it("a PATCH whose Content-Range is over the limit, streamed without Content-Length", async () => {
    const repo = uniqueRepo("limit");
    const location = await holding(repo);
    const res = await call(location, {
      method: "PATCH",
      body: streamed(over),
      headers: { "Content-Range": `${first.byteLength}-${first.byteLength + over.byteLength - 1}` },
    });
    await expectTooLarge(res);
    expect(await rangeOf(location)).toBe(`0-${first.byteLength - 1}`);
    await stillWorks(repo, location, first);
  });

  it("a PUT ?digest= whose body is over the limit", async () => {
    const repo = uniqueRepo("limit");
    const location = await holding(repo);
    const whole = new Uint8Array(first.byteLength + over.byteLength);
    whole.set(first);
    whole.set(over, first.byteLength);
    const digest = await digestOf(whole);
    await expectTooLarge(await call(withQuery(location, { digest }), { method: "PUT", body: over }));
    await expectError(await call(`/v2/${repo}/blobs/${digest}`), 404, "BLOB_UNKNOWN");
    expect(await rangeOf(location)).toBe(`0-${first.byteLength - 1}`);
    await stillWorks(repo, location, first);
  });

  it("a POST ?digest= whose body is over the limit; the same body in one request at the limit is accepted", async () => {
    const repo = uniqueRepo("limit");
    const digest = await digestOf(over);
    await expectTooLarge(await call(`/v2/${repo}/blobs/uploads/?digest=${digest}`, { method: "POST", body: over }));
    await expectError(await call(`/v2/${repo}/blobs/${digest}`), 404, "BLOB_UNKNOWN");
    const atLimit = over.subarray(0, LIMIT);
    const ok = await call(`/v2/${repo}/blobs/uploads/?digest=${await digestOf(atLimit)}`, { method: "POST", body: atLimit });
    expect(ok.status, await ok.clone().text()).toBe(201);
  });

  it("docker's PATCH (no Content-Length, no Content-Range) over the limit: counted as it streams, refused at limit + 1", async () => {
    const repo = uniqueRepo("limit");
    const { location } = await start(repo);
    await expectTooLarge(await call(location, { method: "PATCH", body: streamed(over) }));
    expect(await rangeOf(location)).toBe("0-0");
    // The same kind of request at exactly the limit is taken whole.
    const atLimit = over.slice(0, LIMIT);
    const res = await call(location, { method: "PATCH", body: streamed(atLimit) });
    expect(res.status, await res.clone().text()).toBe(202);
    expect(res.headers.get("range")).toBe(`0-${LIMIT - 1}`);
    const digest = await digestOf(atLimit);
    expect((await call(withQuery(location, { digest }), { method: "PUT" })).status).toBe(201);
  });

  it("a streamed PATCH over the limit on a session that holds bytes", async () => {
    const repo = uniqueRepo("limit");
    const location = await holding(repo);
    await expectTooLarge(await call(location, { method: "PATCH", body: pseudoRandomStream(LIMIT + 1, { seed: 74, chunkSize: 64 * 1024 }) }));
    expect(await rangeOf(location)).toBe(`0-${first.byteLength - 1}`);
    await stillWorks(repo, location, first);
  });
});
