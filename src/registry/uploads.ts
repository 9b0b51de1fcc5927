// Blob upload sessions.
//
// Bytes go to a multipart upload at data/<id> in parts of exactly `partSize` bytes (R2 needs equal parts).
// What a request leaves beyond the last full part is kept as a small tail object and prepended by the next
// request, so chunks of any size, and docker's streamed PATCH without Content-Length, all work with memory
// bounded by two parts. When the whole blob arrives in one request (docker, podman, skopeo, containerd all do
// that) it is hashed on the way with the native crypto.DigestStream; otherwise the finished object is read back
// through DigestStream once. Either way a blob is visible under a digest only after the digest was verified.
import { RegistryError } from "../protocol/errors";
import { DIGEST_ALGORITHMS, formatDigest, toHex, type Digest } from "../protocol/digest";
import { uploadRangeHeader } from "../protocol/ranges";
import { keys } from "../storage/keys";
import type { ObjectStore } from "../storage/types";
import { ChunkQueue } from "./chunks";
import { readForParts } from "./body";
import { commitBlob, type BlobLocation } from "./blobs";
import type { RegistryDeps } from "./deps";

const MAX_PARTS = 10_000;
const UPLOAD_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

export interface UploadState {
  v: 1;
  id: string;
  repo: string;
  /** Who opened the session (token subject), or null for anonymous; only they may continue it. */
  owner: string | null;
  createdAt: number;
  /** Bytes received so far. */
  offset: number;
  partSize: number;
  multipartId?: string;
  /** Etags of the uploaded parts, part n at index n-1. */
  parts: string[];
  /** Bytes held in the tail object: offset - parts.length * partSize. */
  tailLength: number;
  /** Random id written with the tail object: a tail left by a request that lost a race is never taken for ours. */
  tailVersion?: string;
  /** SHA-256 of all `offset` bytes, when they arrived in one request and could be hashed natively. */
  sha256?: string;
  /** All `offset` bytes are one complete object at data/<id> (written by a single request of known length). */
  whole?: boolean;
}

export interface UploadSession {
  state: UploadState;
  /** Etag of the stored state, for compare-and-swap; undefined for a session never stored. */
  etag?: string;
}

export function uploadLocation(s: UploadState): string {
  return `/v2/${s.repo}/blobs/uploads/${s.id}`;
}

export function uploadHeaders(s: UploadState): Record<string, string> {
  return { Location: uploadLocation(s), "Docker-Upload-UUID": s.id, Range: uploadRangeHeader(s.offset) };
}

export function newUploadState(deps: RegistryDeps, repo: string, owner: string | null): UploadState {
  return { v: 1, id: crypto.randomUUID(), repo, owner, createdAt: Date.now(), offset: 0, partSize: deps.settings.partSize, parts: [], tailLength: 0 };
}

export async function startUpload(deps: RegistryDeps, repo: string, owner: string | null): Promise<UploadSession> {
  const state = newUploadState(deps, repo, owner);
  const saved = await deps.store.put(keys.uploadState(state.id), JSON.stringify(state), { contentType: "application/json", ifNoneMatch: "*" });
  return { state, etag: saved?.etag };
}

function unknownUpload(id: string): never {
  throw new RegistryError("BLOB_UPLOAD_UNKNOWN", `upload ${JSON.stringify(id.slice(0, 80))} unknown`);
}

/** Loads a session; it must belong to `repo` and `owner` (both checked, so a session id alone grants nothing). */
export async function loadUpload(deps: RegistryDeps, repo: string, id: string, owner: string | null): Promise<UploadSession> {
  if (!UPLOAD_ID.test(id)) unknownUpload(id);
  const obj = await deps.store.get(keys.uploadState(id));
  if (!obj) unknownUpload(id);
  let state: UploadState;
  try {
    state = JSON.parse(await new Response(obj.body).text());
  } catch {
    unknownUpload(id);
  }
  if (state.v !== 1 || state.repo !== repo || state.owner !== owner || Date.now() - state.createdAt > deps.settings.uploadTtlMs) unknownUpload(id);
  return { state, etag: obj.etag };
}

/** Writes parts as they fill; at most one part upload is in flight while the next one is being received. */
class PartWriter {
  private inflight: Promise<void> = Promise.resolve();
  private readonly dataKey: string;
  constructor(private readonly store: ObjectStore, private readonly state: UploadState) {
    this.dataKey = keys.blobData(state.id);
  }

  async write(part: Uint8Array): Promise<void> {
    const s = this.state;
    if (s.parts.length >= MAX_PARTS) {
      throw new RegistryError("SIZE_INVALID", `blob too large: at most ${MAX_PARTS} parts of ${s.partSize} bytes`, undefined, { status: 413 });
    }
    if (!s.multipartId) s.multipartId = await this.store.createMultipart(this.dataKey);
    await this.inflight; // bound memory: the previous part must be stored before another starts
    const index = s.parts.length;
    s.parts.push(""); // reserve the part number now; the etag arrives later
    const uploadId = s.multipartId;
    const upload = this.store.uploadPart(this.dataKey, uploadId, index + 1, part, part.byteLength).then((etag) => {
      s.parts[index] = etag;
    });
    // A failure is reported by the next write() or flush(); until then it must not count as an unhandled rejection.
    upload.catch(() => {});
    this.inflight = upload;
  }

  flush(): Promise<void> {
    return this.inflight;
  }
}

/** The largest request stored as one object (R2 and S3 take single puts up to 5 GB). */
const MAX_WHOLE_OBJECT = 4 * 1024 ** 3;
/** Read size when streaming a whole object: bounded memory, few reads (see body.ts). */
const WHOLE_READ = 1 << 20;

/**
 * A request that carries the blob from its first byte with a known length (skopeo and podman PATCH, containerd
 * PUT, monolithic POST) streams straight into one object, hashed natively on the way: no parts, no tail, and the
 * bytes are read back from one object on pull (multipart objects are slower to read in the local simulator).
 */
async function writeWhole(store: ObjectStore, s: UploadState, body: ReadableStream<Uint8Array>, length: number): Promise<void> {
  const digestStream = new crypto.DigestStream("SHA-256");
  const hashWriter = digestStream.getWriter();
  const pipe = new TransformStream<Uint8Array, Uint8Array>();
  const pipeWriter = pipe.writable.getWriter();
  const stored = store.put(keys.blobData(s.id), pipe.readable, { length });
  stored.catch(() => {}); // awaited below; a failure while still writing surfaces there
  let received = 0;
  try {
    for await (const value of readForParts(body, WHOLE_READ, 0)) {
      received += value.byteLength;
      if (received > length) break;
      await hashWriter.write(value);
      await pipeWriter.write(value);
    }
  } catch (err) {
    await pipeWriter.abort(err).catch(() => {});
    await stored.catch(() => {});
    if ((err as Error)?.name === "StorageError") throw err;
    throw new RegistryError("BLOB_UPLOAD_INVALID", "the request body ended unexpectedly");
  }
  if (received !== length) {
    await pipeWriter.abort(new Error("length mismatch")).catch(() => {});
    await stored.catch(() => {});
    throw new RegistryError("SIZE_INVALID", `received ${received > length ? "more than " + length : received} bytes, expected ${length}`);
  }
  await pipeWriter.close();
  await stored;
  await hashWriter.close();
  s.sha256 = toHex(await digestStream.digest);
  s.offset = length;
  s.whole = true;
  s.tailLength = 0;
}

interface AppendResult {
  /** Bytes past the last full part, still in memory. */
  remainder: Uint8Array;
}

/**
 * Appends a request body to the session (state is updated in memory; the caller persists it).
 * `expectedLength`, when known (Content-Length / Content-Range), is checked against what arrived.
 */
async function appendBody(
  deps: RegistryDeps,
  session: UploadSession,
  body: ReadableStream<Uint8Array> | null,
  expectedLength?: number,
  opts: { chunked?: boolean } = {},
): Promise<AppendResult> {
  const { store } = deps;
  const s = session.state;
  if (body && !opts.chunked && s.offset === 0 && !s.multipartId && expectedLength !== undefined && expectedLength > 0 && expectedLength <= MAX_WHOLE_OBJECT) {
    await writeWhole(store, s, body, expectedLength);
    return { remainder: new Uint8Array(0) };
  }
  const queue = new ChunkQueue();
  const writer = new PartWriter(store, s);
  // More bytes after a whole-object request (rare): move the stored bytes into parts of a multipart upload at the
  // same key (the object is replaced only when that upload completes). Only once a byte has really arrived: the
  // final PUT of skopeo and podman has an empty body, and must not cost a copy of the blob.
  const moveWholeIntoParts = async () => {
    const stored = await store.get(keys.blobData(s.id));
    if (!stored || stored.size !== s.offset) throw new RegistryError("BLOB_UPLOAD_INVALID", "upload state is inconsistent; restart the upload");
    for await (const value of readForParts(stored.body, s.partSize, 0)) {
      queue.push(value);
      while (queue.size >= s.partSize) await writer.write(queue.take(s.partSize));
    }
    s.whole = undefined;
  };
  if (s.tailLength > 0) {
    const tail = await store.get(keys.uploadTail(s.id));
    if (!tail || tail.size !== s.tailLength || tail.metadata.version !== s.tailVersion) {
      throw new RegistryError("BLOB_UPLOAD_INVALID", "upload state is inconsistent; restart the upload");
    }
    queue.push(new Uint8Array(await new Response(tail.body).arrayBuffer()));
  }
  // Hash natively when this request carries the blob from its first byte.
  const hashing = s.offset === 0;
  const digestStream = hashing ? new crypto.DigestStream("SHA-256") : null;
  const hashWriter = digestStream?.getWriter();
  let received = 0;
  try {
    if (body) {
      // Large reads that end on part boundaries, so parts are mostly cut without copying (see body.ts).
      for await (const value of readForParts(body, s.partSize, queue.size)) {
        if (s.whole) await moveWholeIntoParts();
        if (hashWriter) await hashWriter.write(value);
        received += value.byteLength;
        queue.push(value);
        while (queue.size >= s.partSize) await writer.write(queue.take(s.partSize));
      }
    }
    await writer.flush();
  } catch (err) {
    await writer.flush().catch(() => {});
    if (err instanceof RegistryError) throw err;
    // A body that breaks off is the client's failure; storage failures surface as StorageError.
    if ((err as Error)?.name === "StorageError") throw err;
    throw new RegistryError("BLOB_UPLOAD_INVALID", "the request body ended unexpectedly");
  }
  if (expectedLength !== undefined && received !== expectedLength) {
    throw new RegistryError("SIZE_INVALID", `received ${received} bytes, expected ${expectedLength}`);
  }
  s.offset += received;
  s.tailLength = queue.size;
  if (hashWriter) {
    await hashWriter.close();
    s.sha256 = toHex(await digestStream!.digest);
  } else if (received > 0) {
    s.sha256 = undefined;
  }
  return { remainder: queue.takeAll() };
}

async function saveState(deps: RegistryDeps, session: UploadSession): Promise<void> {
  const saved = await deps.store.put(keys.uploadState(session.state.id), JSON.stringify(session.state), {
    contentType: "application/json",
    ...(session.etag ? { ifMatch: session.etag } : {}),
  });
  if (!saved) throw new RegistryError("BLOB_UPLOAD_INVALID", "the upload was changed by a concurrent request; check its status and retry");
  session.etag = saved.etag;
}

/** PATCH: appends a chunk. `start` is the Content-Range start when the client sent one. */
export async function appendChunk(
  deps: RegistryDeps,
  session: UploadSession,
  body: ReadableStream<Uint8Array> | null,
  opts: { start?: number; length?: number } = {},
): Promise<void> {
  const s = session.state;
  if (opts.start !== undefined && opts.start !== s.offset) {
    throw new RegistryError("BLOB_UPLOAD_INVALID", `chunk starts at ${opts.start}, but the upload has ${s.offset} bytes`, undefined, {
      status: 416,
      headers: uploadHeaders(s),
    });
  }
  const hadTail = s.tailLength > 0;
  const { remainder } = await appendBody(deps, session, body, opts.length, { chunked: opts.start !== undefined });
  // Claim the new state (compare-and-swap) before writing the tail it names: a concurrent request on the same
  // session that loses the swap never overwrites the winner's tail, and readers check the tail's version.
  s.tailVersion = remainder.byteLength > 0 ? crypto.randomUUID() : undefined;
  await saveState(deps, session);
  if (remainder.byteLength > 0) await deps.store.put(keys.uploadTail(s.id), remainder, { metadata: { version: s.tailVersion! } });
  else if (hadTail) await deps.store.delete(keys.uploadTail(s.id));
}

/** Verifies the stored bytes against `digest` by reading them back through the native digest stream. */
async function hashStored(store: ObjectStore, key: string, digest: Digest): Promise<string> {
  const obj = await store.get(key);
  if (!obj) throw new RegistryError("BLOB_UPLOAD_INVALID", "uploaded data is missing; restart the upload");
  const ds = new crypto.DigestStream(DIGEST_ALGORITHMS[digest.algorithm].webCrypto as "SHA-256");
  await obj.body.pipeTo(ds);
  return toHex(await ds.digest);
}

/**
 * PUT ?digest=: appends the last chunk (if any), assembles the object, verifies the digest and commits the blob.
 * On a digest mismatch nothing becomes visible and the session ends.
 */
export async function completeUpload(
  deps: RegistryDeps,
  session: UploadSession,
  digest: Digest,
  body: ReadableStream<Uint8Array> | null,
  opts: { length?: number; stored: boolean } = { stored: true },
): Promise<BlobLocation> {
  const { store } = deps;
  const s = session.state;
  const dataKey = keys.blobData(s.id);
  const { remainder } = await appendBody(deps, session, body, opts.length);

  let actual: string;
  if (s.whole) {
    actual = digest.algorithm === "sha256" && s.sha256 ? s.sha256 : await hashStored(store, dataKey, digest);
  } else if (!s.multipartId) {
    // Small blob: all bytes are in memory.
    actual = digest.algorithm === "sha256" && s.sha256 ? s.sha256 : toHex(await crypto.subtle.digest(DIGEST_ALGORITHMS[digest.algorithm].webCrypto, remainder));
    if (actual === digest.hex) await store.put(dataKey, remainder);
  } else {
    if (remainder.byteLength > 0) {
      const etag = await store.uploadPart(dataKey, s.multipartId, s.parts.length + 1, remainder, remainder.byteLength);
      s.parts.push(etag);
    }
    await store.completeMultipart(dataKey, s.multipartId, s.parts.map((etag, i) => ({ partNumber: i + 1, etag })));
    actual = digest.algorithm === "sha256" && s.sha256 ? s.sha256 : await hashStored(store, dataKey, digest);
  }

  if (actual !== digest.hex) {
    await store.delete([dataKey, ...(opts.stored ? [keys.uploadState(s.id), keys.uploadTail(s.id)] : [])]);
    throw new RegistryError("DIGEST_INVALID", `content digest is ${digest.algorithm}:${actual}, not ${formatDigest(digest)}`, {
      expected: formatDigest(digest),
      actual: `${digest.algorithm}:${actual}`,
    });
  }
  const blob = await commitBlob(deps, s.repo, digest, s.offset, dataKey);
  if (opts.stored) await store.delete([keys.uploadState(s.id), keys.uploadTail(s.id)]);
  return blob;
}

/** POST ?digest=: the whole blob in one request, with no stored session. */
export async function uploadMonolithic(deps: RegistryDeps, repo: string, owner: string | null, digest: Digest, body: ReadableStream<Uint8Array> | null, length?: number): Promise<BlobLocation> {
  const session: UploadSession = { state: newUploadState(deps, repo, owner) };
  return completeUpload(deps, session, digest, body, { length, stored: false });
}

/** DELETE: cancels the session and frees what it stored. */
export async function cancelUpload(deps: RegistryDeps, session: UploadSession): Promise<void> {
  const s = session.state;
  if (s.multipartId) await deps.store.abortMultipart(keys.blobData(s.id), s.multipartId).catch(() => {});
  // data/<id> exists only while the session does (a committed blob's session is gone), so it is ours to delete.
  await deps.store.delete([keys.uploadState(s.id), keys.uploadTail(s.id), keys.blobData(s.id)]);
}
