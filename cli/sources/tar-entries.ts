// Reading a tar stream entry by entry (tar-stream), handing an entry's bytes on as a node Readable without ever
// destroying the entry: tar-stream tears the whole archive down when one entry is destroyed, so an entry its reader
// gave up on is drained instead, and the archive goes on.
import { Readable } from "node:stream";
import tar from "tar-stream";

export interface TarEntry {
  header: tar.Header;
  /** The name without a leading "./". */
  name: string;
  chunks: AsyncIterator<Buffer>;
}

/** Entries of the tar read from `input`, in archive order. Each must be read to its end (`drain`) before the next. */
export async function* tarEntries(input: Readable): AsyncGenerator<TarEntry> {
  const extract = tar.extract();
  input.on("error", (err) => extract.destroy(err));
  input.pipe(extract as unknown as NodeJS.WritableStream);
  try {
    for await (const entry of extract) {
      const name = entry.header.name.replace(/^(\.\/)+/, "");
      yield { header: entry.header, name, chunks: (entry as unknown as AsyncIterable<Buffer>)[Symbol.asyncIterator]() };
    }
  } finally {
    input.unpipe(extract as unknown as NodeJS.WritableStream);
  }
}

/** Reads the rest of an entry, passing each chunk to `onChunk`. */
export async function drain(entry: TarEntry, onChunk?: (c: Buffer) => void): Promise<void> {
  for (;;) {
    const r = await entry.chunks.next();
    if (r.done) return;
    onChunk?.(r.value);
  }
}

/** All of a small entry's bytes. */
export async function readAll(entry: TarEntry): Promise<Buffer> {
  const parts: Buffer[] = [];
  await drain(entry, (c) => parts.push(c));
  return Buffer.concat(parts);
}

/**
 * The entry's bytes as a node Readable, pulled as the reader reads (backpressure reaches the tar input).
 * `finished` resolves once the reader read to the end or destroyed the stream; the entry is then at its end, or the
 * caller drains the rest.
 */
export function relay(entry: TarEntry, onChunk: (c: Buffer) => void): { stream: Readable; finished: Promise<void> } {
  // At most one read of the entry at a time, and none left running once `finished` resolves (the caller may then
  // drain the entry, and the entry's iterator takes one reader).
  let inflight: Promise<unknown> = Promise.resolve();
  let closed!: () => void;
  const close = new Promise<void>((r) => (closed = r));
  const stream = new Readable({
    highWaterMark: 1 << 20,
    read() {
      inflight = entry.chunks.next().then(
        (r) => {
          if (r.done) this.push(null);
          else {
            onChunk(r.value); // before push: a chunk read just as the reader gave up still counts
            this.push(r.value);
          }
        },
        (err: Error) => this.destroy(err),
      );
    },
  });
  stream.once("close", closed);
  return { stream, finished: close.then(() => inflight).then(() => {}) };
}
