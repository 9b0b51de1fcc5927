// A SHA-256 whose state can be saved between requests and resumed, so that a chunked upload is hashed as its chunks
// arrive instead of read back at the end (docs/uploads-hash-state.md). The native crypto.DigestStream cannot save its
// state. The SHA-256 itself is hash-wasm's WebAssembly build (MIT, pinned exactly in package.json), shipped as the
// file src/lib/vendor/sha256.wasm (written from the package by scripts/sha256-wasm.mjs, checked against it by
// test/ops/sha256-wasm.test.ts); about 10x faster than SHA-256 in JavaScript (docs/uploads-hash-state.md "Costs").
//
// The state of a SHA-256 is its eight chaining words, the count of bytes hashed and the bytes of the unfinished
// 64-byte block. The binary keeps them in one C struct in its memory (the `sha256_ctx` of the package's sha256.c):
//   0..64 the unfinished block, 64..72 the byte count (u64), 72..104 the words (u32), 104..108 the digest size,
//   little-endian, 112 bytes in all (its STATE_SIZE).
// This module is the ONE place that knows that layout. Each Sha256State keeps its own copy of the struct in
// JavaScript; one instance of the binary per isolate does the work, loaded with a state for each update (requests
// of one isolate interleave, but an update runs to its end without yielding). Once per isolate a known answer and a
// save and restore in the middle of a block are checked: a binary whose layout moved fails there, never silently.
import sha256Wasm from "./vendor/sha256.wasm";

const BLOCK = 64;
const WORDS = 8;
const PREFIX = "s256.1.";
/** Larger than any blob (1 PiB), and small enough that the bit count (bytes × 8) stays an exact integer. */
const MAX_LENGTH = 2 ** 50;

// The binary's struct (see above).
const CTX_SIZE = 112;
const AT_LENGTH = 64;
const AT_WORDS = 72;
const AT_DIGEST_SIZE = 104;
/** The binary reads its input from a fixed buffer of this size (MAIN_BUFFER_SIZE in the package's hash-wasm.h). */
const INPUT_BUFFER = 16 * 1024;

const INTERNAL: unique symbol = Symbol("sha256-state");

/** The binary's exports this module uses. */
interface Exports {
  memory: WebAssembly.Memory;
  STATE_SIZE: WebAssembly.Global;
  Hash_GetBuffer(): number;
  Hash_GetState(): number;
  Hash_Init(bits: number): void;
  Hash_Update(size: number): void;
  Hash_Final(): void;
}

let engine: Exports | null = null;

/** The isolate's one instance of the binary (128 KiB of memory), made on first use. */
function wasm(): Exports {
  if (engine) return engine;
  const exports = new WebAssembly.Instance(sha256Wasm, {}).exports as unknown as Exports;
  const size = new DataView(exports.memory.buffer).getUint32(exports.STATE_SIZE.value as number, true);
  if (size !== CTX_SIZE) throw new Error(`sha256-state: the SHA-256 binary's state is ${size} bytes, not ${CTX_SIZE}`);
  return (engine = exports);
}

/** A SHA-256 in progress. `save()` it to a short string; `Sha256State.restore` takes it back. */
export class Sha256State {
  private finished = false;

  /** Not for use outside this module: `fresh()` and `restore()` make them. */
  constructor(
    /** The binary's struct for this hash (see the top of the file). */
    private readonly ctx: Uint8Array,
    key: typeof INTERNAL,
  ) {
    if (key !== INTERNAL) throw new TypeError("use Sha256State.fresh() or Sha256State.restore()");
  }

  /** A new hash; null when the SHA-256 binary cannot be used (callers then hash some other way). */
  static fresh(): Sha256State | null {
    return selfCheck() ? create() : null;
  }

  /**
   * The state saved by `save()`, or null when `saved` is not one (a malformed state is refused, never guessed at)
   * or the SHA-256 binary cannot be used.
   */
  static restore(saved: unknown): Sha256State | null {
    return selfCheck() ? decode(saved) : null;
  }

  /** Bytes hashed so far. */
  get length(): number {
    return Number(new DataView(this.ctx.buffer).getBigUint64(AT_LENGTH, true));
  }

  update(bytes: Uint8Array): void {
    if (this.finished) throw new Error("sha256-state: the hash is finished");
    if (this.length + bytes.byteLength > MAX_LENGTH) throw new Error("sha256-state: too many bytes");
    const w = wasm();
    const mem = new Uint8Array(w.memory.buffer);
    const state = w.Hash_GetState();
    const input = w.Hash_GetBuffer();
    mem.set(this.ctx, state);
    for (let at = 0; at < bytes.byteLength; at += INPUT_BUFFER) {
      const piece = bytes.subarray(at, at + INPUT_BUFFER);
      mem.set(piece, input);
      w.Hash_Update(piece.byteLength);
    }
    this.ctx.set(mem.subarray(state, state + CTX_SIZE));
  }

  /** The state as a compact string (at most 146 characters): the words, the length, the unfinished block. */
  save(): string {
    if (this.finished) throw new Error("sha256-state: the hash is finished");
    const length = this.length;
    const pos = length % BLOCK;
    const ctx = new DataView(this.ctx.buffer);
    const out = new Uint8Array(WORDS * 4 + 8 + pos);
    const view = new DataView(out.buffer);
    for (let i = 0; i < WORDS; i++) view.setUint32(i * 4, ctx.getUint32(AT_WORDS + i * 4, true));
    view.setUint32(WORDS * 4, Math.floor(length / 2 ** 32));
    view.setUint32(WORDS * 4 + 4, length >>> 0);
    out.set(this.ctx.subarray(0, pos), WORDS * 4 + 8);
    return PREFIX + toBase64Url(out);
  }

  /** Finishes the hash: its digest as lowercase hex. The state is unusable afterwards. */
  digestHex(): string {
    if (this.finished) throw new Error("sha256-state: the hash is finished");
    this.finished = true;
    const w = wasm();
    const mem = new Uint8Array(w.memory.buffer);
    mem.set(this.ctx, w.Hash_GetState());
    w.Hash_Final();
    const input = w.Hash_GetBuffer();
    return [...mem.subarray(input, input + 32)].map((b) => b.toString(16).padStart(2, "0")).join("");
  }
}

/** The struct of a new SHA-256, as the binary's own init writes it. */
function create(): Sha256State {
  const w = wasm();
  w.Hash_Init(256);
  const state = w.Hash_GetState();
  return new Sha256State(new Uint8Array(w.memory.buffer).slice(state, state + CTX_SIZE), INTERNAL);
}

function decode(saved: unknown): Sha256State | null {
  if (typeof saved !== "string" || !saved.startsWith(PREFIX)) return null;
  const bytes = fromBase64Url(saved.slice(PREFIX.length));
  if (!bytes || bytes.byteLength < WORDS * 4 + 8) return null;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const length = view.getUint32(WORDS * 4) * 2 ** 32 + view.getUint32(WORDS * 4 + 4);
  const partial = bytes.byteLength - (WORDS * 4 + 8);
  // The unfinished block is exactly what the length leaves past the last whole block: no more, no less.
  if (length > MAX_LENGTH || partial !== length % BLOCK) return null;
  const ctx = new Uint8Array(CTX_SIZE);
  const out = new DataView(ctx.buffer);
  ctx.set(bytes.subarray(WORDS * 4 + 8));
  out.setBigUint64(AT_LENGTH, BigInt(length), true);
  for (let i = 0; i < WORDS; i++) out.setUint32(AT_WORDS + i * 4, view.getUint32(i * 4), true);
  out.setUint32(AT_DIGEST_SIZE, 32, true);
  return new Sha256State(ctx, INTERNAL);
}

function toBase64Url(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** Strict: only the unpadded base64url alphabet, and only the one encoding `toBase64Url` makes of the bytes. */
function fromBase64Url(text: string): Uint8Array | null {
  if (text.length > 200 || !/^[A-Za-z0-9_-]*$/.test(text) || text.length % 4 === 1) return null;
  let raw: string;
  try {
    raw = atob(text.replace(/-/g, "+").replace(/_/g, "/") + "=".repeat((4 - (text.length % 4)) % 4));
  } catch {
    return null;
  }
  const bytes = Uint8Array.from(raw, (c) => c.charCodeAt(0));
  return toBase64Url(bytes) === text ? bytes : null;
}

/** SHA-256 of the 200 bytes `(i * 31 + 7) & 0xff`, computed elsewhere (Node's crypto). */
const KNOWN_ANSWER = "44cae5223d431caed4a9e32271d6abf17c3f2f4abac45fcdb48a99fcc6072a09";

let checked: boolean | null = null;

/**
 * Once per isolate: the binary must give the known digest of fixed bytes, straight and through a state saved and
 * restored in the middle of a block (which exercises every field of the layout above). Microseconds; it turns a
 * binary that cannot load or whose layout moved into the read-back fallback instead of a wrong digest.
 */
function selfCheck(): boolean {
  if (checked !== null) return checked;
  try {
    const data = Uint8Array.from({ length: 200 }, (_, i) => (i * 31 + 7) & 0xff);
    const straight = create();
    straight.update(data);
    const first = create();
    first.update(data.subarray(0, 77));
    const second = decode(first.save());
    second?.update(data.subarray(77));
    checked = straight.digestHex() === KNOWN_ANSWER && second?.digestHex() === KNOWN_ANSWER;
  } catch (e) {
    console.error(`sha256-state: ${e instanceof Error ? e.message : "the SHA-256 binary failed"}`);
    checked = false;
  }
  if (!checked) console.error("sha256-state: the SHA-256 binary's state cannot be saved and resumed; chunked uploads are read back instead");
  return checked;
}
