// The request log line (src/http/observe.ts, src/observability/request-log.ts) and the Analytics Engine data point
// of each kind of request, captured from the console of the real app on this project's store; and the health
// endpoint. Blob GETs redirect through a stand-in presigner whose URLs carry an X-Amz-Signature (the R2 binding
// alone cannot presign), so the test can see that a 307's Location never reaches a log line.
// The metrics binding is a recording stand-in: Miniflare's Analytics Engine simulator drops every data point
// (its writeDataPoint is empty), so nothing written there could be read back. The stand-in enforces the documented
// limits of a data point (1 index of at most 96 bytes, 20 blobs of 16 KB in all, 20 doubles).
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { env } from "cloudflare:workers";
import type { Env } from "../../src/config/settings";
import { createRuntime, type Runtime } from "../../src/runtime";
import { createApp } from "../../src/http/app";
import { createStorage } from "../../src/storage";
import { CountingStore } from "../../src/gc/counting-store";
import { SKIFF_VERSION } from "../../src/version";
import { baseConfig, CACHE_OFF } from "./counted-app";
import { digestOf, imageManifest, descriptorOf, manifestBytes, MEDIA, pseudoRandomBytes, requestTo, uniqueRepo, withQuery } from "./helpers";
import { findSecrets } from "../support/log-secrets";

const SIGNATURE = "0123456789abcdef".repeat(4);
const FAKE_JWT = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlc2lnbmF0dXJl";

class RecordingDataset {
  points: { indexes: string[]; blobs: string[]; doubles: number[] }[] = [];
  writeDataPoint(p: { indexes?: string[]; blobs?: string[]; doubles?: number[] }) {
    const point = { indexes: p.indexes ?? [], blobs: p.blobs ?? [], doubles: p.doubles ?? [] };
    if (point.indexes.length > 1 || new TextEncoder().encode(point.indexes[0] ?? "").byteLength > 96) throw new Error("index too large");
    if (point.blobs.length > 20 || point.doubles.length > 20) throw new Error("too many fields");
    if (new TextEncoder().encode(point.blobs.join("")).byteLength > 16 * 1024) throw new Error("blobs too large");
    this.points.push(point);
  }
}

function makeApp(opts: { logRequests?: boolean } = {}) {
  const storage = createStorage(baseConfig);
  const counter = new CountingStore(storage.store);
  const presigner = { presignGet: async (key: string) => `https://storage.example/${key}?X-Amz-Credential=AKIDEXAMPLE&X-Amz-Signature=${SIGNATURE}` };
  const config = { ...baseConfig, edgeCache: CACHE_OFF, blobRedirect: { ...baseConfig.blobRedirect, enabled: true }, logRequests: opts.logRequests ?? true };
  const runtime: Runtime = createRuntime(config, { ...storage, store: counter, presigner });
  const app = createApp(() => runtime);
  const metrics = new RecordingDataset();
  const vars = { ...(env as unknown as Env), METRICS: metrics as unknown as AnalyticsEngineDataset };
  const call = (path: string, init?: RequestInit) => Promise.resolve(app.fetch(requestTo(path, init), vars));
  return { call, counter, metrics };
}

let lines: string[] = [];
beforeEach(() => {
  lines = [];
  for (const m of ["log", "info", "warn", "error", "debug"] as const) {
    vi.spyOn(console, m).mockImplementation((...args: unknown[]) => void lines.push(args.map(String).join(" ")));
  }
});
afterEach(() => vi.restoreAllMocks());

/** The request lines logged so far (JSON with a requestId), oldest first. */
function requestLines(): Record<string, any>[] {
  return lines.flatMap((l) => {
    try {
      const o = JSON.parse(l);
      return o && typeof o === "object" && "requestId" in o ? [o] : [];
    } catch {
      return [];
    }
  });
}
const last = () => requestLines().at(-1)!;

describe("one structured log line per request", () => {
  it("blob upload (POST, PATCH without Content-Length, PUT), HEAD and a redirected GET", async () => {
    const { call } = makeApp();
    const repo = uniqueRepo("logs");
    const data = pseudoRandomBytes(50_000, 7);
    const digest = await digestOf(data);

    const post = await call(`/v2/${repo}/blobs/uploads/`, { method: "POST", headers: { "User-Agent": "docker/27.0 go/go1.22", "cf-ray": "8f00aa11bb22cc33-FRA" } });
    expect(post.status).toBe(202);
    const uuid = post.headers.get("docker-upload-uuid")!;
    expect(last()).toMatchObject({
      level: "info", message: "POST /v2/:name/blobs/uploads/ 202", event: "request", requestId: "8f00aa11bb22cc33-FRA",
      method: "POST", route: "/v2/:name/blobs/uploads/", repository: repo, status: 202, bytesIn: 0, user: "anonymous",
      client: "docker/27.0 go/go1.22", upload: uuid,
    });
    expect(typeof last().durationMs).toBe("number");

    // docker's PATCH: a stream, no Content-Length; the line counts what the session received.
    const body = new ReadableStream<Uint8Array>({ start(c) { c.enqueue(data.slice(0, 20_000)); c.enqueue(data.slice(20_000)); c.close(); } });
    const patch = await call(post.headers.get("location")!, { method: "PATCH", body });
    expect(patch.status).toBe(202);
    expect(last()).toMatchObject({ route: "/v2/:name/blobs/uploads/:id", method: "PATCH", status: 202, bytesIn: data.byteLength, upload: uuid });
    expect(last().requestId).toMatch(/^[0-9a-f-]{36}$/); // no cf-ray: a fresh id

    const put = await call(withQuery(patch.headers.get("location")!, { digest }), { method: "PUT" });
    expect(put.status).toBe(201);
    expect(last()).toMatchObject({ event: "push", method: "PUT", status: 201, digest, upload: uuid, bytesIn: 0 });

    await call(`/v2/${repo}/blobs/${digest}`, { method: "HEAD" });
    expect(last()).toMatchObject({ method: "HEAD", route: "/v2/:name/blobs/:digest", status: 200, digest, bytesOut: 0 });

    const get = await call(`/v2/${repo}/blobs/${digest}`);
    expect(get.status).toBe(307);
    expect(get.headers.get("location")).toContain(SIGNATURE);
    expect(last()).toMatchObject({ event: "pull", status: 307, digest, bytesOut: 0 });
    const text = lines.join("\n");
    for (const s of [SIGNATURE, "X-Amz", "storage.example", "AKIDEXAMPLE"]) expect(text).not.toContain(s);
  });

  it("manifest put and pull, a 404 with its OCI code, an unknown endpoint", async () => {
    const { call } = makeApp();
    const repo = uniqueRepo("logs");
    const config = new TextEncoder().encode("{}");
    const cd = await digestOf(config);
    await call(withQuery((await call(`/v2/${repo}/blobs/uploads/`, { method: "POST" })).headers.get("location")!, { digest: cd }), { method: "PUT", body: config });
    const bytes = manifestBytes(imageManifest(await descriptorOf(MEDIA.ociConfig, config), []));
    const md = await digestOf(bytes);

    const put = await call(`/v2/${repo}/manifests/v1`, { method: "PUT", body: bytes, headers: { "Content-Type": MEDIA.ociManifest } });
    expect(put.status).toBe(201);
    expect(last()).toMatchObject({ event: "manifest_put", route: "/v2/:name/manifests/:reference", repository: repo, status: 201, bytesIn: bytes.byteLength, digest: md });

    expect((await call(`/v2/${repo}/manifests/v1`)).status).toBe(200);
    expect(last()).toMatchObject({ event: "manifest_pull", method: "GET", status: 200, bytesOut: bytes.byteLength, digest: md });

    expect((await call(`/v2/${repo}/manifests/missing`)).status).toBe(404);
    expect(last()).toMatchObject({ level: "warn", event: "error", status: 404, code: "MANIFEST_UNKNOWN", repository: repo });
    expect(last()).not.toHaveProperty("digest"); // a tag is not a digest

    expect((await call(`/v3/nothing`)).status).toBe(404);
    expect(last()).toMatchObject({ level: "warn", route: null, status: 404, code: "UNSUPPORTED", message: "GET (no route) 404" });
  });

  it("never logs credentials, query strings or a hostile name", async () => {
    const { call } = makeApp();
    await call(`/v2/Bad..Name/tags/list?password=hunter22&token=${FAKE_JWT}`, {
      headers: { Authorization: `Bearer ${FAKE_JWT}`, Cookie: "session=cookie-secret-value", "User-Agent": `evil ${FAKE_JWT} Basic YWxpY2U6c2VjcmV0` },
    });
    const line = last();
    expect(line.status).toBe(400);
    expect(line).not.toHaveProperty("repository");
    const text = lines.join("\n");
    for (const s of ["hunter22", FAKE_JWT, "cookie-secret-value", "YWxpY2U6c2VjcmV0"]) expect(text).not.toContain(s);
    expect(findSecrets(text, ["hunter22", "cookie-secret-value"])).toEqual([]);
  });

  it("writes one Analytics Engine data point per request", async () => {
    const { call, metrics } = makeApp();
    const repo = uniqueRepo("logs");
    const data = new TextEncoder().encode("metrics blob");
    const digest = await digestOf(data);
    await call(`/v2/${repo}/blobs/uploads/?digest=${digest}`, { method: "POST", body: data });
    await call(`/v2/${repo}/blobs/sha256:${"0".repeat(64)}`);
    expect(metrics.points).toEqual([
      { indexes: [repo], blobs: ["push", repo, "", "POST", "/v2/:name/blobs/uploads/", "anonymous"], doubles: [data.byteLength, 0, expect.any(Number), 201] },
      { indexes: [repo], blobs: ["error", repo, "BLOB_UNKNOWN", "GET", "/v2/:name/blobs/:digest", "anonymous"], doubles: [0, expect.any(Number), expect.any(Number), 404] },
    ]);
  });

  it("LOG_REQUESTS=false: no request line, metrics still written", async () => {
    const { call, metrics } = makeApp({ logRequests: false });
    await call("/v2/");
    expect(requestLines()).toEqual([]);
    expect(metrics.points).toHaveLength(1);
  });
});

describe("GET /_skiff/health", () => {
  it("answers ok with the version, costs at most one storage call for many checks, and HEAD works", async () => {
    const { call, counter } = makeApp();
    const before = counter.calls;
    const res = await call("/_skiff/health");
    expect(res.status).toBe(200);
    expect(res.headers.get("cache-control")).toBe("no-store");
    expect(await res.json()).toEqual({ status: "ok", version: SKIFF_VERSION });
    for (let i = 0; i < 5; i++) expect((await call("/_skiff/health")).status).toBe(200);
    const head = await call("/_skiff/health", { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe("");
    expect(counter.calls - before).toBe(1);
    expect(last()).toMatchObject({ route: "/_skiff/health", method: "HEAD", status: 200 });
  });

  it("a store that fails is 503 unavailable, with nothing of the failure in the answer", async () => {
    const storage = createStorage(baseConfig);
    const failing = { ...storage, store: { ...storage.store, head: async () => { throw new Error("connect ECONNREFUSED 10.1.2.3:9000 bucket=private-bucket"); } } } as typeof storage;
    const app = createApp(() => createRuntime(baseConfig, failing));
    const res = await app.fetch(requestTo("/_skiff/health"), env as unknown as Env);
    expect(res.status).toBe(503);
    expect(await res.text()).toBe(JSON.stringify({ status: "unavailable", version: SKIFF_VERSION }));
  });
});
