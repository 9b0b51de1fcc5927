// The direct-to-bucket path of `skiff push` (presigned part URLs, docs/skiff-push.md) against a FAKE registry.
// Why a fake: the Worker side of the extension is being built at the same time and cannot run yet; the lead runs the
// real thing (Skiff on the S3 backend) once both are merged. This fake implements the contract of
// /work/prompts/protocol.md in memory (sessions, POST/GET L/parts, part PUTs to "presigned" URLs, the final PUT that
// checks contiguity and the digest) plus faults to inject, so it can only check the client's side of the contract:
// part sizes and order, parts in flight, URL batches and renewals, retries, resume from the listed parts, hashing.
import { createHash, randomUUID } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { readFile, readdir } from "node:fs/promises";
import path from "node:path";
import { Readable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { main } from "../../cli/main";
import { makeOciLayout, type OciImage } from "../support/oci-layout";
import { removeDir, tempDir } from "../support/proc";
import { layoutSource } from "./layout-source";

const MiB = 1024 * 1024;

interface FakeSession {
  repo: string;
  partSize: number | null;
  parts: Map<number, Buffer>;
}

class FakeRegistry {
  server!: http.Server;
  origin = "";
  blobs = new Map<string, Buffer>();
  manifests = new Map<string, Buffer>();
  sessions = new Map<string, FakeSession>();
  /** Per session: part PUTs being received now, and the most at once. */
  inFlight = new Map<string, number>();
  maxInFlight = new Map<string, number>();
  /** [session id, part numbers] of every POST L/parts. */
  urlBatches: [string, number[]][] = [];
  /** [session id, part number] of every part stored. */
  partPuts: [string, number][] = [];
  /** Faults: answers to give to the next PUT of a part number (consumed one by one). */
  partFaults = new Map<number, number[]>();
  /** URL signatures that answer 403 (an expired URL). */
  expired = new Set<string>();
  expireFirstUrlOf = new Set<number>();

  async start(): Promise<void> {
    this.server = http.createServer((req, res) => void this.handle(req, res).catch((err) => {
      res.statusCode = 500;
      res.end(String(err));
    }));
    await new Promise<void>((r) => this.server.listen(0, "127.0.0.1", r));
    this.origin = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  stop(): Promise<void> {
    return new Promise((r) => this.server.close(() => r()));
  }

  private async body(req: http.IncomingMessage): Promise<Buffer> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    return Buffer.concat(chunks);
  }

  private json(res: http.ServerResponse, status: number, body: unknown): void {
    res.writeHead(status, { "Content-Type": "application/json" });
    res.end(JSON.stringify(body));
  }

  private error(res: http.ServerResponse, status: number, code: string, message: string): void {
    this.json(res, status, { errors: [{ code, message }] });
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url!, this.origin);
    const p = url.pathname;
    let m: RegExpExecArray | null;
    if ((m = /^\/s3\/([^/]+)\/(\d+)$/.exec(p)) && req.method === "PUT") {
      const n = Number(m[2]);
      const now = (this.inFlight.get(m[1]) ?? 0) + 1;
      this.inFlight.set(m[1], now);
      this.maxInFlight.set(m[1], Math.max(this.maxInFlight.get(m[1]) ?? 0, now));
      try {
        const bytes = await this.body(req);
        await new Promise((r) => setTimeout(r, 30)); // a part takes a moment, so parts overlap
        if (this.expired.has(url.searchParams.get("sig")!)) return void res.writeHead(403).end("<Error><Code>AccessDenied</Code></Error>");
        const fault = this.partFaults.get(n)?.shift();
        if (fault) return void res.writeHead(fault).end(`<Error><Code>Fault${fault}</Code></Error>`);
        if (req.headers.authorization) return void res.writeHead(400).end("<Error><Code>NoAuthHere</Code></Error>");
        if (Number(req.headers["content-length"]) !== bytes.byteLength) return void res.writeHead(400).end();
        this.sessions.get(m[1])!.parts.set(n, bytes);
        this.partPuts.push([m[1], n]);
        res.writeHead(200, { ETag: `"${n}"` }).end();
      } finally {
        this.inFlight.set(m[1], this.inFlight.get(m[1])! - 1);
      }
      return;
    }
    if ((m = /^\/v2\/(.+)\/blobs\/(sha256:[a-f0-9]{64})$/.exec(p)) && req.method === "HEAD") {
      const b = this.blobs.get(m[2]);
      res.writeHead(b ? 200 : 404, b ? { "Content-Length": String(b.byteLength) } : {}).end();
      return;
    }
    if ((m = /^\/v2\/(.+)\/blobs\/uploads\/$/.exec(p)) && req.method === "POST") {
      const id = randomUUID();
      this.sessions.set(id, { repo: m[1], partSize: null, parts: new Map() });
      res.writeHead(202, { Location: `/v2/${m[1]}/blobs/uploads/${id}`, "OCI-Chunk-Min-Length": String(5 * MiB), "OCI-Chunk-Max-Length": "100000000", "Skiff-Direct-Upload": "v1" }).end();
      return;
    }
    if ((m = /^\/v2\/(.+)\/blobs\/uploads\/([^/]+)(\/parts)?$/.exec(p))) {
      const s = this.sessions.get(m[2]);
      if (!s) return this.error(res, 404, "BLOB_UPLOAD_UNKNOWN", "no such upload");
      if (m[3] && req.method === "POST") {
        const body = JSON.parse((await this.body(req)).toString()) as { partSize?: number; parts: number[] };
        if (s.partSize === null) {
          if (!body.partSize || body.partSize < 5 * MiB) return this.error(res, 400, "BLOB_UPLOAD_INVALID", "partSize");
          s.partSize = body.partSize;
        } else if (body.partSize !== undefined && body.partSize !== s.partSize) return this.error(res, 400, "BLOB_UPLOAD_INVALID", "partSize differs");
        if (!Array.isArray(body.parts) || body.parts.length < 1 || body.parts.length > 1000) return this.error(res, 400, "BLOB_UPLOAD_INVALID", "parts");
        this.urlBatches.push([m[2], body.parts]);
        const parts = body.parts.map((n) => {
          const sig = randomUUID();
          if (this.expireFirstUrlOf.delete(n)) this.expired.add(sig);
          return { partNumber: n, url: `${this.origin}/s3/${m![2]}/${n}?sig=${sig}` };
        });
        return this.json(res, 200, { partSize: s.partSize, expiresAt: new Date(Date.now() + 15 * 60_000).toISOString(), parts });
      }
      if (m[3] && req.method === "GET") {
        const parts = [...s.parts].sort((a, b) => a[0] - b[0]).map(([n, b]) => ({ partNumber: n, size: b.byteLength, etag: `"${n}"` }));
        return this.json(res, 200, { partSize: s.partSize, parts });
      }
      if (!m[3] && req.method === "PUT") {
        const body = await this.body(req);
        const digest = url.searchParams.get("digest")!;
        // A whole blob in the PUT (what the CLI does with tiny blobs) on a session that got no part.
        if (body.byteLength > 0 && s.parts.size === 0) s.parts.set(1, body);
        const numbers = [...s.parts.keys()].sort((a, b) => a - b);
        if (numbers.some((n, i) => n !== i + 1)) return this.error(res, 400, "BLOB_UPLOAD_INVALID", "parts not contiguous");
        if (numbers.slice(0, -1).some((n) => s.parts.get(n)!.byteLength !== s.partSize)) return this.error(res, 400, "BLOB_UPLOAD_INVALID", "part size");
        const all = Buffer.concat(numbers.map((n) => s.parts.get(n)!));
        this.sessions.delete(m[2]);
        if (`sha256:${createHash("sha256").update(all).digest("hex")}` !== digest) return this.error(res, 400, "DIGEST_INVALID", "digest mismatch");
        this.blobs.set(digest, all);
        res.writeHead(201, { "Docker-Content-Digest": digest }).end();
        return;
      }
    }
    if ((m = /^\/v2\/(.+)\/manifests\/([^/]+)$/.exec(p)) && req.method === "PUT") {
      const bytes = await this.body(req);
      const digest = `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
      this.manifests.set(`${m[1]}:${m[2]}`, bytes);
      res.writeHead(201, { "Docker-Content-Digest": digest }).end();
      return;
    }
    this.error(res, 404, "UNSUPPORTED", `${req.method} ${p}`);
  }
}

function collector() {
  let text = "";
  return { stream: { write: (s: string) => ((text += s), true), isTTY: false } as unknown as NodeJS.WriteStream, text: () => text };
}

describe("direct uploads (fake registry, see the top of the file)", () => {
  let fake: FakeRegistry;
  let work: string;
  let image: OciImage;
  const host = () => fake.origin.replace("http://", "");

  beforeAll(async () => {
    work = await tempDir("cli-direct");
    fake = new FakeRegistry();
    await fake.start();
    image = await makeOciLayout(path.join(work, "layout"), { layerSizes: [23 * MiB, 2 * MiB] });
  });
  afterAll(async () => {
    await fake?.stop();
    if (work) await removeDir(work);
  });

  async function push(repo: string, extra: string[], opts: { sequential?: boolean; unknownDigests?: boolean; stateDir?: string; stdin?: string } = {}) {
    const out = collector();
    const err = collector();
    const source = await layoutSource(image.dir, opts);
    const code = await main(
      ["push", "--insecure", "--json", "--state-dir", path.join(work, opts.stateDir ?? repo.replace(/\W/g, "-")), ...extra, "test-layout", `${host()}/${repo}:v1`],
      {
        openSource: async () => source,
        stdout: out.stream as unknown as NodeJS.WritableStream,
        stderr: err.stream,
        ...(opts.stdin !== undefined ? { stdin: Readable.from([opts.stdin]) } : {}),
      },
    );
    const last = out.text().trim().split("\n").pop()!;
    return { code, json: JSON.parse(last), stderr: err.text(), source };
  }

  it("sends parts to their URLs, --parts at once, renews an expired URL, retries a 5xx, and completes with the digest", async () => {
    fake.urlBatches = [];
    fake.partFaults.set(2, [503]);
    fake.expireFirstUrlOf.add(3);
    const r = await push("direct/app", ["--part-size", "5", "--parts", "2"]);
    expect(r.code, r.stderr).toBe(0);
    const layer = image.layers[0];
    expect(r.json.blobs.find((b: any) => b.digest === layer.digest)).toMatchObject({ how: "direct", bytesSent: layer.size });
    expect(fake.blobs.get(layer.digest)?.byteLength).toBe(layer.size);
    // The big layer's first batch asks URLs for the parts ahead; part 3's was asked again after its 403.
    const big = fake.urlBatches.find(([, parts]) => parts.length === 5)!;
    expect(big[1]).toEqual([1, 2, 3, 4, 5]);
    expect(fake.urlBatches.filter(([id]) => id === big[0]).map(([, parts]) => parts)).toEqual([[1, 2, 3, 4, 5], [3, 4, 5]]);
    expect(fake.maxInFlight.get(big[0])).toBe(2);
    expect(fake.manifests.get(`direct/app:v1`)).toBeDefined();
    // The 2 MiB layer goes direct too (one part); the config is tiny: one PUT.
    expect(r.json.blobs.map((b: any) => b.how)).toEqual(["direct", "direct", "monolithic"]);
  });

  it("hashes a sequential source in byte order while parts are in flight", async () => {
    const r = await push("direct/seq", ["--part-size", "5", "--parts", "3"], { sequential: true, unknownDigests: true });
    expect(r.code, r.stderr).toBe(0);
    expect(r.json.blobs.map((b: any) => b.digest)).toEqual(image.blobs.map((b) => b.digest));
    expect([...r.source.learned.values()].sort()).toEqual(image.blobs.map((b) => b.digest).sort());
  });

  for (const mode of ["random access, digests known", "sequential, digests unknown"]) {
    it(`resumes from the parts storage lists (${mode}): a failed push leaves them, the next sends only the missing ones`, async () => {
      const seq = mode.startsWith("seq");
      const opts = { sequential: seq, unknownDigests: seq, stateDir: `resume-${seq}` };
      const repo = `direct/resume-${seq ? "seq" : "random"}`;
      const layer = image.layers[0];
      const data = new Map(fake.blobs);
      fake.blobs.clear(); // as if nothing had been pushed: both layers really upload
      fake.partFaults.set(4, [400]); // a refusal no retry helps: the push fails
      const password = "pw-marker-7f3a";
      const first = await push(repo, ["--part-size", "5", "--parts", "1", "--jobs", "1", "--username", "tester", "--password-stdin"], { ...opts, stdin: `${password}\n` });
      expect(first.code).toBe(1);
      expect(first.stderr).toMatch(/part 4 .*Fault400 \(HTTP 400\)/);
      expect(first.stderr).not.toContain("sig="); // never a presigned URL's signature in a message
      // The resume state names the session, but holds neither a presigned URL nor the password.
      const stateDir = path.join(work, opts.stateDir);
      const files = (await readdir(stateDir, { recursive: true })).map(String);
      const state = (await Promise.all(files.map((f) => readFile(path.join(stateDir, f), "utf8").catch(() => "")))).join("\n");
      expect(state).toContain("/blobs/uploads/");
      expect(state).not.toContain("sig=");
      expect(state).not.toContain("/s3/");
      expect(state).not.toContain(password);
      fake.partPuts = [];
      const second = await push(repo, ["--part-size", "5", "--parts", "2"], opts);
      expect(second.code, second.stderr).toBe(0);
      const big = second.json.blobs.find((b: any) => b.digest === layer.digest);
      expect(big.how).toBe("direct");
      expect(big.bytesSent).toBe(layer.size - 3 * 5 * MiB); // parts 1-3 were there
      const session = fake.partPuts.find(([, n]) => n === 5)![0];
      expect(fake.partPuts.filter(([id]) => id === session).map(([, n]) => n).sort()).toEqual([4, 5]); // not 1..3 again
      expect(fake.blobs.get(layer.digest)?.equals(data.get(layer.digest)!)).toBe(true);
    });
  }
});
