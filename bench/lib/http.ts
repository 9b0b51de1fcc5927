// Raw registry HTTP from Node: blob uploads the way containerd (one monolithic PUT ?digest=) and chunking clients
// (PATCH with Content-Range) send them, plus small helpers to seed an image for the request-rate tests.
import { createHash, randomBytes, randomFillSync } from "node:crypto";
import { once } from "node:events";
import http from "node:http";
import https from "node:https";

// Keep-alive agents; certificates are not checked (both registries are on loopback with self-signed ones).
const agents = {
  "http:": new http.Agent({ keepAlive: true, maxSockets: 64 }),
  "https:": new https.Agent({ keepAlive: true, maxSockets: 64, rejectUnauthorized: false }),
};
export function agentFor(url: string | URL): { lib: typeof http | typeof https; agent: http.Agent } {
  const https_ = new URL(url).protocol === "https:";
  return { lib: https_ ? https : http, agent: https_ ? agents["https:"] : agents["http:"] };
}

const POOL = (() => {
  const b = Buffer.allocUnsafe(8 << 20);
  randomFillSync(b);
  return b;
})();
const SLICE = 1 << 20;

/** A blob of `size` random bytes: an 8 MiB random pool repeated, its first 32 bytes unique to this blob. */
export class SyntheticBlob {
  readonly nonce = randomBytes(32);
  private digestCache?: string;
  constructor(readonly size: number) {}

  *chunks(from = 0, to = this.size): Generator<Buffer> {
    for (let pos = from; pos < to; ) {
      const inPool = pos % POOL.byteLength;
      const n = Math.min(SLICE - (inPool % SLICE), to - pos, POOL.byteLength - inPool);
      let chunk = POOL.subarray(inPool, inPool + n);
      if (pos < this.nonce.byteLength) {
        chunk = Buffer.from(chunk);
        this.nonce.copy(chunk, 0, pos, Math.min(this.nonce.byteLength, pos + n));
      }
      yield chunk;
      pos += n;
    }
  }

  digest(): string {
    if (!this.digestCache) {
      const h = createHash("sha256");
      for (const c of this.chunks()) h.update(c);
      this.digestCache = `sha256:${h.digest("hex")}`;
    }
    return this.digestCache;
  }
}

export interface HttpResult {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** One request; `body` is sent with backpressure and an exact Content-Length unless `chunked`. */
export async function request(
  method: string,
  url: string,
  opts: { headers?: Record<string, string>; body?: Iterable<Buffer> | Buffer | string; length?: number; timeoutMs?: number } = {},
): Promise<HttpResult> {
  try {
    return await requestOnce(method, url, opts);
  } catch (err) {
    // A kept-alive connection the server closed as the request went out (wrangler's dev proxy does that after a few
    // idle seconds): sent again once on a new connection, when the body can be sent again.
    const e = err as NodeJS.ErrnoException & { reusedSocket?: boolean };
    const replayable = opts.body === undefined || typeof opts.body === "string" || Buffer.isBuffer(opts.body);
    if (e.reusedSocket && e.code === "ECONNRESET" && replayable) return requestOnce(method, url, opts);
    throw err;
  }
}

function requestOnce(
  method: string,
  url: string,
  opts: { headers?: Record<string, string>; body?: Iterable<Buffer> | Buffer | string; length?: number; timeoutMs?: number },
): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { ...opts.headers };
    const body = opts.body;
    if (typeof body === "string" || Buffer.isBuffer(body)) headers["Content-Length"] = String(Buffer.byteLength(body));
    else if (opts.length !== undefined) headers["Content-Length"] = String(opts.length);
    else if (body === undefined && method !== "GET" && method !== "HEAD") headers["Content-Length"] = "0";
    const { lib, agent } = agentFor(url);
    const req = lib.request(url, { method, headers, agent }, (res) => {
      const parts: Buffer[] = [];
      res.on("data", (d: Buffer) => parts.push(d));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts) }));
      res.on("error", reject);
    });
    // A Worker restarted by wrangler mid-upload can stop reading without answering: give up after a minute of silence.
    const timeoutMs = opts.timeoutMs ?? 60_000;
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`${method} ${url}: no progress for ${timeoutMs / 1000} s`)));
    req.on("error", (err) => reject(Object.assign(err, { reusedSocket: req.reusedSocket })));
    (async () => {
      if (typeof body === "string" || Buffer.isBuffer(body)) req.end(body);
      else if (body === undefined) req.end();
      else {
        for (const chunk of body) if (!req.write(chunk)) await once(req, "drain");
        req.end();
      }
    })().catch(reject);
  });
}

function expect(r: HttpResult, status: number, what: string): HttpResult {
  if (r.status !== status) throw new Error(`${what}: expected ${status}, got ${r.status}: ${r.body.toString().slice(0, 300)}`);
  return r;
}

function absolute(base: string, location: string | string[] | undefined): URL {
  if (typeof location !== "string") throw new Error("upload response has no Location");
  return new URL(location, base);
}

async function startUpload(base: string, repo: string): Promise<URL> {
  const r = expect(await request("POST", `${base}/v2/${repo}/blobs/uploads/`), 202, "POST upload");
  return absolute(base, r.headers.location);
}

/** containerd-style: POST, then one PUT ?digest= carrying the whole blob with Content-Length. */
export async function pushMonolithic(base: string, repo: string, blob: SyntheticBlob): Promise<void> {
  const digest = blob.digest();
  const loc = await startUpload(base, repo);
  loc.searchParams.set("digest", digest);
  expect(await request("PUT", loc.href, { body: blob.chunks(), length: blob.size, headers: { "Content-Type": "application/octet-stream" } }), 201, "PUT blob");
}

/**
 * Chunked: POST, PATCH chunks of `chunkSize` with Content-Range, then PUT ?digest= with an empty body. Returns the
 * final PUT's own time (where a registry verifies the digest of what it stored).
 */
export async function pushChunked(base: string, repo: string, blob: SyntheticBlob, chunkSize: number): Promise<{ finalPutMs: number }> {
  const hash = createHash("sha256");
  let loc = await startUpload(base, repo);
  for (let start = 0; start < blob.size; start += chunkSize) {
    const end = Math.min(blob.size, start + chunkSize);
    const chunks = [...blob.chunks(start, end)];
    for (const c of chunks) hash.update(c);
    const r = expect(
      await request("PATCH", loc.href, {
        body: chunks,
        length: end - start,
        headers: { "Content-Type": "application/octet-stream", "Content-Range": `${start}-${end - 1}` },
      }),
      202,
      `PATCH ${start}-${end - 1}`,
    );
    loc = absolute(base, r.headers.location);
  }
  loc.searchParams.set("digest", `sha256:${hash.digest("hex")}`);
  const t0 = performance.now();
  // The final PUT is silent while the registry verifies what it stored (a read-back of the whole blob, for some):
  // give it 15 minutes, so a slow one is measured rather than cut off.
  expect(await request("PUT", loc.href, { timeoutMs: 900_000 }), 201, "PUT ?digest");
  return { finalPutMs: performance.now() - t0 };
}

/** Fetches a blob, discarding the bytes; returns the byte count. */
export function pullBlob(base: string, repo: string, digest: string): Promise<number> {
  return getDiscarding(`${base}/v2/${repo}/blobs/${digest}`);
}

/** GETs `url` (following no redirects), discarding the body; returns the byte count. */
export async function getDiscarding(url: string): Promise<number> {
  const { lib, agent } = agentFor(url);
  return new Promise((resolve, reject) => {
    const req = lib
      .get(url, { agent }, (res) => {
        if (res.statusCode !== 200) return reject(new Error(`GET ${url}: ${res.statusCode}`));
        let n = 0;
        res.on("data", (d: Buffer) => (n += d.byteLength));
        res.on("end", () => resolve(n));
        res.on("error", reject);
      })
      .on("error", reject);
    req.setTimeout(60_000, () => req.destroy(new Error(`GET ${url}: no progress for 60 s`)));
  });
}

/**
 * Blob GET as a pulling client does it: the registry's answer, then, if it redirects, the Location followed (a
 * presigned storage URL). Returns the bytes received and whether it was redirected.
 */
export async function getBlobFollowing(base: string, repo: string, digest: string): Promise<{ bytes: number; redirected: boolean }> {
  const r = await request("GET", `${base}/v2/${repo}/blobs/${digest}`);
  if (r.status === 200) return { bytes: r.body.byteLength, redirected: false };
  if (r.status !== 307 && r.status !== 302) throw new Error(`GET blob ${digest}: ${r.status}`);
  return { bytes: await getDiscarding(absolute(base, r.headers.location).href), redirected: true };
}

export async function deleteBlob(base: string, repo: string, digest: string): Promise<number> {
  return (await request("DELETE", `${base}/v2/${repo}/blobs/${digest}`)).status;
}

/** Pushes a tiny image (config + one small layer + manifest) and returns what the request tests need. */
export async function seedImage(base: string, repo: string, tag: string): Promise<{ manifestDigest: string; layerDigest: string; manifestMediaType: string }> {
  const layer = new SyntheticBlob(4096);
  await pushMonolithic(base, repo, layer);
  const configBytes = Buffer.from(JSON.stringify({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [layer.digest()] } }));
  const configDigest = `sha256:${createHash("sha256").update(configBytes).digest("hex")}`;
  const loc = await startUpload(base, repo);
  loc.searchParams.set("digest", configDigest);
  expect(await request("PUT", loc.href, { body: configBytes }), 201, "PUT config");
  const mediaType = "application/vnd.oci.image.manifest.v1+json";
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType,
    config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: configDigest, size: configBytes.byteLength },
    layers: [{ mediaType: "application/vnd.oci.image.layer.v1.tar", digest: layer.digest(), size: layer.size }],
  });
  const r = expect(await request("PUT", `${base}/v2/${repo}/manifests/${tag}`, { body: manifest, headers: { "Content-Type": mediaType } }), 201, "PUT manifest");
  return { manifestDigest: String(r.headers["docker-content-digest"]), layerDigest: layer.digest(), manifestMediaType: mediaType };
}
