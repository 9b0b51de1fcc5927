// The push engine's pure planning (cli/push/plan.ts): part and chunk sizes, what a resumed upload still sends.
import { describe, expect, it } from "vitest";
import {
  backoffMs, chooseChunkSize, choosePartSize, chunkSpans, MAX_PART_SIZE, MiB, nextUrlBatch, parseUploadRange, partCount,
  partSpan, planDirectParts, positiveIntHeader,
} from "../../cli/push/plan";

describe("parts", () => {
  it("cuts a blob into parts of partSize, the last one shorter, and covers every byte once", () => {
    for (const [size, ps] of [[1, 5 * MiB], [5 * MiB, 5 * MiB], [5 * MiB + 1, 5 * MiB], [23 * MiB + 7, 5 * MiB], [64 * MiB, 8 * MiB]]) {
      const n = partCount(size, ps);
      let at = 0;
      for (let p = 1; p <= n; p++) {
        const s = partSpan(p, size, ps);
        expect(s.offset).toBe(at);
        expect(s.length).toBeGreaterThan(0);
        expect(s.length).toBeLessThanOrEqual(ps);
        if (p < n) expect(s.length).toBe(ps);
        at += s.length;
      }
      expect(at).toBe(size);
      expect(() => partSpan(n + 1, size, ps)).toThrow(RangeError);
      expect(() => partSpan(0, size, ps)).toThrow(RangeError);
    }
    expect(partCount(0, 5 * MiB)).toBe(0);
  });

  it("raises the part size to 5 MiB, to the registry's minimum, and to what keeps 10,000 parts", () => {
    expect(choosePartSize(100 * MiB, 1 * MiB, null)).toBe(5 * MiB);
    expect(choosePartSize(100 * MiB, 64 * MiB, null)).toBe(64 * MiB);
    expect(choosePartSize(100 * MiB, 64 * MiB, 80 * MiB)).toBe(80 * MiB);
    const huge = 10_000 * 64 * MiB + 1;
    const ps = choosePartSize(huge, 64 * MiB, null);
    expect(ps % MiB).toBe(0);
    expect(partCount(huge, ps)).toBeLessThanOrEqual(10_000);
    expect(ps).toBe(65 * MiB);
    expect(() => choosePartSize(10_000 * MAX_PART_SIZE + 1, 64 * MiB, null)).toThrow(RangeError);
  });

  it("plans only the parts storage does not hold with the right size", () => {
    const size = 23 * MiB; // parts 5,5,5,5,3 MiB
    const ps = 5 * MiB;
    expect(planDirectParts(size, ps)).toEqual({ partSize: ps, total: 5, done: [], todo: [1, 2, 3, 4, 5] });
    const listed = [
      { partNumber: 1, size: ps },
      { partNumber: 2, size: ps - 1 }, // cut short: send again
      { partNumber: 4, size: ps },
      { partNumber: 5, size: 3 * MiB },
      { partNumber: 9, size: ps }, // not part of this blob
      { partNumber: 0, size: ps },
      { partNumber: 1.5, size: ps },
    ];
    expect(planDirectParts(size, ps, listed)).toEqual({ partSize: ps, total: 5, done: [1, 4, 5], todo: [2, 3] });
    expect(planDirectParts(size, ps, [{ partNumber: 5, size: ps }]).todo).toEqual([1, 2, 3, 4, 5]); // last part too long
    const all = [1, 2, 3, 4].map((n) => ({ partNumber: n, size: ps })).concat({ partNumber: 5, size: 3 * MiB });
    expect(planDirectParts(size, ps, all).todo).toEqual([]);
  });

  it("asks URLs in batches from the part about to be sent, at most 1000", () => {
    const todo = [2, 3, 5, 8, 13];
    expect(nextUrlBatch(todo, 0, 2)).toEqual([2, 3]);
    expect(nextUrlBatch(todo, 3, 16)).toEqual([8, 13]);
    expect(nextUrlBatch(todo, 1, 0)).toEqual([3]);
    const many = Array.from({ length: 5000 }, (_, i) => i + 1);
    expect(nextUrlBatch(many, 10, 5000)).toHaveLength(1000);
  });
});

describe("chunks", () => {
  it("defaults to 64 MiB, never over the maximum, in multiples of the minimum", () => {
    expect(chooseChunkSize(null, null, null)).toBe(64 * MiB);
    expect(chooseChunkSize(null, null, 100_000_000)).toBe(64 * MiB);
    expect(chooseChunkSize(null, null, 50_000_000)).toBe(50_000_000);
    expect(chooseChunkSize(null, 8 * MiB, 100_000_000)).toBe(64 * MiB);
    expect(chooseChunkSize(null, 5 * MiB, 100_000_000)).toBe(60 * MiB);
    expect(chooseChunkSize(null, 16 * MiB, 50_000_000)).toBe(32 * MiB);
    expect(chooseChunkSize(8 * MiB, null, null)).toBe(8 * MiB);
    expect(chooseChunkSize(2 * MiB, 5 * MiB, null)).toBe(5 * MiB); // under the minimum: the minimum
    expect(chooseChunkSize(12 * MiB, 5 * MiB, null)).toBe(10 * MiB);
    expect(chooseChunkSize(200 * MiB, 8 * MiB, 100_000_000)).toBe(88 * MiB);
    expect(chooseChunkSize(null, 200 * MiB, 100 * MiB)).toBe(100 * MiB); // contradictory headers: the hard cap wins
  });

  it("sends from the offset the registry holds, in chunks that cover the rest exactly", () => {
    expect(chunkSpans(20, 0, 8)).toEqual([{ offset: 0, length: 8 }, { offset: 8, length: 8 }, { offset: 16, length: 4 }]);
    expect(chunkSpans(20, 8, 8)).toEqual([{ offset: 8, length: 8 }, { offset: 16, length: 4 }]);
    expect(chunkSpans(20, 20, 8)).toEqual([]);
    expect(chunkSpans(0, 0, 8)).toEqual([]);
    expect(() => chunkSpans(20, 21, 8)).toThrow(RangeError);
  });

  it("reads where an upload stands from its Range header", () => {
    expect(parseUploadRange("0-0")).toBe(0);
    expect(parseUploadRange("0-8388607")).toBe(8 * MiB);
    expect(parseUploadRange("bytes=0-99")).toBe(100);
    expect(parseUploadRange(null)).toBeNull();
    expect(parseUploadRange("5-9")).toBeNull();
    expect(parseUploadRange("0-")).toBeNull();
    expect(parseUploadRange("0-99999999999999999999")).toBeNull();
  });

  it("reads the chunk length headers", () => {
    expect(positiveIntHeader("8388608")).toBe(8388608);
    expect(positiveIntHeader(null)).toBeNull();
    expect(positiveIntHeader("0")).toBeNull();
    expect(positiveIntHeader("-5")).toBeNull();
    expect(positiveIntHeader("5e6")).toBeNull();
  });
});

it("backs off exponentially, with jitter, up to a cap", () => {
  expect(backoffMs(0, 250, 8000, () => 0)).toBe(125);
  expect(backoffMs(0, 250, 8000, () => 1)).toBe(250);
  expect(backoffMs(3, 250, 8000, () => 1)).toBe(2000);
  expect(backoffMs(20, 250, 8000, () => 1)).toBe(8000);
});
