// The one storage interface every registry operation is written against. One adapter per backend:
// R2 binding (r2.ts) and S3 API (s3.ts), plus MemoryStore (memory.ts) for tests. Adapters translate backend errors
// into StorageError. test/storage/contract.ts is the behaviour every adapter must share.

export interface ObjectInfo {
  key: string;
  size: number;
  etag: string;
  contentType?: string;
  metadata: Record<string, string>;
  /**
   * When the object was written, ms since the epoch (storage's clock). Set by head, get and list on every backend;
   * a put's result may lack it. Garbage collection ages objects by it.
   */
  uploaded?: number;
}

export interface ObjectBody extends ObjectInfo {
  body: ReadableStream<Uint8Array>;
}

/** Bytes to store. A stream must come with its exact length (R2 and S3 refuse bodies of unknown length). */
export type PutBody = Uint8Array | string | ReadableStream<Uint8Array>;

export interface PutOptions {
  /** Required when the body is a stream. */
  length?: number;
  contentType?: string;
  /** Small string metadata (keep the total under 2 KB: R2's limit). */
  metadata?: Record<string, string>;
  /** Create only: fail (return null) when the key exists. */
  ifNoneMatch?: "*";
  /** Replace only the version with this etag: fail (return null) otherwise. */
  ifMatch?: string;
}

export interface ListOptions {
  prefix: string;
  /** List keys strictly after this one (lexical order). */
  startAfter?: string;
  /** At most this many objects (adapters cap it at 1000). */
  limit?: number;
  /** Opaque continuation from a previous ListResult. */
  cursor?: string;
  /** Fill each object's metadata and contentType. R2 lists them for free; S3 needs a HEAD per key, so ask only when needed. */
  metadata?: boolean;
}

export interface ListResult {
  objects: ObjectInfo[];
  /** Set when more objects follow. */
  cursor?: string;
}

export interface PartRef {
  partNumber: number;
  etag: string;
}

export interface ObjectStore {
  head(key: string): Promise<ObjectInfo | null>;
  get(key: string, range?: { offset: number; length: number }): Promise<ObjectBody | null>;
  /** Returns the stored object's info, or null when a condition (ifNoneMatch / ifMatch) failed. */
  put(key: string, body: PutBody, opts?: PutOptions): Promise<ObjectInfo | null>;
  delete(keys: string | string[]): Promise<void>;
  list(opts: ListOptions): Promise<ListResult>;

  createMultipart(key: string): Promise<string>;
  /** `body` must be exactly `length` bytes. Returns the part's etag. */
  uploadPart(key: string, uploadId: string, partNumber: number, body: Uint8Array, length: number): Promise<string>;
  completeMultipart(key: string, uploadId: string, parts: PartRef[]): Promise<void>;
  abortMultipart(key: string, uploadId: string): Promise<void>;
}

/** Credential-free URLs to objects, so that blob bytes can bypass the worker. Not every backend has one. */
export interface Presigner {
  /** A URL that GETs the object (Range allowed) for `expiresInSeconds`. */
  presignGet(key: string, expiresInSeconds: number): Promise<string>;
}

/** A part of a multipart upload as storage holds it. */
export interface StoredPart {
  partNumber: number;
  size: number;
  etag: string;
}

/**
 * Multipart uploads whose parts a client PUTs straight to storage through presigned URLs, so that the bytes never
 * pass through the worker (and its request body limit). Keys are the ObjectStore's: the completed object is read and
 * deleted through the ObjectStore of the same bucket. Only backends with an S3 API have it.
 */
export interface PartUploads {
  createMultipart(key: string): Promise<string>;
  /**
   * A URL that PUTs part `partNumber` of exactly this upload of exactly this key, valid for `expiresInSeconds`. It
   * signs only the host: the client sends the bytes with a Content-Length and no credentials.
   */
  presignUploadPart(key: string, uploadId: string, partNumber: number, expiresInSeconds: number): Promise<string>;
  /** Every part stored now (all pages), by part number; null when the upload is unknown (completed or aborted). */
  listParts(key: string, uploadId: string): Promise<StoredPart[] | null>;
  completeMultipart(key: string, uploadId: string, parts: PartRef[]): Promise<void>;
  abortMultipart(key: string, uploadId: string): Promise<void>;
}

/** A storage failure (network, backend 5xx, throttling). The registry answers 503 so that clients retry. */
export class StorageError extends Error {
  constructor(
    message: string,
    override readonly cause?: unknown,
    /** The backend's HTTP status when it answered (a 4xx means it refused the request, not that it failed). */
    readonly status?: number,
  ) {
    super(message);
    this.name = "StorageError";
  }
}
