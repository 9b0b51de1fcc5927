// Reading upload bodies in large pieces that line up with multipart parts.
//
// workerd hands a request body to a default reader in 4 KiB chunks: 256 reads, promise round trips and hash writes
// per MiB. Measured under wrangler dev (bench/floor), that alone cost 2.4-2.8 ms of CPU per MiB received, five times
// the native SHA-256. A BYOB reader's readAtLeast (a workerd extension) fills a whole buffer per read: 0.2-0.6 ms
// per MiB. Reading exactly up to the next part boundary also lets the caller hand each part to storage as the very
// buffer the socket filled, with no copy. Bodies that are not byte streams (one built from a JS ReadableStream, as
// in some tests) fall back to the default reader.

/** The first read: small, so that small bodies (configs, manifests, short chunks) never allocate a whole part. */
export const FIRST_READ = 1 << 20;

/**
 * Yields the body in fresh buffers. `filled` bytes of the current part are already held by the caller; after a
 * first read of at most FIRST_READ bytes, each read completes the current part, then reads whole parts (the last
 * piece may be shorter). Memory stays bounded by one part.
 */
export async function* readForParts(body: ReadableStream<Uint8Array>, partSize: number, filled = 0): AsyncGenerator<Uint8Array> {
  let reader: ReadableStreamBYOBReader;
  try {
    reader = body.getReader({ mode: "byob" });
  } catch {
    yield* readChunks(body);
    return;
  }
  try {
    let want = Math.min(FIRST_READ, partSize - (filled % partSize));
    for (;;) {
      const { done, value } = await reader.readAtLeast(want, new Uint8Array(want));
      if (value && value.byteLength > 0) {
        // A short last read would pin a mostly empty part-sized buffer while it is kept as the upload's tail.
        yield value.byteLength < want / 2 ? value.slice() : value;
        filled = (filled + value.byteLength) % partSize;
      }
      if (done) return;
      want = partSize - filled;
    }
  } finally {
    reader.releaseLock();
  }
}

async function* readChunks(body: ReadableStream<Uint8Array>): AsyncGenerator<Uint8Array> {
  const reader = body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      if (value.byteLength > 0) yield value;
    }
  } finally {
    reader.releaseLock();
  }
}
