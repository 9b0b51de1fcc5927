// readForParts: upload bodies read in large pieces that end on multipart part boundaries.
import { describe, expect, it } from "vitest";
import { FIRST_READ, readForParts } from "../../src/streams/part-reader";

const MiB = 1024 * 1024;

function bytes(n: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + (i >> 11)) & 0xff;
  return b;
}

/** A body as workerd gives a request handler: an internal byte stream (BYOB readable). */
function byteBody(data: Uint8Array): ReadableStream<Uint8Array> {
  return new Request("http://registry.test/", { method: "PUT", body: data }).body!;
}

/** A body that is a plain JS stream of small chunks (not a byte stream). */
function jsBody(data: Uint8Array, chunk = 1000): ReadableStream<Uint8Array> {
  let pos = 0;
  return new ReadableStream<Uint8Array>({
    pull(c) {
      if (pos >= data.byteLength) return c.close();
      c.enqueue(data.slice(pos, pos + chunk));
      pos += chunk;
    },
  });
}

async function collect(body: ReadableStream<Uint8Array>, partSize: number, filled = 0): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  for await (const piece of readForParts(body, partSize, filled)) out.push(piece);
  return out;
}

/** Byte equality without vitest's deep diff (which runs out of memory on megabyte arrays). */
function same(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false;
  return true;
}

function concat(pieces: Uint8Array[]): Uint8Array {
  const all = new Uint8Array(pieces.reduce((a, p) => a + p.byteLength, 0));
  let off = 0;
  for (const p of pieces) {
    all.set(p, off);
    off += p.byteLength;
  }
  return all;
}

describe("readForParts", () => {
  it("reads a byte-stream body in a small first piece, then pieces that end on part boundaries", async () => {
    const partSize = 5 * MiB;
    const data = bytes(3 * partSize + 12345);
    const pieces = await collect(byteBody(data), partSize);
    expect(same(concat(pieces), data)).toBe(true);
    expect(pieces[0].byteLength).toBe(FIRST_READ);
    let end = 0;
    for (const p of pieces.slice(0, -1)) {
      end += p.byteLength;
      if (p !== pieces[0]) expect(end % partSize).toBe(0);
    }
    expect(pieces.length).toBe(5); // 1 MiB, 4 MiB, 5 MiB, 5 MiB, 12345 bytes
    expect(pieces.at(-1)!.byteLength).toBe(12345);
    expect(pieces.at(-1)!.buffer.byteLength).toBe(12345); // the short tail does not pin a part-sized buffer
  });

  it("tops up a part the caller already holds bytes of", async () => {
    const partSize = 5 * MiB;
    const filled = partSize - 100;
    const data = bytes(100 + partSize + 7);
    const pieces = await collect(byteBody(data), partSize, filled);
    expect(same(concat(pieces), data)).toBe(true);
    expect(pieces.map((p) => p.byteLength)).toEqual([100, partSize, 7]);
  });

  it("reads a small body in one small piece", async () => {
    const data = bytes(1234);
    const pieces = await collect(byteBody(data), 8 * MiB);
    expect(pieces.map((p) => p.byteLength)).toEqual([1234]);
    expect(same(concat(pieces), data)).toBe(true);
  });

  it("reads an empty body as nothing", async () => {
    expect(await collect(byteBody(new Uint8Array(0)), 8 * MiB)).toEqual([]);
  });

  it("falls back to the default reader for a body that is not a byte stream", async () => {
    const data = bytes(10_500);
    const pieces = await collect(jsBody(data), 8 * MiB);
    expect(same(concat(pieces), data)).toBe(true);
    expect(pieces.length).toBe(11);
  });
});
