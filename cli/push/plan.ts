// Pure planning for blob uploads: part and chunk sizes, which parts or bytes are still to send, and the headers'
// numbers. No I/O here, so every rule is unit-tested on its own (test/cli/plan.test.ts).

export const MiB = 1024 * 1024;
/** S3 (and R2) multipart limits: every part but the last at least 5 MiB, at most 5 GiB, at most 10,000 parts. */
export const MIN_PART_SIZE = 5 * MiB;
export const MAX_PART_SIZE = 5 * 1024 * MiB;
export const MAX_PARTS = 10_000;
/** The Skiff extension accepts at most this many part numbers per `POST L/parts`. */
export const MAX_PARTS_PER_REQUEST = 1000;
/** Blobs under this size (configs, small layers) go in one `PUT L?digest=` with the body. */
export const TINY_BLOB = MiB;
export const DEFAULT_CHUNK_SIZE = 64 * MiB;

export interface ByteSpan {
  offset: number;
  length: number;
}

/** Number of parts of `partSize` bytes (the last one shorter) that hold `size` bytes; 0 for an empty blob. */
export function partCount(size: number, partSize: number): number {
  return Math.ceil(size / partSize);
}

/** The bytes of part `partNumber` (1-based). */
export function partSpan(partNumber: number, size: number, partSize: number): ByteSpan {
  const offset = (partNumber - 1) * partSize;
  if (partNumber < 1 || offset >= size) throw new RangeError(`part ${partNumber} is outside a blob of ${size} bytes`);
  return { offset, length: Math.min(partSize, size - offset) };
}

/**
 * The part size of a direct upload: what was asked, raised to the registry's minimum and S3's 5 MiB, then to what
 * keeps the blob within 10,000 parts (rounded up to whole MiB). Throws when even 5 GiB parts cannot hold the blob.
 */
export function choosePartSize(size: number, requested: number, registryMin: number | null): number {
  let partSize = Math.max(requested, MIN_PART_SIZE, registryMin ?? 0);
  const needed = Math.ceil(size / MAX_PARTS);
  if (partSize < needed) partSize = Math.ceil(needed / MiB) * MiB;
  if (partSize > MAX_PART_SIZE) throw new RangeError(`a blob of ${size} bytes needs parts over 5 GiB`);
  return partSize;
}

/**
 * The chunk size of a PATCH upload: `requested` (or 64 MiB), never over the registry's OCI-Chunk-Max-Length, and a
 * whole multiple of its OCI-Chunk-Min-Length (rounded down, but never under the minimum itself).
 */
export function chooseChunkSize(requested: number | null, min: number | null, max: number | null): number {
  let size = requested ?? DEFAULT_CHUNK_SIZE;
  if (max !== null && max > 0) size = Math.min(size, max);
  if (min !== null && min > 0) {
    size = Math.floor(size / min) * min;
    // A maximum under the minimum is the registry's contradiction; the maximum (a hard body limit) wins.
    if (size < min) size = max !== null && max > 0 && max < min ? max : min;
  }
  return Math.max(1, size);
}

export interface ListedPart {
  partNumber: number;
  size: number;
}

export interface DirectPlan {
  partSize: number;
  /** Parts of the blob, 1..n. */
  total: number;
  /** Parts storage holds with the right size: not sent again. */
  done: number[];
  /** Parts to send, ascending. */
  todo: number[];
}

/**
 * Which parts of a direct upload still need sending, given what `GET L/parts` listed. A listed part counts as done
 * when its number belongs to the blob and its size is what that part must be; a wrong part is sent again (which
 * replaces it). Whether its bytes are right is checked by the registry's digest verification at the end.
 */
export function planDirectParts(size: number, partSize: number, listed: ListedPart[] = []): DirectPlan {
  const total = partCount(size, partSize);
  const have = new Set<number>();
  for (const p of listed) {
    if (!Number.isInteger(p.partNumber) || p.partNumber < 1 || p.partNumber > total) continue;
    if (p.size === partSpan(p.partNumber, size, partSize).length) have.add(p.partNumber);
  }
  const done: number[] = [];
  const todo: number[] = [];
  for (let n = 1; n <= total; n++) (have.has(n) ? done : todo).push(n);
  return { partSize, total, done, todo };
}

/** Listed parts the blob does not have (numbers past its last part): completing with them would fail. */
export function extraneousParts(size: number, partSize: number, listed: ListedPart[]): number[] {
  const total = partCount(size, partSize);
  return listed.filter((p) => p.partNumber > total).map((p) => p.partNumber);
}

/**
 * The next batch of part numbers to ask URLs for: the first `batch` of `todo` after `from` (an index into todo),
 * at most 1000 (the extension's limit per request).
 */
export function nextUrlBatch(todo: number[], from: number, batch: number): number[] {
  return todo.slice(from, from + Math.max(1, Math.min(batch, MAX_PARTS_PER_REQUEST)));
}

/** The PATCH chunks that send bytes `offset`..`size` in pieces of at most `chunkSize`. */
export function chunkSpans(size: number, offset: number, chunkSize: number): ByteSpan[] {
  if (offset < 0 || offset > size) throw new RangeError(`offset ${offset} is outside a blob of ${size} bytes`);
  const spans: ByteSpan[] = [];
  for (let at = offset; at < size; at += chunkSize) spans.push({ offset: at, length: Math.min(chunkSize, size - at) });
  return spans;
}

/**
 * Bytes a registry holds for a session, from the `Range: 0-<last>` of its answers. `0-0` is how registries say
 * "nothing yet" (distribution and Skiff both send it), so it counts as 0: at worst one byte is sent again, which the
 * registry then refuses with 416, and the caller reads the offset again. null when absent or malformed.
 */
export function parseUploadRange(header: string | null): number | null {
  if (header === null) return null;
  const m = /^(?:bytes[ =])?0-(\d+)$/.exec(header.trim());
  if (!m) return null;
  const last = Number(m[1]);
  if (!Number.isSafeInteger(last)) return null;
  return last === 0 ? 0 : last + 1;
}

/** A positive integer header (OCI-Chunk-Min-Length, OCI-Chunk-Max-Length), or null. */
export function positiveIntHeader(value: string | null): number | null {
  if (value === null || !/^\s*\d+\s*$/.test(value)) return null;
  const n = Number(value);
  return Number.isSafeInteger(n) && n > 0 ? n : null;
}

/** Exponential backoff with jitter: attempt 0 waits ~base, each next one twice as long, capped. */
export function backoffMs(attempt: number, baseMs = 250, capMs = 8000, random = Math.random): number {
  const ceiling = Math.min(capMs, baseMs * 2 ** attempt);
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}
