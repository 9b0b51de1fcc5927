import { describe, it, expect } from "vitest";
import { parseRangeHeader, contentRangeHeader, parseUploadContentRange, uploadRangeHeader } from "../../src/protocol/ranges";

describe("parseRangeHeader (blob GET)", () => {
  const size = 11;
  it.each([
    ["a closed range", "bytes=2-4", { offset: 2, length: 3 }],
    ["the first byte", "bytes=0-0", { offset: 0, length: 1 }],
    ["the last byte", "bytes=10-10", { offset: 10, length: 1 }],
    ["the whole blob", "bytes=0-10", { offset: 0, length: 11 }],
    ["an open-ended range", "bytes=5-", { offset: 5, length: 6 }],
    ["an open range from 0", "bytes=0-", { offset: 0, length: 11 }],
    ["an end beyond the size (clamped)", "bytes=5-1000", { offset: 5, length: 6 }],
    ["a suffix range", "bytes=-3", { offset: 8, length: 3 }],
    ["a suffix longer than the blob (whole blob)", "bytes=-100", { offset: 0, length: 11 }],
    ["surrounding whitespace", "  bytes=1-2 ", { offset: 1, length: 2 }],
  ])("serves %s", (_what, header, expected) => expect(parseRangeHeader(header, size)).toEqual(expected));

  it.each([
    ["a start at the size", "bytes=11-"],
    ["a start beyond the size", "bytes=20-30"],
    ["a zero-length suffix", "bytes=-0"],
  ])("answers unsatisfiable for %s", (_what, header) => expect(parseRangeHeader(header, size)).toBe("unsatisfiable"));

  it.each([
    ["no header", undefined],
    ["null", null],
    ["an empty header", ""],
    ["multiple ranges", "bytes=0-1,3-4"],
    ["multiple ranges with a space", "bytes=0-1, 3-4"],
    ["an end before the start", "bytes=4-2"],
    ["another unit", "items=0-1"],
    ["no numbers", "bytes=-"],
    ["garbage", "bytes=a-b"],
    ["a negative start", "bytes=--1"],
  ])("ignores %s (serves the whole blob)", (_what, header) => expect(parseRangeHeader(header as string | null | undefined, size)).toBe("none"));

  it("answers unsatisfiable for any range of a zero-size blob", () => {
    expect(parseRangeHeader("bytes=0-", 0)).toBe("unsatisfiable");
    expect(parseRangeHeader("bytes=0-0", 0)).toBe("unsatisfiable");
    expect(parseRangeHeader("bytes=-5", 0)).toBe("unsatisfiable");
    expect(parseRangeHeader(undefined, 0)).toBe("none");
  });

  it("never returns a range outside the blob", () => {
    for (let size = 0; size < 6; size++) {
      for (const header of ["bytes=0-", "bytes=-1", "bytes=-9", "bytes=2-3", "bytes=3-", "bytes=0-99", "bytes=5-5"]) {
        const r = parseRangeHeader(header, size);
        if (typeof r === "object") {
          expect(r.offset).toBeGreaterThanOrEqual(0);
          expect(r.length).toBeGreaterThan(0);
          expect(r.offset + r.length).toBeLessThanOrEqual(size);
        }
      }
    }
  });
});

describe("contentRangeHeader", () => {
  it("formats inclusive bounds and the size", () => {
    expect(contentRangeHeader({ offset: 2, length: 3 }, 11)).toBe("bytes 2-4/11");
    expect(contentRangeHeader({ offset: 0, length: 1 }, 1)).toBe("bytes 0-0/1");
  });
});

describe("parseUploadContentRange (chunked PATCH)", () => {
  it.each([
    ["the spec form", "0-99", { offset: 0, length: 100 }],
    ["a later chunk", "100-199", { offset: 100, length: 100 }],
    ["a one-byte chunk", "5-5", { offset: 5, length: 1 }],
    ["the RFC form with a total", "bytes 0-99/100", { offset: 0, length: 100 }],
    ["the RFC form with an unknown total", "bytes 0-99/*", { offset: 0, length: 100 }],
    ["the bytes= form", "bytes=10-19", { offset: 10, length: 10 }],
    ["surrounding whitespace", " 0-9 ", { offset: 0, length: 10 }],
  ])("reads %s", (_what, header, expected) => expect(parseUploadContentRange(header)).toEqual(expected));

  it.each([
    ["an empty header", ""],
    ["an end before the start", "99-0"],
    ["an open end", "0-"],
    ["a suffix", "-5"],
    ["a bad total", "bytes 0-99/abc"],
    ["garbage", "abc"],
    ["a multi-range", "0-9,20-29"],
    ["a number beyond 2^53", "0-99999999999999999999"],
  ])("rejects %s", (_what, header) => expect(parseUploadContentRange(header)).toBeNull());
});

describe("uploadRangeHeader", () => {
  it("reports 0-<last received byte>", () => {
    expect(uploadRangeHeader(0)).toBe("0-0");
    expect(uploadRangeHeader(1)).toBe("0-0");
    expect(uploadRangeHeader(10)).toBe("0-9");
    expect(uploadRangeHeader(8 * 1024 * 1024)).toBe(`0-${8 * 1024 * 1024 - 1}`);
  });
});
