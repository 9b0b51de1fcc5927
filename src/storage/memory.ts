// ObjectStore in memory, for tests and local tools. It behaves as test/storage/contract.ts pins R2 and S3 down, and
// where the two differ it takes the stricter side, so that code that works on it does not rely on either backend.
// Web APIs only: it runs in workerd and in Node.
import { StorageError, type ListOptions, type ListResult, type ObjectBody, type ObjectInfo, type ObjectStore, type PartRef, type PutBody, type PutOptions } from "./types";

interface Stored {
  bytes: Uint8Array;
  etag: string;
  contentType?: string;
  metadata: Record<string, string>;
  uploaded: number;
}

interface Upload {
  key: string;
  parts: Map<number, { bytes: Uint8Array; etag: string }>;
}

const LIST_MAX = 1000;
/** S3's and R2's smallest part but the last. */
const MIN_PART_SIZE = 5 * 1024 * 1024;
const MAX_PART_NUMBER = 10_000;

/**
 * An etag derived from the bytes alone, as R2's and S3's are (the MD5 of the body): two writes of the same bytes share
 * it, so a compare-and-swap that relies on etags telling versions apart fails here as it would on the real backends
 * (the GC record race in test/gc/record-race.test.ts was hidden by random etags).
 */
async function etagOf(bytes: Uint8Array): Promise<string> {
  const hash = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return [...hash.subarray(0, 16)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

function info(key: string, o: Stored): ObjectInfo {
  return { key, size: o.bytes.byteLength, etag: o.etag, contentType: o.contentType, metadata: { ...o.metadata }, uploaded: o.uploaded };
}

function streamOf(bytes: Uint8Array): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>({
    start(c) {
      if (bytes.byteLength) c.enqueue(bytes);
      c.close();
    },
  });
}

/** Reads exactly `length` bytes, as R2's and S3's fixed-length uploads do: a shorter or longer stream fails. */
async function readExactly(body: ReadableStream<Uint8Array>, length: number): Promise<Uint8Array> {
  const out = new Uint8Array(length);
  const reader = body.getReader();
  let at = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (at + value.byteLength > length) throw new StorageError(`memory put: stream is longer than its declared ${length} bytes`);
      out.set(value, at);
      at += value.byteLength;
    }
  } catch (err) {
    await reader.cancel(err).catch(() => {});
    throw err instanceof StorageError ? err : new StorageError(`memory put: reading the body failed: ${(err as Error)?.message ?? err}`, err);
  }
  if (at !== length) throw new StorageError(`memory put: stream ended after ${at} of its declared ${length} bytes`);
  return out;
}

export class MemoryStore implements ObjectStore {
  private readonly objects = new Map<string, Stored>();
  private readonly uploads = new Map<string, Upload>();

  async head(key: string): Promise<ObjectInfo | null> {
    const o = this.objects.get(key);
    return o ? info(key, o) : null;
  }

  async get(key: string, range?: { offset: number; length: number }): Promise<ObjectBody | null> {
    const o = this.objects.get(key);
    if (!o) return null;
    let bytes = o.bytes;
    if (range) {
      if (range.offset >= bytes.byteLength || range.length < 1) throw new StorageError(`memory get: range not satisfiable for ${bytes.byteLength} bytes`);
      bytes = bytes.subarray(range.offset, range.offset + range.length);
    }
    // A copy: the reader may write into the chunks it gets.
    return { ...info(key, o), body: streamOf(bytes.slice()) };
  }

  async put(key: string, body: PutBody, opts: PutOptions = {}): Promise<ObjectInfo | null> {
    let bytes: Uint8Array;
    if (body instanceof ReadableStream) {
      if (opts.length === undefined) {
        await body.cancel().catch(() => {});
        throw new StorageError("memory put: a stream body needs its length");
      }
      bytes = await readExactly(body, opts.length);
    } else {
      bytes = typeof body === "string" ? new TextEncoder().encode(body) : body.slice();
    }
    const etag = await etagOf(bytes);
    // Conditions are checked when the write lands, after the body arrived, as the backends do; no await from here
    // to the write, so the check and the write are one step.
    const current = this.objects.get(key);
    if (opts.ifNoneMatch && current) return null;
    if (opts.ifMatch !== undefined && current?.etag !== opts.ifMatch) return null;
    const stored: Stored = { bytes, etag, contentType: opts.contentType, metadata: { ...opts.metadata }, uploaded: Date.now() };
    this.objects.set(key, stored);
    return info(key, stored);
  }

  async delete(keys: string | string[]): Promise<void> {
    for (const key of Array.isArray(keys) ? keys : [keys]) this.objects.delete(key);
  }

  async list(opts: ListOptions): Promise<ListResult> {
    const after = opts.cursor ? decodeCursor(opts.cursor) : opts.startAfter;
    const limit = Math.min(opts.limit ?? LIST_MAX, LIST_MAX);
    const keys = [...this.objects.keys()].filter((k) => k.startsWith(opts.prefix) && (after === undefined || k > after)).sort();
    const page = keys.slice(0, limit);
    // As S3: metadata and content type only when asked for (R2 would always fill them).
    const objects = page.map((k) => {
      const o = info(k, this.objects.get(k)!);
      return opts.metadata ? o : { key: k, size: o.size, etag: o.etag, metadata: {}, uploaded: o.uploaded };
    });
    return { objects, cursor: keys.length > limit ? encodeCursor(page[page.length - 1]) : undefined };
  }

  async createMultipart(key: string): Promise<string> {
    const uploadId = crypto.randomUUID();
    this.uploads.set(uploadId, { key, parts: new Map() });
    return uploadId;
  }

  async uploadPart(key: string, uploadId: string, partNumber: number, body: Uint8Array, length: number): Promise<string> {
    if (body.byteLength !== length) throw new StorageError(`memory uploadPart: body is ${body.byteLength} bytes, expected ${length}`);
    if (!Number.isInteger(partNumber) || partNumber < 1 || partNumber > MAX_PART_NUMBER) throw new StorageError(`memory uploadPart: bad part number ${partNumber}`);
    const upload = this.upload(key, uploadId, "uploadPart");
    const etag = await etagOf(body);
    upload.parts.set(partNumber, { bytes: body.slice(), etag });
    return etag;
  }

  async completeMultipart(key: string, uploadId: string, parts: PartRef[]): Promise<void> {
    const upload = this.upload(key, uploadId, "completeMultipartUpload");
    if (parts.length === 0) throw new StorageError("memory completeMultipartUpload: no parts");
    const chosen = parts.map((p, i) => {
      if (i > 0 && p.partNumber <= parts[i - 1].partNumber) throw new StorageError("memory completeMultipartUpload: parts out of order");
      const part = upload.parts.get(p.partNumber);
      if (!part || part.etag !== p.etag) throw new StorageError(`memory completeMultipartUpload: part ${p.partNumber} unknown or replaced`);
      return part.bytes;
    });
    // R2's rule (S3's is looser): every part but the last has one size, of at least 5 MiB.
    for (const bytes of chosen.slice(0, -1)) {
      if (bytes.byteLength < MIN_PART_SIZE || bytes.byteLength !== chosen[0].byteLength) {
        throw new StorageError("memory completeMultipartUpload: parts but the last must be of one size, at least 5 MiB");
      }
    }
    const out = new Uint8Array(chosen.reduce((n, b) => n + b.byteLength, 0));
    let at = 0;
    for (const bytes of chosen) {
      out.set(bytes, at);
      at += bytes.byteLength;
    }
    this.uploads.delete(uploadId);
    // As S3: a hash of the parts' etags, and their count.
    const etag = `${await etagOf(new TextEncoder().encode(parts.map((p) => p.etag).join("")))}-${chosen.length}`;
    this.objects.set(key, { bytes: out, etag, metadata: {}, uploaded: Date.now() });
  }

  async abortMultipart(key: string, uploadId: string): Promise<void> {
    const upload = this.uploads.get(uploadId);
    if (upload && upload.key === key) this.uploads.delete(uploadId);
  }

  private upload(key: string, uploadId: string, what: string): Upload {
    const upload = this.uploads.get(uploadId);
    if (!upload || upload.key !== key) throw new StorageError(`memory ${what}: no such upload`);
    return upload;
  }
}

function encodeCursor(key: string): string {
  return encodeURIComponent(key);
}

function decodeCursor(cursor: string): string {
  try {
    return decodeURIComponent(cursor);
  } catch {
    throw new StorageError("memory list: bad cursor");
  }
}
