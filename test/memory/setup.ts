// Setup of the api-memory project: the API suite in Node, with a MemoryStore behind the real composition root.
// Two stand-ins, both for parts that exist only in workerd:
//  - createStorage returns one MemoryStore per test file (the worker and the test share it, as they share a bucket
//    inside workerd);
//  - crypto.DigestStream and ReadableStreamBYOBReader.readAtLeast (workerd extensions) are provided on node:crypto's
//    hashes and on the standard BYOB read.
import { createHash } from "node:crypto";
import { vi } from "vitest";

vi.mock("../../src/storage/index.ts", async () => {
  const { MemoryStore } = await import("../../src/storage/memory");
  const storage = { store: new MemoryStore(), presigner: null };
  return { createStorage: () => storage };
});

const NODE_HASH: Record<string, string> = { "SHA-256": "sha256", "SHA-384": "sha384", "SHA-512": "sha512", "SHA-1": "sha1", MD5: "md5" };

class DigestStream extends WritableStream<ArrayBuffer | ArrayBufferView> {
  readonly digest: Promise<ArrayBuffer>;
  constructor(algorithm: string | { name: string }) {
    const name = NODE_HASH[(typeof algorithm === "string" ? algorithm : algorithm.name).toUpperCase()];
    if (!name) throw new TypeError(`DigestStream: unsupported algorithm`);
    const hash = createHash(name);
    let settle!: { resolve: (b: ArrayBuffer) => void; reject: (e: unknown) => void };
    const digest = new Promise<ArrayBuffer>((resolve, reject) => (settle = { resolve, reject }));
    super({
      write(chunk) {
        hash.update(chunk instanceof ArrayBuffer ? new Uint8Array(chunk) : new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
      },
      close() {
        const out = hash.digest();
        settle.resolve(out.buffer.slice(out.byteOffset, out.byteOffset + out.byteLength) as ArrayBuffer);
      },
      abort(reason) {
        settle.reject(reason);
      },
    });
    this.digest = digest;
  }
}

if (!("DigestStream" in crypto)) Object.defineProperty(crypto, "DigestStream", { value: DigestStream });

/** workerd's readAtLeast: fills `view` with at least `min` bytes, fewer only at the end of the stream. */
async function readAtLeast(this: ReadableStreamBYOBReader, min: number, view: Uint8Array): Promise<ReadableStreamReadResult<Uint8Array>> {
  // Each read transfers the buffer and detaches the views on it: keep where ours starts and how long it is.
  const { byteOffset, byteLength } = view;
  let buffer = view.buffer as ArrayBuffer;
  let filled = 0;
  let ended = false;
  while (filled < min && !ended) {
    const { done, value } = await this.read(new Uint8Array(buffer, byteOffset + filled, byteLength - filled));
    if (value) {
      buffer = value.buffer as ArrayBuffer; // the read transferred it
      filled += value.byteLength;
    }
    ended = done;
  }
  const value = new Uint8Array(buffer, byteOffset, filled);
  return (ended && filled === 0 ? { done: true, value } : { done: false, value }) as ReadableStreamReadResult<Uint8Array>;
}

const byobProto = ReadableStreamBYOBReader.prototype as unknown as Record<string, unknown>;
if (!("readAtLeast" in byobProto)) Object.defineProperty(byobProto, "readAtLeast", { value: readAtLeast });
