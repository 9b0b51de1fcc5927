// Shared helpers for tests that call the registry Worker inside workerd (vitest-pool-workers).
// Generic on purpose: a fetch wrapper, digests, deterministic data, blob pushes, manifest builders, error checks.
import { expect } from "vitest";
import { exports } from "cloudflare:workers";
import type { Descriptor } from "../../src/protocol/manifest";

export const ORIGIN = "http://registry.test";

export const MEDIA = {
  ociManifest: "application/vnd.oci.image.manifest.v1+json",
  ociIndex: "application/vnd.oci.image.index.v1+json",
  ociConfig: "application/vnd.oci.image.config.v1+json",
  ociLayer: "application/vnd.oci.image.layer.v1.tar+gzip",
  ociEmpty: "application/vnd.oci.empty.v1+json",
  dockerManifest: "application/vnd.docker.distribution.manifest.v2+json",
  dockerList: "application/vnd.docker.distribution.manifest.list.v2+json",
  dockerConfig: "application/vnd.docker.container.image.v1+json",
  dockerLayer: "application/vnd.docker.image.rootfs.diff.tar.gzip",
} as const;

// The project declares no GlobalProps.mainModule, so `exports` is untyped: name the one member used here.
const worker = exports as unknown as { default: { fetch(request: Request): Promise<Response> } };

/** Calls the Worker. `path` is relative to the origin ("/v2/..."), or a Location header value. */
export function registry(path: string, init?: RequestInit): Promise<Response> {
  return worker.default.fetch(requestTo(path, init));
}

/** The request `registry()` sends, for calling the app with an env of one's own (`app.fetch(requestTo(...), vars)`). */
export function requestTo(path: string, init?: RequestInit): Request {
  return new Request(new URL(path, ORIGIN), asSent(init));
}

/**
 * The request as an HTTP client sends it. workerd's Request adds Content-Length to a body of known length itself;
 * Node's (project api-memory) leaves it to the connection, and wants `duplex` on a streamed body.
 */
function asSent(init: RequestInit | undefined): RequestInit | undefined {
  const body = init?.body;
  if (body instanceof ReadableStream) return { ...init, duplex: "half" } as RequestInit;
  const length = typeof body === "string" ? new TextEncoder().encode(body).byteLength : ArrayBuffer.isView(body) || body instanceof ArrayBuffer ? body.byteLength : undefined;
  if (length === undefined) return init;
  const headers = new Headers(init!.headers);
  if (!headers.has("content-length")) headers.set("content-length", String(length));
  return { ...init, headers };
}

/** A repository name no other test uses (tests share one bucket). */
export function uniqueRepo(prefix = "test"): string {
  return `${prefix}/${crypto.randomUUID().slice(0, 8)}`;
}

export type Algorithm = "sha256" | "sha512";

export async function digestOf(bytes: Uint8Array | string, algorithm: Algorithm = "sha256"): Promise<string> {
  const data = typeof bytes === "string" ? new TextEncoder().encode(bytes) : bytes;
  const hash = await crypto.subtle.digest(algorithm === "sha256" ? "SHA-256" : "SHA-512", data);
  return `${algorithm}:${[...new Uint8Array(hash)].map((b) => b.toString(16).padStart(2, "0")).join("")}`;
}

/** Deterministic pseudo-random bytes (xorshift32), the same for the same seed. */
export function pseudoRandomBytes(length: number, seed = 1): Uint8Array {
  const out = new Uint8Array(length);
  fillPseudoRandom(out, { x: seed >>> 0 || 1 });
  return out;
}

function fillPseudoRandom(out: Uint8Array, state: { x: number }): void {
  let x = state.x;
  const words = Math.floor(out.byteLength / 4);
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  for (let i = 0; i < words; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    view.setUint32(i * 4, x >>> 0, true);
  }
  for (let i = words * 4; i < out.byteLength; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  state.x = x;
}

/**
 * A stream of `total` deterministic pseudo-random bytes generated on the fly in chunks of `chunkSize`,
 * never held in memory at once. `onChunk` sees every chunk (to hash it in the test).
 */
export function pseudoRandomStream(total: number, opts: { seed?: number; chunkSize?: number; onChunk?: (chunk: Uint8Array) => void | Promise<void> } = {}): ReadableStream<Uint8Array> {
  const chunkSize = opts.chunkSize ?? 1024 * 1024;
  const state = { x: (opts.seed ?? 1) >>> 0 || 1 };
  let sent = 0;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (sent >= total) {
        controller.close();
        return;
      }
      const chunk = new Uint8Array(Math.min(chunkSize, total - sent));
      fillPseudoRandom(chunk, state);
      sent += chunk.byteLength;
      if (opts.onChunk) await opts.onChunk(chunk.slice());
      controller.enqueue(chunk);
    },
  });
}

/** An incremental native digest (crypto.DigestStream) fed chunk by chunk. */
export function incrementalDigest(algorithm: Algorithm = "sha256") {
  const stream = new crypto.DigestStream(algorithm === "sha256" ? "SHA-256" : "SHA-512");
  const writer = stream.getWriter();
  return {
    write: (chunk: Uint8Array) => writer.write(chunk),
    async digest(): Promise<string> {
      await writer.close();
      return `${algorithm}:${[...new Uint8Array(await stream.digest)].map((b) => b.toString(16).padStart(2, "0")).join("")}`;
    },
  };
}

/** The digest and length of a response body, streamed (never buffered). */
export async function streamDigest(body: ReadableStream<Uint8Array> | null, algorithm: Algorithm = "sha256"): Promise<{ digest: string; size: number }> {
  const d = incrementalDigest(algorithm);
  let size = 0;
  if (body) {
    const reader = body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      await d.write(value);
    }
  }
  return { digest: await d.digest(), size };
}

/** Asserts an OCI error response: status, JSON body {errors:[{code,message}]} with `code` first. */
export async function expectError(res: Response, status: number, code: string): Promise<{ code: string; message: string; detail?: unknown }> {
  const text = await res.text();
  expect(res.status, `status of ${res.url || "response"}: ${text.slice(0, 300)}`).toBe(status);
  expect(res.headers.get("content-type") ?? "").toMatch(/^application\/json/);
  let body: { errors?: { code: string; message: string; detail?: unknown }[] };
  try {
    body = JSON.parse(text);
  } catch {
    throw new Error(`error body is not JSON: ${text.slice(0, 200)}`);
  }
  expect(Array.isArray(body.errors) && body.errors.length > 0, text).toBe(true);
  const first = body.errors![0];
  expect(first.code).toBe(code);
  expect(typeof first.message).toBe("string");
  expect(first.message.length).toBeGreaterThan(0);
  return first;
}

/** Starts an upload session; returns its Location (path and query). */
export async function startUpload(repo: string): Promise<string> {
  const res = await registry(`/v2/${repo}/blobs/uploads/`, { method: "POST" });
  expect(res.status).toBe(202);
  const location = res.headers.get("location");
  expect(location).toBeTruthy();
  return location!;
}

/** Appends `location`'s query to a path with extra parameters. */
export function withQuery(location: string, params: Record<string, string>): string {
  const url = new URL(location, ORIGIN);
  for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
  return url.pathname + url.search;
}

/** Pushes a blob the way containerd does (POST, then one PUT ?digest= with the body). Returns its digest. */
export async function pushBlob(repo: string, bytes: Uint8Array | string, algorithm: Algorithm = "sha256"): Promise<string> {
  const data = typeof bytes === "string" ? new TextEncoder().encode(bytes) : bytes;
  const digest = await digestOf(data, algorithm);
  const location = await startUpload(repo);
  const res = await registry(withQuery(location, { digest }), { method: "PUT", body: data });
  expect(res.status, await res.clone().text()).toBe(201);
  expect(res.headers.get("docker-content-digest")).toBe(digest);
  return digest;
}

/** Pushes a blob in one POST ?digest= request. Returns the response. */
export async function pushBlobMonolithic(repo: string, bytes: Uint8Array, digest?: string): Promise<Response> {
  const d = digest ?? (await digestOf(bytes));
  return registry(`/v2/${repo}/blobs/uploads/?digest=${d}`, { method: "POST", body: bytes });
}

export type { Descriptor };

export async function descriptorOf(mediaType: string, bytes: Uint8Array | string, extra: Partial<Descriptor> = {}): Promise<Descriptor> {
  const data = typeof bytes === "string" ? new TextEncoder().encode(bytes) : bytes;
  return { mediaType, digest: await digestOf(data), size: data.byteLength, ...extra };
}

/** The OCI empty config `{}` (sha256:44136f...). */
export const EMPTY_CONFIG = {
  mediaType: MEDIA.ociEmpty,
  digest: "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
  size: 2,
  data: "e30=",
} as const;

export function imageManifest(config: Descriptor, layers: Descriptor[], extra: Record<string, unknown> = {}, mediaType: string = MEDIA.ociManifest) {
  return { schemaVersion: 2, mediaType, config, layers, ...extra };
}

export function indexManifest(manifests: Descriptor[], extra: Record<string, unknown> = {}, mediaType: string = MEDIA.ociIndex) {
  return { schemaVersion: 2, mediaType, manifests, ...extra };
}

/** Serializes a manifest the way clients do: its exact bytes are what gets digested. */
export function manifestBytes(doc: unknown): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(doc));
}

/** PUTs a manifest under `reference` (tag or digest) with its mediaType as Content-Type. */
export function putManifest(repo: string, reference: string, doc: unknown, contentType?: string, query = ""): Promise<Response> {
  const bytes = manifestBytes(doc);
  const type = contentType ?? ((doc as { mediaType?: string }).mediaType || MEDIA.ociManifest);
  return registry(`/v2/${repo}/manifests/${reference}${query}`, { method: "PUT", body: bytes, headers: { "Content-Type": type } });
}

/**
 * Pushes a small image (config + `layerCount` layers, all blobs pushed) and tags it.
 * Returns the manifest, its bytes, its digest and its descriptor.
 */
export async function pushImage(repo: string, tag: string, opts: { layerCount?: number; seed?: number; extra?: Record<string, unknown>; mediaType?: string } = {}) {
  const seed = opts.seed ?? Math.floor(Math.random() * 2 ** 31);
  const docker = opts.mediaType === MEDIA.dockerManifest;
  const configBytes = new TextEncoder().encode(JSON.stringify({ architecture: "amd64", os: "linux", seed }));
  await pushBlob(repo, configBytes);
  const layers: Descriptor[] = [];
  for (let i = 0; i < (opts.layerCount ?? 1); i++) {
    const layer = pseudoRandomBytes(100 + i, seed + i + 1);
    await pushBlob(repo, layer);
    layers.push(await descriptorOf(docker ? MEDIA.dockerLayer : MEDIA.ociLayer, layer));
  }
  const config = await descriptorOf(docker ? MEDIA.dockerConfig : MEDIA.ociConfig, configBytes);
  const manifest = imageManifest(config, layers, opts.extra ?? {}, opts.mediaType ?? MEDIA.ociManifest);
  const bytes = manifestBytes(manifest);
  const digest = await digestOf(bytes);
  const res = await putManifest(repo, tag, manifest);
  expect(res.status, await res.clone().text()).toBe(201);
  expect(res.headers.get("docker-content-digest")).toBe(digest);
  return { manifest, bytes, digest, descriptor: { mediaType: manifest.mediaType, digest, size: bytes.byteLength } as Descriptor };
}

export async function readJson<T = any>(res: Response): Promise<T> {
  expect(res.headers.get("content-type") ?? "").toMatch(/json/);
  return (await res.json()) as T;
}
