// The direct-upload extension's pure rules (src/protocol/direct-upload.ts): the parts listing checked before a
// session completes, and the lifetime of part URLs. The request body parser is driven through HTTP in
// test/s3/direct-upload.test.ts; its edges are here.
import { describe, it, expect } from "vitest";
import { RegistryError } from "../../src/protocol/errors";
import { MAX_DIRECT_PART_SIZE, MIN_DIRECT_PART_SIZE, checkPartListing, parsePartsRequest, partUrlLifetimeSeconds } from "../../src/protocol/direct-upload";

const P = MIN_DIRECT_PART_SIZE;
const parts = (...sizes: number[]) => sizes.map((size, i) => ({ partNumber: i + 1, size }));
const json = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));

function refusal(f: () => unknown): string {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(RegistryError);
    expect((err as RegistryError).code).toBe("BLOB_UPLOAD_INVALID");
    expect((err as RegistryError).status).toBe(400);
    return (err as RegistryError).message;
  }
  throw new Error("not refused");
}

describe("checkPartListing", () => {
  it("takes parts 1..n, all but the last exactly partSize, the last 1..partSize; returns the blob size", () => {
    expect(checkPartListing(parts(1), P)).toBe(1);
    expect(checkPartListing(parts(P), P)).toBe(P);
    expect(checkPartListing(parts(P, P, 7), P)).toBe(2 * P + 7);
    expect(checkPartListing(parts(P, P, P), P)).toBe(3 * P);
  });

  it("refuses no parts, gaps, a part not starting at 1, a short middle part, a long or empty last part", () => {
    expect(refusal(() => checkPartListing([], P))).toMatch(/no part/);
    expect(refusal(() => checkPartListing([{ partNumber: 2, size: P }], P))).toMatch(/part 1 is missing/);
    expect(refusal(() => checkPartListing([{ partNumber: 1, size: P }, { partNumber: 3, size: 1 }], P))).toMatch(/part 2 is missing/);
    expect(refusal(() => checkPartListing(parts(P, P - 1, 1), P))).toMatch(/part 2 holds/);
    expect(refusal(() => checkPartListing(parts(P, P + 1), P))).toMatch(/last part/);
    expect(refusal(() => checkPartListing(parts(P, 0), P))).toMatch(/last part/);
  });
});

describe("parsePartsRequest", () => {
  it("takes partSize at its bounds, and part numbers at theirs", () => {
    expect(parsePartsRequest(json({ partSize: P, parts: [1, 10000] }))).toEqual({ partSize: P, parts: [1, 10000] });
    expect(parsePartsRequest(json({ partSize: MAX_DIRECT_PART_SIZE, parts: [3] }))).toEqual({ partSize: MAX_DIRECT_PART_SIZE, parts: [3] });
    expect(parsePartsRequest(json({ parts: Array.from({ length: 1000 }, (_, i) => i + 1) })).parts).toHaveLength(1000);
  });

  it("refuses what is not exactly the documented shape", () => {
    for (const body of [
      new Uint8Array([0xff, 0xfe]),
      json(null),
      json({ partSize: P, parts: [1], partsize: 1 }),
      json({ partSize: -P, parts: [1] }),
      json({ partSize: 1e30, parts: [1] }),
      json({ partSize: null, parts: [1] }),
      json({ partSize: P, parts: {} }),
      json({ partSize: P, parts: [null] }),
      json({ partSize: P, parts: [-1] }),
    ]) {
      refusal(() => parsePartsRequest(body));
    }
  });
});

describe("partUrlLifetimeSeconds", () => {
  it("15 minutes at most, never past the caller's token, at least 1 s", () => {
    const now = 1_000_000_000_000;
    expect(partUrlLifetimeSeconds(null, now)).toBe(900);
    expect(partUrlLifetimeSeconds(now + 3600_000, now)).toBe(900);
    expect(partUrlLifetimeSeconds(now + 120_500, now)).toBe(120);
    expect(partUrlLifetimeSeconds(now - 10_000, now)).toBe(1);
  });
});
