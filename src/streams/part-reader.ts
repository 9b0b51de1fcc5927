// Reading a body in large pieces that line up with multipart parts.
//
// workerd hands a request body to a default reader in 4 KiB chunks: 256 reads, promise round trips and hash writes
// per MiB, several times the CPU of the native SHA-256. A BYOB reader's readAtLeast (a workerd extension) fills a
// whole buffer per read and costs a fraction of that (measured by bench/floor: the "receive" rows of
// bench/latest/summary.md). Reading exactly up to the next part boundary also lets the caller hand each part to
// storage as the very buffer the socket filled, with no copy. Bodies that are not byte streams (one built from a JS
// ReadableStream, as in some tests) fall back to the default reader.

/** The first read: small, so that small bodies (configs, manifests, short chunks) never allocate a whole part. */
export const FIRST_READ = 1 << 20;

/**
 * Reads a body in fresh buffers. `filled` bytes of the current part are already held by the caller; after a first
 * read of at most FIRST_READ bytes, each read completes the current part, then reads whole parts (the last piece may
 * be shorter). Memory stays bounded by one part. `cancel()` ends the body even while a read is pending (it resolves
 * that read as the end), so that a caller that stops early never leaves the client's body half-read or a promise
 * waiting on it.
 */
export class PartReader {
  private byob: ReadableStreamBYOBReader | null = null;
  private plain: ReadableStreamDefaultReader<Uint8Array> | null = null;
  private want: number;
  private done = false;

  constructor(body: ReadableStream<Uint8Array>, private readonly partSize: number, private filled = 0) {
    try {
      this.byob = body.getReader({ mode: "byob" });
    } catch {
      this.plain = body.getReader(); // not a byte stream (one built in JS, as in some tests)
    }
    this.want = Math.min(FIRST_READ, partSize - (filled % partSize));
  }

  /** The next piece, or null at the end of the body. */
  async next(): Promise<Uint8Array | null> {
    while (!this.done) {
      if (this.plain) {
        const { done, value } = await this.plain.read();
        if (done) this.finish();
        else if (value.byteLength > 0) return value;
        continue;
      }
      const want = this.want;
      const { done, value } = await this.byob!.readAtLeast(want, new Uint8Array(want));
      if (done) this.finish();
      if (value && value.byteLength > 0) {
        this.filled = (this.filled + value.byteLength) % this.partSize;
        this.want = this.partSize - this.filled;
        // A short last read would pin a mostly empty part-sized buffer while it is kept as the upload's tail.
        return value.byteLength < want / 2 ? value.slice() : value;
      }
    }
    return null;
  }

  /** Stops reading: cancels the rest of the body (a no-op once it ended). */
  async cancel(): Promise<void> {
    if (this.done) return;
    this.done = true;
    await (this.byob ?? this.plain)!.cancel().catch(() => {});
  }

  private finish(): void {
    this.done = true;
    (this.byob ?? this.plain)!.releaseLock();
  }
}

/** PartReader as an async iterator; leaving the loop early cancels the body. */
export async function* readForParts(body: ReadableStream<Uint8Array>, partSize: number, filled = 0): AsyncGenerator<Uint8Array> {
  const reader = new PartReader(body, partSize, filled);
  try {
    for (let piece = await reader.next(); piece; piece = await reader.next()) yield piece;
  } finally {
    await reader.cancel();
  }
}
