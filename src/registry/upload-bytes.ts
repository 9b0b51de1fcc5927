// The byte pipeline of uploads: how a request's body becomes stored objects, hashed on the way where it can be.
//
// Every object a request writes is new, at a random key, and private to that request (Scratch) until uploads.ts
// publishes it in the session state. A body that carries the blob from its first byte becomes ONE complete object,
// hashed natively in flight (writeWholeBlob). Chunks fill fixed-size parts of a multipart upload, the rest kept
// for a tail object (receiveChunk), hashed on the way by the session's carried SHA-256 when it has one; the final
// object is completed (finishObject) and, with neither an in-flight nor a carried hash, read back once through the
// native digest (hashStored).
import { RegistryError } from "../protocol/errors";
import { DIGEST_ALGORITHMS, toHex, type DigestAlgorithm } from "../protocol/digest";
import type { ObjectStore } from "../storage/types";
import { ChunkQueue } from "../streams/chunk-queue";
import { PartReader, readForParts } from "../streams/part-reader";
import type { RegistryDeps } from "./deps";
import { keys } from "./paths";
import type { Sha256State } from "../lib/sha256-state";
import { MAX_PARTS, partNumbers, type MultipartRef, type PartNumbers, type UploadContent } from "./upload-state";

/**
 * The most bytes one request hashes in WebAssembly to carry a chunked upload's SHA-256 (lib/sha256-state.ts, about
 * 3 to 4 ms of CPU per MiB in workerd: 3 to 4 s here). A chunk larger than that drops the carried state: the final PUT
 * then reads the object back through the native digest, instead of a request running into its CPU limit (30 s by
 * default).
 */
export const CARRY_MAX_BYTES = 1024 ** 3;
/** The largest request stored as one object (R2 and S3 take single puts up to 5 GB). */
const MAX_WHOLE_OBJECT = 4 * 1024 ** 3;
/** Read size when streaming a whole object: bounded memory, few reads (see streams/part-reader.ts). */
const WHOLE_READ = 1 << 20;

/** A complete object that holds a whole blob, and its hash when the request that wrote it computed one. */
export interface FinishedObject {
  key: string;
  size: number;
  hash: { algorithm: DigestAlgorithm; hex: string } | null;
}

/**
 * What this request created and has not (yet) handed to the session: deleted or aborted if the request fails or
 * loses the session to another request, so that a loser never touches what the winner published.
 */
export class Scratch {
  private objects: string[] = [];
  private multiparts: MultipartRef[] = [];
  constructor(private readonly store: ObjectStore) {}

  newObjectKey(): string {
    const key = keys.blobData(crypto.randomUUID());
    this.objects.push(key);
    return key;
  }
  newTailKey(uploadId: string): string {
    const key = keys.uploadTail(uploadId, crypto.randomUUID());
    this.objects.push(key);
    return key;
  }
  async newMultipart(): Promise<MultipartRef> {
    const key = keys.blobData(crypto.randomUUID());
    const ref: MultipartRef = { key, uploadId: await this.store.createMultipart(key), etags: [], parts: [] };
    this.multiparts.push(ref);
    return ref;
  }
  /** The multipart upload was completed into its object (which is now an object of ours). */
  completed(ref: MultipartRef): void {
    this.multiparts = this.multiparts.filter((m) => m !== ref);
    this.objects.push(ref.key);
  }
  /** Hands everything over: it is published (or committed), no longer ours to delete. */
  keep(): void {
    this.objects = [];
    this.multiparts = [];
  }
  /** Deletes what was created. Best effort: a leftover is garbage no state names, never wrong data. */
  async discard(): Promise<void> {
    const objects = this.objects;
    const multiparts = this.multiparts;
    this.keep();
    await Promise.all(multiparts.map((m) => this.store.abortMultipart(m.key, m.uploadId).catch(() => {})));
    if (objects.length) await this.store.delete(objects).catch(() => {});
  }
}

function bodyBroke(err: unknown): unknown {
  // A body that breaks off is the client's failure; storage failures surface as StorageError.
  if (err instanceof RegistryError || (err as Error)?.name === "StorageError") return err;
  return new RegistryError("BLOB_UPLOAD_INVALID", "the request body ended unexpectedly");
}

/**
 * A request body larger than the edge lets through (MAX_REQUEST_BODY_MB). Cloudflare refuses it with an HTML page
 * before the worker runs; the worker refuses it the same way locally, with a JSON error that says what to do.
 */
export function bodyTooLarge(limit: number): RegistryError {
  return new RegistryError(
    "SIZE_INVALID",
    `request body larger than ${limit} bytes, the most this registry accepts in one request (MAX_REQUEST_BODY_MB=${limit / 1_000_000}): ` +
      "push with `npx skiff push SOURCE DEST` (it splits large layers, or uploads them straight to the bucket), " +
      `or send PATCH chunks of at most ${limit} bytes (OCI-Chunk-Max-Length), ` +
      "or raise the limit (Cloudflare Enterprise) and MAX_REQUEST_BODY_MB with it",
    { limit },
    { status: 413 },
  );
}

/**
 * How much of a body past the limit is read and dropped before the 413. A client still sending when the answer
 * comes loses it to the connection's reset (docker then prints "unexpected end of JSON input" instead of the
 * message); drained, it reads the answer. Bounded, so an endless body costs a bounded amount of reading.
 */
const DRAIN_MAX = 1024 ** 3;

/** A body announced (Content-Length or Content-Range) larger than the limit: refused before a byte is read. */
export function checkDeclaredLength(deps: RegistryDeps, length: number | undefined): void {
  const limit = deps.settings.maxRequestBodyBytes;
  if (length !== undefined && length > limit) throw bodyTooLarge(limit);
}

function sizeMismatch(received: number, expected: number): RegistryError {
  return new RegistryError("SIZE_INVALID", `received ${received > expected ? "more than " + expected : received} bytes, expected ${expected}`);
}

/**
 * Streams a body of known length into one new object, hashing exactly the bytes stored. The body is pulled by the
 * store: if storage fails, nothing is left waiting on a pipe; if the body fails or is too long, the put fails.
 */
async function putStreamHashed(store: ObjectStore, key: string, body: ReadableStream<Uint8Array>, length: number): Promise<string> {
  const digest = new crypto.DigestStream("SHA-256");
  digest.digest.catch(() => {}); // rejects when the hash is aborted; awaited only on success
  const hasher = digest.getWriter();
  const reader = new PartReader(body, WHOLE_READ);
  let received = 0;
  let failure: unknown;
  const source = new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        try {
          const piece = await reader.next();
          if (!piece) {
            if (received !== length) throw sizeMismatch(received, length);
            controller.close();
            return;
          }
          received += piece.byteLength;
          if (received > length) throw sizeMismatch(received, length);
          await hasher.write(piece);
          controller.enqueue(piece);
        } catch (err) {
          failure ??= bodyBroke(err);
          controller.error(failure);
        }
      },
      cancel: () => reader.cancel(),
    },
    { highWaterMark: 0 },
  );
  try {
    await store.put(key, source, { length });
    if (failure) throw failure; // a store that swallowed the stream's error must not pass for a success
  } catch (err) {
    await hasher.abort(err).catch(() => {});
    throw failure ?? err;
  } finally {
    await reader.cancel();
  }
  await hasher.close();
  return toHex(await digest.digest);
}

function tooManyParts(partSize: number): RegistryError {
  return new RegistryError("SIZE_INVALID", `blob too large: an upload holds at most ${MAX_PARTS} parts of ${partSize} bytes`, undefined, { status: 413 });
}

/**
 * Cuts bytes into parts of exactly `partSize` bytes and writes each into a multipart upload (created on the first
 * full part) as soon as it is full; at most one part in flight. Bytes past the last full part stay buffered.
 * Parts go to the numbers in `numbers` only: all of them in a multipart upload this request created, the ones it
 * reserved in the session state in the session's shared one (uploads.ts), so no two requests write one part number.
 */
export class PartWriter {
  private inflight: Promise<void> = Promise.resolve();
  private readonly queue = new ChunkQueue();
  readonly numbers: PartNumbers;
  constructor(
    private readonly store: ObjectStore,
    private readonly scratch: Scratch,
    private readonly partSize: number,
    public multipart: MultipartRef | null,
    numbers?: PartNumbers,
  ) {
    if (multipart && !numbers) throw new Error("PartWriter: parts of an existing multipart upload need reserved part numbers");
    this.numbers = numbers ? { ...numbers } : { next: 1, end: MAX_PARTS + 1 };
  }

  /** Bytes held past the last full part. */
  get buffered(): number {
    return this.queue.size;
  }

  async add(bytes: Uint8Array): Promise<void> {
    this.queue.push(bytes);
    while (this.queue.size >= this.partSize) await this.write(this.queue.take(this.partSize));
  }

  /** Removes and returns the buffered bytes. */
  takeRest(): Uint8Array {
    return this.queue.takeAll();
  }

  get parts(): number {
    return this.multipart?.etags.length ?? 0;
  }

  async write(part: Uint8Array): Promise<void> {
    // Past its numbers a request with a known length never gets (uploads.ts reserves what its length needs); one
    // without a length reserved what the request body limit allows, or what was left of MAX_PARTS.
    if (this.numbers.next >= this.numbers.end) throw tooManyParts(this.partSize);
    this.multipart ??= await this.scratch.newMultipart();
    await this.inflight; // bound memory: the previous part must be stored before another starts
    const m = this.multipart;
    const index = m.etags.length;
    const partNumber = this.numbers.next++;
    m.etags.push(""); // the etag arrives later
    (m.parts ??= []).push(partNumber);
    const upload = this.store.uploadPart(m.key, m.uploadId, partNumber, part, part.byteLength).then((etag) => {
      m.etags[index] = etag;
    });
    upload.catch(() => {}); // reported by the next write() or flush(); not an unhandled rejection meanwhile
    this.inflight = upload;
  }

  flush(): Promise<void> {
    return this.inflight;
  }
}

/** Stores the last bytes of a blob and completes the multipart upload (or writes one object when there is none). */
export async function finishObject(store: ObjectStore, scratch: Scratch, writer: PartWriter, algorithm: DigestAlgorithm, size: number): Promise<FinishedObject> {
  const rest = writer.takeRest();
  const m = writer.multipart;
  if (!m) {
    // Everything is in memory (less than one part): hash it right here and store it as one new object.
    const key = scratch.newObjectKey();
    const hex = toHex(await crypto.subtle.digest(DIGEST_ALGORITHMS[algorithm].webCrypto, rest));
    await store.put(key, rest, { ifNoneMatch: "*" });
    return { key, size: rest.byteLength, hash: { algorithm, hex } };
  }
  if (rest.byteLength > 0) await writer.write(rest);
  await writer.flush();
  const numbers = partNumbers(m);
  await store.completeMultipart(m.key, m.uploadId, m.etags.map((etag, i) => ({ partNumber: numbers[i], etag })));
  scratch.completed(m);
  return { key: m.key, size, hash: null };
}

/**
 * A request that carries the blob from its first byte. With a known length (skopeo, podman, containerd, POST
 * ?digest=) it streams into one object; without (docker's PATCH) it fills parts and completes them at the end of
 * the request. Either way the result is one complete, immutable object hashed in flight, or null when no byte came.
 */
export async function writeWholeBlob(deps: RegistryDeps, scratch: Scratch, body: ReadableStream<Uint8Array> | null, length: number | undefined, keepEmpty: boolean): Promise<FinishedObject | null> {
  const { store } = deps;
  const partSize = deps.settings.partSize;
  if (!body || length === 0) return keepEmpty ? finishObject(store, scratch, new PartWriter(store, scratch, partSize, null), "sha256", 0) : null;
  if (length !== undefined && length <= MAX_WHOLE_OBJECT) {
    const key = scratch.newObjectKey();
    const hex = await putStreamHashed(store, key, body, length);
    return { key, size: length, hash: { algorithm: "sha256", hex } };
  }
  const limit = deps.settings.maxRequestBodyBytes;
  const digest = new crypto.DigestStream("SHA-256");
  digest.digest.catch(() => {}); // rejects when the hash is aborted; awaited only on success
  const hasher = digest.getWriter();
  const writer = new PartWriter(store, scratch, partSize, null);
  let received = 0;
  try {
    for await (const piece of readForParts(body, partSize, 0)) {
      received += piece.byteLength;
      if (length !== undefined && received > length) throw sizeMismatch(received, length);
      // A body without a length (docker's PATCH) is counted: past the limit, what it wrote is discarded.
      if (received > limit) {
        if (received > limit + DRAIN_MAX) break;
        continue;
      }
      await hasher.write(piece);
      await writer.add(piece);
    }
    if (received > limit) throw bodyTooLarge(limit);
    await writer.flush();
  } catch (err) {
    await writer.flush().catch(() => {});
    await hasher.abort(err).catch(() => {});
    throw bodyBroke(err);
  }
  if (length !== undefined && received !== length) {
    await hasher.abort().catch(() => {});
    throw sizeMismatch(received, length);
  }
  await hasher.close();
  const hex = toHex(await digest.digest);
  if (received === 0 && !keepEmpty) return null;
  const obj = await finishObject(store, scratch, writer, "sha256", received);
  return { key: obj.key, size: received, hash: { algorithm: "sha256", hex } };
}

export interface Received {
  /** Its multipart upload holds the session's full parts (the session's, or a new one of this request); it buffers the rest. */
  writer: PartWriter;
  received: number;
  /** The carried SHA-256 now covering the new bytes too, or null when there is none (or the chunk was too large). */
  hash: Sha256State | null;
}

/**
 * A chunk that continues a session (or starts a chunked one): the session's tail and the new bytes are cut into
 * parts. Content that is one object is first streamed into parts of a new multipart upload, but only once a byte
 * has really arrived (skopeo's and podman's final PUT has an empty body and must not cost a copy).
 *
 * `numbers`: the part numbers reserved for this request in the session's multipart upload (needed when it has one).
 * `hash`: the session's carried SHA-256; it takes the new bytes only, in order, before they go to a part or the
 * tail (the tail bytes read back here were hashed by the request that received them).
 */
export async function receiveChunk(
  deps: RegistryDeps,
  scratch: Scratch,
  content: UploadContent,
  body: ReadableStream<Uint8Array> | null,
  length: number | undefined,
  carry: { numbers?: PartNumbers; hash?: Sha256State | null } = {},
): Promise<Received> {
  const { store } = deps;
  const limit = deps.settings.maxRequestBodyBytes;
  const partSize = content.kind === "chunks" ? content.partSize : deps.settings.partSize;
  // Parts go on in the session's multipart upload; the lists are copied, the session's own stay as loaded.
  const shared = content.kind === "chunks" && content.multipart ? { ...content.multipart, etags: [...content.multipart.etags], parts: partNumbers(content.multipart) } : null;
  const writer = new PartWriter(store, scratch, partSize, shared, carry.numbers);
  // An object's bytes were never in a carried state: such a session is read back when it completes.
  let hash = content.kind === "object" || (length !== undefined && length > CARRY_MAX_BYTES) ? null : (carry.hash ?? null);
  if (content.kind === "chunks" && content.tail) {
    const tail = await store.get(content.tail.key);
    if (!tail || tail.size !== content.tail.size) throw new RegistryError("BLOB_UPLOAD_INVALID", "upload state is inconsistent; restart the upload");
    await writer.add(new Uint8Array(await new Response(tail.body).arrayBuffer()));
  }
  let pendingObject = content.kind === "object" ? content : null;
  let received = 0;
  try {
    if (body) {
      for await (const piece of readForParts(body, partSize, writer.buffered)) {
        if (pendingObject) {
          const stored = await store.get(pendingObject.key);
          if (!stored || stored.size !== pendingObject.size) throw new RegistryError("BLOB_UPLOAD_INVALID", "upload state is inconsistent; restart the upload");
          pendingObject = null;
          for await (const old of readForParts(stored.body, partSize, 0)) await writer.add(old);
        }
        received += piece.byteLength;
        if (length !== undefined && received > length) throw sizeMismatch(received, length);
        if (received > limit) {
          if (received > limit + DRAIN_MAX) break;
          continue;
        }
        if (hash && received > CARRY_MAX_BYTES) hash = null;
        hash?.update(piece); // `piece` is a fresh buffer nothing writes after (part-reader.ts): the bytes stored
        await writer.add(piece);
      }
    }
    if (received > limit) throw bodyTooLarge(limit);
    await writer.flush();
  } catch (err) {
    await writer.flush().catch(() => {});
    throw bodyBroke(err);
  }
  if (length !== undefined && received !== length) throw sizeMismatch(received, length);
  return { writer, received, hash };
}

/**
 * A completed object verified by its carried hash is not read back; its size still must be the upload's (the size
 * its blob record will carry): one HEAD.
 */
export async function checkStoredSize(store: ObjectStore, key: string, size: number): Promise<void> {
  const info = await store.head(key);
  if (!info) throw new RegistryError("BLOB_UPLOAD_INVALID", "uploaded data is missing; restart the upload");
  if (info.size !== size) throw new RegistryError("BLOB_UPLOAD_INVALID", `uploaded data is ${info.size} bytes, not the ${size} the upload holds; restart the upload`);
}

/**
 * Hashes a complete object by reading it back through the native digest, in 1 MiB reads (BYOB readAtLeast, also on
 * S3 response bodies): piping the body would read it in 4 KiB chunks, 256 promise round trips and hash writes per MiB.
 * With `size`, the object must be exactly that long (the size the blob record will carry). Overlapping ranged GETs
 * (2 to 4 in flight, 4 to 16 MiB each) read no faster than this one GET on the local RGW: the read-back is bound by
 * the storage server's CPU, not by round trips (measured, bench/chunked-upload.ts and docs/architecture.md "Uploads").
 * (Under wrangler dev, reading an S3 response body also leaves one socket per 4 KiB open in workerd whatever the
 * read size: docs/testing.md, "S3 bodies under wrangler dev".)
 */
export async function hashStored(store: ObjectStore, key: string, algorithm: DigestAlgorithm, size?: number): Promise<string> {
  const obj = await store.get(key);
  if (!obj) throw new RegistryError("BLOB_UPLOAD_INVALID", "uploaded data is missing; restart the upload");
  if (size !== undefined && obj.size !== size) {
    await obj.body.cancel().catch(() => {});
    throw new RegistryError("BLOB_UPLOAD_INVALID", `uploaded data is ${obj.size} bytes, not the ${size} the upload holds; restart the upload`);
  }
  const ds = new crypto.DigestStream(DIGEST_ALGORITHMS[algorithm].webCrypto as "SHA-256");
  ds.digest.catch(() => {}); // rejects when the hash is aborted; awaited only on success
  const hasher = ds.getWriter();
  const reader = new PartReader(obj.body, WHOLE_READ);
  try {
    for (let piece = await reader.next(); piece; piece = await reader.next()) await hasher.write(piece);
  } catch (err) {
    await hasher.abort(err).catch(() => {});
    throw err;
  } finally {
    await reader.cancel();
  }
  await hasher.close();
  return toHex(await ds.digest);
}
