// A queue of byte chunks from which fixed-size parts are cut without copying more than once.

export class ChunkQueue {
  private chunks: Uint8Array[] = [];
  private head = 0; // bytes of chunks[0] already taken
  size = 0;

  push(chunk: Uint8Array): void {
    if (chunk.byteLength === 0) return;
    this.chunks.push(chunk);
    this.size += chunk.byteLength;
  }

  /** Removes and returns exactly n bytes (n <= size) as one array. */
  take(n: number): Uint8Array {
    if (n > this.size) throw new RangeError(`take(${n}) from ${this.size} bytes`);
    const first = this.chunks[0];
    // Fast path: the part is a slice of one chunk.
    if (first && first.byteLength - this.head >= n) {
      const out = first.subarray(this.head, this.head + n);
      this.advance(n);
      return out;
    }
    const out = new Uint8Array(n);
    let filled = 0;
    while (filled < n) {
      const c = this.chunks[0];
      const avail = c.byteLength - this.head;
      const k = Math.min(avail, n - filled);
      out.set(c.subarray(this.head, this.head + k), filled);
      filled += k;
      this.advance(k);
    }
    return out;
  }

  takeAll(): Uint8Array {
    return this.take(this.size);
  }

  private advance(n: number): void {
    this.size -= n;
    this.head += n;
    while (this.chunks.length && this.head >= this.chunks[0].byteLength) {
      this.head -= this.chunks[0].byteLength;
      this.chunks.shift();
    }
  }
}
