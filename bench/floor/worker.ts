// A bench-only Worker that measures the floor under Skiff on the same local stack (wrangler dev + R2 simulator):
// what receiving a body, hashing it natively, and storing it in R2 cost by themselves, with no registry logic.
//   PUT /discard        read the body in JS and drop it
//   PUT /hash           SHA-256 the body with crypto.DigestStream, fed chunk by chunk from JS
//   PUT /hash-pipe      SHA-256 the body with body.pipeTo(DigestStream) (no JS per chunk)
//   PUT /put/<key>      one R2 put of the body (Content-Length known)
//   PUT /put-sha/<key>  one R2 put of the body with {sha256: ?sha256=}: the store verifies the digest
//   PUT /tee/<key>      body.tee(): one branch to R2 put (FixedLengthStream), the other piped to DigestStream
//   PUT /discard-byob   read the body with a BYOB reader, readAtLeast(1 MiB) per read
//   PUT /hash-byob      the same, each read written to a DigestStream
//   PUT /parts-byob/<key>  multipart upload, body read by BYOB straight into each part's buffer, hashed on the way
//   GET /get/<key>      stream an object back (the pull floor)
//   PUT /parts/<key>    R2 multipart upload in parts of ?part= bytes (default 8 MiB), body read as Skiff reads it
import { readForParts } from "../../src/streams/part-reader";

function concat(pieces: Uint8Array[], n: number): Uint8Array {
  const out = new Uint8Array(n);
  let off = 0;
  for (const p of pieces) {
    out.set(p, off);
    off += p.byteLength;
  }
  return out;
}

interface Env {
  BUCKET: R2Bucket;
}

let chunks = 0; // reads done by the last drain(), reported to show how finely workerd delivers a body

async function drain(body: ReadableStream<Uint8Array>, onChunk: (c: Uint8Array) => unknown): Promise<number> {
  const reader = body.getReader();
  let n = 0;
  chunks = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return n;
    n += value.byteLength;
    chunks++;
    await onChunk(value);
  }
}

/** Reads the body in reads of at least `min` bytes (workerd's readAtLeast) into `buf`, calling onChunk per read. */
async function drainByob(body: ReadableStream<Uint8Array>, min: number, onChunk: (c: Uint8Array) => unknown): Promise<number> {
  const reader = body.getReader({ mode: "byob" }) as ReadableStreamBYOBReader & {
    readAtLeast(min: number, view: Uint8Array): Promise<ReadableStreamReadResult<Uint8Array>>;
  };
  let n = 0;
  chunks = 0;
  for (;;) {
    const { done, value } = await reader.readAtLeast(min, new Uint8Array(min)); // a fresh buffer per read, as Skiff does
    if (value && value.byteLength) {
      n += value.byteLength;
      chunks++;
      await onChunk(value);
    }
    if (done) return n;
  }
}

const hex = (b: ArrayBuffer) => [...new Uint8Array(b)].map((x) => x.toString(16).padStart(2, "0")).join("");

export default {
  async fetch(request: Request, env: Env): Promise<Response> {
    const url = new URL(request.url);
    const body = request.body;
    if (request.method === "GET" && url.pathname.startsWith("/get/")) {
      const o = await env.BUCKET.get(url.pathname.slice(5));
      return o ? new Response(o.body, { headers: { "Content-Length": String(o.size) } }) : new Response("no such object\n", { status: 404 });
    }
    if (request.method === "GET") return new Response("ok\n"); // readiness probe
    if (request.method !== "PUT" || !body) return new Response("PUT a body\n", { status: 400 });
    if (url.pathname === "/discard") {
      return Response.json({ bytes: await drain(body, () => {}), chunks });
    }
    if (url.pathname === "/discard-byob") {
      return Response.json({ bytes: await drainByob(body, 1 << 20, () => {}), chunks });
    }
    if (url.pathname === "/hash-byob") {
      const ds = new crypto.DigestStream("SHA-256");
      const w = ds.getWriter();
      const bytes = await drainByob(body, 1 << 20, (c) => w.write(c));
      await w.close();
      return Response.json({ bytes, chunks, sha256: hex(await ds.digest) });
    }
    if (url.pathname.startsWith("/parts-byob/")) {
      const partSize = Number(url.searchParams.get("part") ?? 8 << 20);
      const key = url.pathname.slice(12);
      const mp = await env.BUCKET.createMultipartUpload(key);
      const ds = new crypto.DigestStream("SHA-256");
      const w = ds.getWriter();
      const reader = body.getReader({ mode: "byob" }) as ReadableStreamBYOBReader & {
        readAtLeast(min: number, view: Uint8Array): Promise<ReadableStreamReadResult<Uint8Array>>;
      };
      const parts: R2UploadedPart[] = [];
      let bytes = 0;
      chunks = 0;
      for (let done = false; !done; ) {
        // Fill one part buffer straight from the socket; the last read may come up short at end of body.
        let buf = new Uint8Array(partSize);
        let fill = 0;
        while (fill < partSize) {
          const r = await reader.readAtLeast(partSize - fill, buf.subarray(fill));
          chunks++;
          if (r.value) {
            buf = new Uint8Array(r.value.buffer);
            fill += r.value.byteLength;
          }
          if (r.done) {
            done = true;
            break;
          }
        }
        if (fill === 0 && parts.length > 0) break;
        const part = buf.subarray(0, fill);
        await w.write(part);
        bytes += fill;
        parts.push(await mp.uploadPart(parts.length + 1, part));
      }
      await w.close();
      await mp.complete(parts);
      return Response.json({ bytes, chunks, parts: parts.length, sha256: hex(await ds.digest) });
    }
    if (url.pathname === "/hash-pipe") {
      const ds = new crypto.DigestStream("SHA-256");
      await body.pipeTo(ds);
      return Response.json({ sha256: hex(await ds.digest) });
    }
    if (url.pathname.startsWith("/put-sha/")) {
      const o = await env.BUCKET.put(url.pathname.slice(9), body, { sha256: url.searchParams.get("sha256")! });
      return Response.json({ bytes: o?.size });
    }
    if (url.pathname.startsWith("/tee/")) {
      const length = Number(request.headers.get("content-length"));
      const [a, b] = body.tee();
      const fixed = new FixedLengthStream(length);
      const ds = new crypto.DigestStream("SHA-256");
      const [o, , digest] = await Promise.all([env.BUCKET.put(url.pathname.slice(5), fixed.readable), a.pipeTo(fixed.writable), b.pipeTo(ds).then(() => ds.digest)]);
      return Response.json({ bytes: o?.size, sha256: hex(digest) });
    }
    if (url.pathname === "/hash") {
      const ds = new crypto.DigestStream("SHA-256");
      const w = ds.getWriter();
      const bytes = await drain(body, (c) => w.write(c));
      await w.close();
      return Response.json({ bytes, chunks, sha256: hex(await ds.digest) });
    }
    if (url.pathname.startsWith("/put/")) {
      const o = await env.BUCKET.put(url.pathname.slice(5), body);
      return Response.json({ bytes: o?.size });
    }
    if (url.pathname.startsWith("/parts/")) {
      // Multipart upload with the body read exactly as Skiff reads it (src/streams/part-reader.ts), one part in flight
      // while the next is read, but no hashing and no registry bookkeeping.
      const partSize = Number(url.searchParams.get("part") ?? 8 << 20);
      const key = url.pathname.slice(7);
      const mp = await env.BUCKET.createMultipartUpload(key);
      const parts: Promise<R2UploadedPart>[] = [];
      let pending: Uint8Array[] = [];
      let fill = 0;
      let bytes = 0;
      const flush = async () => {
        const part = pending.length === 1 ? pending[0] : concat(pending, fill);
        if (parts.length) await parts[parts.length - 1];
        parts.push(mp.uploadPart(parts.length + 1, part));
        pending = [];
        fill = 0;
      };
      for await (const piece of readForParts(body, partSize)) {
        pending.push(piece);
        fill += piece.byteLength;
        bytes += piece.byteLength;
        if (fill === partSize) await flush();
      }
      if (fill > 0 || parts.length === 0) await flush();
      await mp.complete(await Promise.all(parts));
      return Response.json({ bytes, parts: parts.length });
    }
    return new Response("unknown\n", { status: 404 });
  },
};
