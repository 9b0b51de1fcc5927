// The resumable SHA-256 (src/lib/sha256-state.ts): a state saved at any byte and restored in another request must
// finish to the digest the platform's own SHA-256 computes, and anything that is not a saved state is refused.
// Inside workerd, against crypto.subtle and crypto.DigestStream, with the WebAssembly binary the Worker ships.
/// <reference path="../../src/lib/wasm.d.ts" />
import { describe, expect, it } from "vitest";
import { Sha256State } from "../../src/lib/sha256-state";
import sha256Wasm from "../../src/lib/vendor/sha256.wasm";
import { bytes } from "./helpers";

const MiB = 1024 * 1024;


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

  it("matches crypto.subtle on random sizes, saved and restored at random cuts (mid-block, and across the 16 KiB input buffer)", async () => {
    let seed = 7;
    const rnd = (n: number) => {
      seed = (seed * 1103515245 + 12345) >>> 0;
      return seed % n;
    };
    for (let round = 0; round < 40; round++) {
      const n = round < 20 ? rnd(300) : rnd(200_000);
      const data = bytes(n, round + 100);
      const cuts = Array.from({ length: rnd(6) }, () => rnd(n + 1)).sort((a, b) => a - b);
      expect(carried(data, cuts), `${n} bytes cut at ${cuts}`).toBe(await subtle(data));
    }
    // one update around the size of the binary's input buffer (16 KiB), fed in one piece
    for (const n of [16383, 16384, 16385, 3 * 16384 + 1]) {
      const data = bytes(n, n);
      expect(carried(data, [1])).toBe(await subtle(data));
    }
  });

  it("restores states saved by the previous implementation (@noble/hashes 2.4.0): the format is the same", async () => {
    // Saved by the JavaScript implementation this module replaced, after 77, 640 and 1,000 of these bytes.
    const data = Uint8Array.from({ length: 1000 }, (_, i) => (i * 131 + 17) & 0xff);
    const want = await subtle(data);
    expect(want).toBe("9b1f933854c88e4433633db24196b7ba6282b9553cdee714193554db462d3169");
    const saved: Record<number, string> = {
      77: "s256.1.8fmJSRhE-YhD-R1vgib83SfwvFb5KYp6kHzQx4YRA5AAAAAAAAAATdFU11rdYONm6WzvcvU",
      640: "s256.1.Fa9sjOpc6NnkG1pWviipfRyVaBIE4qE12GoE0iqFtwsAAAAAAAACgA",
      1000: "s256.1.ptunMqgkrUcc4IXxqJIqtMaIyYd4wu41GJhs94c41icAAAAAAAAD6FHUV9pd4GPmaexv8nX4e_6BBIcKjRCTFpkcnyKlKKsusTS3Or1Aw0Y",
    };
    for (const [at, text] of Object.entries(saved)) {
      const state = Sha256State.restore(text)!;
      expect(state.length).toBe(Number(at));
      state.update(data.subarray(Number(at)));
      expect(state.digestHex(), `restored at ${at}`).toBe(want);
      // and this implementation saves the very same string at that point
      const mine = Sha256State.fresh()!;
      mine.update(data.subarray(0, Number(at)));
      expect(mine.save()).toBe(text);
    }
  });

  it("keeps hashes apart that one isolate updates in turn (one binary, a state per hash)", async () => {
    const a = bytes(5000, 1);
    const b = bytes(7000, 2);
    const ha = Sha256State.fresh()!;
    const hb = Sha256State.fresh()!;
    for (let at = 0; at < 7000; at += 333) {
      ha.update(a.subarray(at, at + 333));
      hb.update(b.subarray(at, at + 333));
    }
    expect(ha.digestHex()).toBe(await subtle(a));
    expect(hb.digestHex()).toBe(await subtle(b));
  });

  it("ships a binary that imports nothing and exports what the glue calls", () => {
    expect(WebAssembly.Module.imports(sha256Wasm)).toEqual([]);
    const names = WebAssembly.Module.exports(sha256Wasm).map((e) => e.name);
    for (const name of ["memory", "STATE_SIZE", "Hash_GetBuffer", "Hash_GetState", "Hash_Init", "Hash_Update", "Hash_Final"]) expect(names).toContain(name);
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

  it("cannot save, update or finish a finished hash", () => {
    const s = Sha256State.fresh()!;
    s.update(bytes(10));
    s.digestHex();
    expect(() => s.save()).toThrow();
    expect(() => s.update(bytes(1))).toThrow();
    expect(() => s.digestHex()).toThrow();
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
    const carriedMs = (performance.now() - t0) / 64;
    t0 = performance.now();
    const ds = new crypto.DigestStream("SHA-256");
    const w = ds.getWriter();
    for (let i = 0; i < 4; i++) for (let o = 0; o < data.byteLength; o += MiB) await w.write(data.subarray(o, o + MiB));
    await w.close();
    await ds.digest;
    await tick();
    const native = (performance.now() - t0) / 64;
    console.log(`sha256-state in workerd: ${carriedMs.toFixed(2)} ms per MiB (64 MiB); DigestStream ${native.toFixed(2)} ms per MiB`);
    expect(carriedMs).toBeGreaterThanOrEqual(0);
  });
});
