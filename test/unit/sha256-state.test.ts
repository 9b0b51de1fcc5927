// The resumable SHA-256 (src/lib/sha256-state.ts): a state saved at any byte and restored in another request must
// finish to the digest the platform's own SHA-256 computes, and anything that is not a saved state is refused.
// Inside workerd, against crypto.subtle and crypto.DigestStream.
import { describe, expect, it } from "vitest";
import { Sha256State } from "../../src/lib/sha256-state";

const MiB = 1024 * 1024;

function bytes(n: number, seed = 1): Uint8Array {
  const b = new Uint8Array(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}

const hex = (b: ArrayBuffer) => [...new Uint8Array(b)].map((v) => v.toString(16).padStart(2, "0")).join("");
const subtle = async (data: Uint8Array) => hex(await crypto.subtle.digest("SHA-256", data));

/** Hashes `data` cut at `cuts`, saving and restoring the state (through its string) at every cut. */
function carried(data: Uint8Array, cuts: number[]): string {
  let state = Sha256State.fresh()!;
  let at = 0;
  for (const cut of [...cuts, data.byteLength]) {
    state.update(data.subarray(at, cut));
    at = cut;
    const saved = state.save();
    expect(saved.length).toBeLessThanOrEqual(146);
    state = Sha256State.restore(saved)!;
    expect(state.length).toBe(at);
  }
  return state.digestHex();
}

describe("Sha256State", () => {
  it("resumes at every split point around the block size (0, 1, 63, 64, 65, ...)", async () => {
    const data = bytes(300, 3);
    const want = await subtle(data);
    for (let cut = 0; cut <= data.byteLength; cut++) expect(carried(data, [cut])).toBe(want);
    for (const [a, b] of [[0, 0], [1, 63], [63, 64], [64, 65], [65, 129], [128, 192], [0, 300]]) expect(carried(data, [a, b])).toBe(want);
  });

  it("hashes the empty input and inputs of exactly one or two blocks", async () => {
    for (const n of [0, 1, 55, 56, 63, 64, 65, 119, 120, 128]) {
      const data = bytes(n, n + 1);
      expect(carried(data, [])).toBe(await subtle(data));
      expect(carried(data, [Math.floor(n / 2)])).toBe(await subtle(data));
    }
  });

  it("matches DigestStream over a few MiB cut at random points, saved and restored at each", async () => {
    const data = bytes(5 * MiB + 17, 11);
    const ds = new crypto.DigestStream("SHA-256");
    const w = ds.getWriter();
    await w.write(data);
    await w.close();
    const want = hex(await ds.digest);
    let seed = 99;
    const rnd = (n: number) => {
      seed = (seed * 1103515245 + 12345) >>> 0;
      return seed % n;
    };
    for (let round = 0; round < 4; round++) {
      const cuts = Array.from({ length: 20 }, () => rnd(data.byteLength)).sort((a, b) => a - b);
      expect(carried(data, cuts)).toBe(want);
    }
    // the cuts of a chunked upload: 16 MiB-like parts of an odd size, with their tails
    expect(carried(data, [MiB + 5, 2 * MiB + 5, 2 * MiB + 6, 4 * MiB])).toBe(want);
  });

  it("refuses anything that is not a saved state", () => {
    const s = Sha256State.fresh()!;
    s.update(bytes(70));
    const good = s.save();
    expect(Sha256State.restore(good)).not.toBeNull();
    const body = good.slice(good.indexOf(".", good.indexOf(".") + 1) + 1);
    const prefix = good.slice(0, good.length - body.length);
    const bad: unknown[] = [
      undefined,
      null,
      42,
      {},
      "",
      prefix,
      body, // no prefix
      "s256.2." + body, // another version
      good + "A", // one more character: not a whole encoding
      good + "AAAA", // three more bytes: the partial block no longer matches the length
      good.slice(0, -4), // three bytes fewer
      good.slice(0, -1) + "=", // padding
      good.slice(0, 20) + "+" + good.slice(21), // base64, not base64url
      good.slice(0, 20) + "!" + good.slice(21),
      prefix + "A".repeat(300), // too long
      prefix + "A".repeat(53), // 40 bytes minus: too short
    ];
    for (const b of bad) expect(Sha256State.restore(b), String(b)).toBeNull();
    // A state whose unfinished block does not match its length: 40 bytes, length 70 (needs 6 bytes of block).
    const words = new Uint8Array(40);
    words[39] = 70;
    const forged = prefix + btoa(String.fromCharCode(...words)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
    expect(Sha256State.restore(forged)).toBeNull();
    words[39] = 64; // a length on a block boundary has no unfinished block: accepted
    expect(Sha256State.restore(prefix + btoa(String.fromCharCode(...words)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, ""))).not.toBeNull();
  });

  it("refuses a non-canonical encoding of the same bytes (one string per state)", () => {
    const s = Sha256State.fresh()!;
    s.update(bytes(65)); // 41 bytes saved: the last base64 character carries 4 unused bits
    const good = s.save();
    const last = good[good.length - 1];
    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const twin = good.slice(0, -1) + alphabet[alphabet.indexOf(last) + 1];
    expect(Sha256State.restore(twin)).toBeNull();
  });

  it("cannot save a finished hash", () => {
    const s = Sha256State.fresh()!;
    s.update(bytes(10));
    s.digestHex();
    expect(() => s.save()).toThrow();
  });

  it("cannot be constructed outside the module", () => {
    const Ctor = Sha256State as unknown as new (...a: unknown[]) => unknown;
    expect(() => new Ctor({}, Symbol("sha256-state"))).toThrow(TypeError);
  });

  // Prints, does not assert: inside workerd the clock moves only across I/O, so each measurement ends with an await.
  it("reports its CPU cost per MiB inside workerd, against DigestStream", async () => {
    const data = bytes(16 * MiB, 5);
    const tick = () => new Promise((r) => setTimeout(r, 0));
    await tick();
    let t0 = performance.now();
    const s = Sha256State.fresh()!;
    for (let i = 0; i < 4; i++) s.update(data);
    s.digestHex();
    await tick();
    const noble = (performance.now() - t0) / 64;
    t0 = performance.now();
    const ds = new crypto.DigestStream("SHA-256");
    const w = ds.getWriter();
    for (let i = 0; i < 4; i++) for (let o = 0; o < data.byteLength; o += MiB) await w.write(data.subarray(o, o + MiB));
    await w.close();
    await ds.digest;
    await tick();
    const native = (performance.now() - t0) / 64;
    console.log(`sha256-state in workerd: ${noble.toFixed(2)} ms per MiB (64 MiB); DigestStream ${native.toFixed(2)} ms per MiB`);
    expect(noble).toBeGreaterThanOrEqual(0);
  });
});
