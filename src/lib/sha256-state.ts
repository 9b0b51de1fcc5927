// A SHA-256 whose state can be saved between requests and resumed, so that a chunked upload is hashed as its chunks
// arrive instead of read back at the end (docs/uploads-hash-state.md). The native crypto.DigestStream cannot save its
// state; @noble/hashes (audited, pinned to an exact version in package.json) computes SHA-256 in JavaScript.
//
// The state of a SHA-256 is its eight chaining words, the count of bytes hashed and the bytes of the unfinished
// 64-byte block. @noble/hashes keeps them in fields it does not publish (its `get`/`set`, `buffer`, `pos`, `length`),
// so this module is the ONE place that touches them: it checks their shape on every save and restore, and once per
// isolate that a save and restore in the middle of a block gives the library's own digest. A version of the library
// that keeps its state differently fails here loudly (a state that cannot be saved or restored), never silently.
import { sha256 } from "@noble/hashes/sha2.js";

const BLOCK = 64;
const WORDS = 8;
const PREFIX = "s256.1.";
/** Larger than any blob (1 PiB), and small enough that the bit count (bytes × 8) stays an exact integer. */
const MAX_LENGTH = 2 ** 50;

const INTERNAL: unique symbol = Symbol("sha256-state");

/** The library's hash object, as far as this module relies on it. */
interface Internals {
  update(data: Uint8Array): unknown;
  digest(): Uint8Array;
  get(): number[];
  set(...words: number[]): void;
  buffer: Uint8Array;
  pos: number;
  length: number;
  finished: boolean;
  destroyed: boolean;
}

function internalsOf(h: unknown): Internals {
  const i = h as Internals;
  if (typeof i.get !== "function" || typeof i.set !== "function" || !(i.buffer instanceof Uint8Array) || i.buffer.byteLength !== BLOCK) {
    throw new Error("sha256-state: @noble/hashes keeps its SHA-256 state differently than this module expects");
  }
  return i;
}

/** A SHA-256 in progress. `save()` it to a short string; `Sha256State.restore` takes it back. */
export class Sha256State {
  /** Not for use outside this module: `fresh()` and `restore()` make them. */
  constructor(
    private readonly h: Internals,
    key: typeof INTERNAL,
  ) {
    if (key !== INTERNAL) throw new TypeError("use Sha256State.fresh() or Sha256State.restore()");
  }

  /** A new hash; null when the library's state cannot be carried (callers then hash some other way). */
  static fresh(): Sha256State | null {
    return selfCheck() ? create() : null;
  }

  /**
   * The state saved by `save()`, or null when `saved` is not one (a malformed state is refused, never guessed at)
   * or the library's state cannot be carried.
   */
  static restore(saved: unknown): Sha256State | null {
    return selfCheck() ? decode(saved) : null;
  }

  /** Bytes hashed so far. */
  get length(): number {
    return this.h.length;
  }

  update(bytes: Uint8Array): void {
    if (this.h.length + bytes.byteLength > MAX_LENGTH) throw new Error("sha256-state: too many bytes");
    this.h.update(bytes);
  }

  /** The state as a compact string (at most 146 characters): the words, the length, the unfinished block. */
  save(): string {
    const { h } = this;
    const words = h.get();
    if (h.finished || h.destroyed || words.length !== WORDS || !Number.isSafeInteger(h.length) || h.pos !== h.length % BLOCK) {
      throw new Error("sha256-state: the hash is finished or its state is not the expected one");
    }
    const out = new Uint8Array(WORDS * 4 + 8 + h.pos);
    const view = new DataView(out.buffer);
    words.forEach((w, i) => view.setUint32(i * 4, w >>> 0));
    view.setUint32(WORDS * 4, Math.floor(h.length / 2 ** 32));
    view.setUint32(WORDS * 4 + 4, h.length >>> 0);
    out.set(h.buffer.subarray(0, h.pos), WORDS * 4 + 8);
    return PREFIX + toBase64Url(out);
  }

  /** Finishes the hash: its digest as lowercase hex. The state is unusable afterwards. */
  digestHex(): string {
    return [...this.h.digest()].map((b) => b.toString(16).padStart(2, "0")).join("");
  }
}

function create(): Sha256State {
  return new Sha256State(internalsOf(sha256.create()), INTERNAL);
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
  const state = create();
  const h = state["h"];
  h.set(...Array.from({ length: WORDS }, (_, i) => view.getUint32(i * 4) | 0));
  h.buffer.set(bytes.subarray(WORDS * 4 + 8));
  h.pos = partial;
  h.length = length;
  return state;
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

let checked: boolean | null = null;

/**
 * Once per isolate: a state saved and restored in the middle of a block must give the library's own digest of the
 * same bytes. Microseconds; it turns a change in the library's internals into an error instead of a wrong digest.
 */
function selfCheck(): boolean {
  if (checked !== null) return checked;
  try {
    const data = Uint8Array.from({ length: 200 }, (_, i) => (i * 31 + 7) & 0xff);
    const whole = [...sha256(data)].map((b) => b.toString(16).padStart(2, "0")).join("");
    const first = create();
    first.update(data.subarray(0, 77));
    const second = decode(first.save());
    second?.update(data.subarray(77));
    checked = second?.digestHex() === whole;
  } catch {
    checked = false;
  }
  if (!checked) console.error("sha256-state: @noble/hashes' SHA-256 state cannot be saved and resumed; chunked uploads are read back instead");
  return checked;
}
