// Reads a blob's stream in exact-size pieces (parts, chunks), in order, feeding every byte to the hash when the
// blob's digest is being computed. Only the piece being filled is held here, plus the rest of one stream chunk.
import type { Hash } from "node:crypto";
import type { Readable } from "node:stream";

export class BlobReader {
  private readonly it: AsyncIterator<Buffer>;
  private leftover: Buffer | null = null;
  /** Bytes consumed from the stream so far (read or skipped), counted from where it was opened. */
  position = 0;

  constructor(
    private readonly stream: Readable,
    private readonly hash: Hash | null,
  ) {
    this.it = stream[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  }

  private async nextChunk(): Promise<Buffer> {
    if (this.leftover) {
      const c = this.leftover;
      this.leftover = null;
      return c;
    }
    const r = await this.it.next();
    if (r.done) throw new Error(`the source's stream ended early, after ${this.position} bytes`);
    const c = typeof r.value === "string" ? Buffer.from(r.value) : r.value;
    this.hash?.update(c); // every byte, once, in stream order (leftovers were hashed when they arrived)
    return c;
  }

  /** Calls `take` on the next `n` bytes, in pieces as they come. */
  private async consume(n: number, take: (piece: Buffer) => void): Promise<void> {
    let need = n;
    while (need > 0) {
      const c = await this.nextChunk();
      if (c.byteLength > need) {
        take(c.subarray(0, need));
        this.leftover = c.subarray(need);
        need = 0;
      } else {
        take(c);
        need -= c.byteLength;
      }
    }
    this.position += n;
  }

  /** The next `n` bytes, in one new Buffer. */
  async read(n: number): Promise<Buffer> {
    const out = Buffer.allocUnsafe(n);
    let at = 0;
    await this.consume(n, (piece) => {
      piece.copy(out, at);
      at += piece.byteLength;
    });
    return out;
  }

  /** Reads past the next `n` bytes (still hashing them). */
  async skip(n: number): Promise<void> {
    await this.consume(n, () => {});
  }

  /** Stops reading: the source's stream is destroyed (the contract: consume it to its end, or destroy it). */
  close(): void {
    this.leftover = null;
    this.stream.destroy();
  }
}
