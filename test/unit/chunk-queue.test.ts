import { describe, it, expect } from "vitest";
import { ChunkQueue } from "../../src/streams/chunk-queue";

function seq(start: number, n: number): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (start + i) & 0xff);
}

describe("ChunkQueue", () => {
  it("ignores empty chunks", () => {
    const q = new ChunkQueue();
    q.push(new Uint8Array(0));
    expect(q.size).toBe(0);
    expect(q.takeAll()).toEqual(new Uint8Array(0));
  });

  it("takes a slice of one chunk without copying", () => {
    const q = new ChunkQueue();
    const chunk = seq(0, 10);
    q.push(chunk);
    const part = q.take(4);
    expect(part).toEqual(seq(0, 4));
    expect(part.buffer).toBe(chunk.buffer);
    expect(q.size).toBe(6);
    expect(q.take(6)).toEqual(seq(4, 6));
    expect(q.size).toBe(0);
  });

  it("joins parts that span chunks", () => {
    const q = new ChunkQueue();
    q.push(seq(0, 3));
    q.push(seq(3, 2));
    q.push(seq(5, 7));
    expect(q.take(6)).toEqual(seq(0, 6));
    expect(q.take(6)).toEqual(seq(6, 6));
    expect(q.size).toBe(0);
  });

  it("takes zero bytes", () => {
    const q = new ChunkQueue();
    expect(q.take(0)).toEqual(new Uint8Array(0));
    q.push(seq(0, 2));
    expect(q.take(0)).toEqual(new Uint8Array(0));
    expect(q.size).toBe(2);
  });

  it("refuses to take more than it holds", () => {
    const q = new ChunkQueue();
    q.push(seq(0, 2));
    expect(() => q.take(3)).toThrow(RangeError);
    expect(q.size).toBe(2);
  });

  it("takes exact chunk boundaries", () => {
    const q = new ChunkQueue();
    q.push(seq(0, 4));
    q.push(seq(4, 4));
    expect(q.take(4)).toEqual(seq(0, 4));
    expect(q.take(4)).toEqual(seq(4, 4));
  });

  it("reassembles any stream exactly, whatever the chunk and part sizes (randomized)", () => {
    let state = 12345;
    const rand = (n: number) => {
      state = (state * 1103515245 + 12345) >>> 0;
      return state % n;
    };
    for (let round = 0; round < 200; round++) {
      const total = rand(2000);
      const data = seq(round, total);
      const q = new ChunkQueue();
      const out: number[] = [];
      let pushed = 0;
      const partSize = 1 + rand(300);
      while (pushed < total) {
        const n = Math.min(total - pushed, rand(400)); // includes empty chunks
        q.push(data.subarray(pushed, pushed + n));
        pushed += n;
        while (q.size >= partSize) {
          const part = q.take(partSize);
          expect(part.byteLength).toBe(partSize);
          out.push(...part);
        }
      }
      out.push(...q.takeAll());
      expect(q.size).toBe(0);
      expect(Uint8Array.from(out)).toEqual(data);
    }
  });
});
