// Blob upload operations: a session's chunks appended, its blob verified and committed, or the session cancelled.
//
// A request's bytes are stored by the pipeline in upload-bytes.ts, in objects private to that request; they become
// the session's only through a compare-and-swap on its state (upload-state.ts). Only the request that won the
// session's last state may complete, verify and commit its blob, and what it hashes is an object nothing can write
// any more.
import { RegistryError } from "../protocol/errors";
import { formatDigest, type Digest } from "../protocol/digest";
import type { ObjectStore } from "../storage/types";
import { commitBlob, type BlobLocation } from "./blobs";
import type { RegistryDeps } from "./deps";
import { Sha256State } from "../lib/sha256-state";
import { Scratch, checkDeclaredLength, checkStoredSize, finishObject, hashStored, receiveChunk, writeWholeBlob, type FinishedObject, type Received } from "./upload-bytes";
import { abortDirect, completeDirect, refuseChunkOnDirect } from "./direct-uploads";
import {
  claimUpload,
  concurrentChange,
  contentObjects,
  forgetUpload,
  loadUpload,
  MAX_PARTS,
  namedObjects,
  newUploadState,
  nextPartNumber,
  partNumbers,
  publishContent,
  uploadOffset,
  type PartNumbers,
  type UploadContent,
  type UploadSession,
} from "./upload-state";

export { startUpload, loadUpload, type UploadSession, type UploadState } from "./upload-state";

/** Deletes objects a published state no longer names (best effort: leftovers are garbage, never wrong data). */
async function dropSuperseded(store: ObjectStore, before: UploadContent, after: UploadContent): Promise<void> {
  const kept = new Set(contentObjects(after));
  const gone = contentObjects(before).filter((k) => !kept.has(k));
  if (gone.length) await store.delete(gone).catch(() => {});
}

/**
 * Garbage collection frees a data object that no state and no record names once it is older than its grace window
 * G (docs/gc.md §6 (b)). So a request that wrote an object itself must publish or commit it within G/2 of starting,
 * or give it up: a request that slow is broken anyway.
 */
function checkWithinGrace(deps: RegistryDeps, startedAt: number): void {
  const limit = deps.settings.graceMs / 2;
  if (Date.now() - startedAt <= limit) return;
  throw new RegistryError(
    "UNAVAILABLE",
    `this request ran longer than ${Math.round(limit / 60_000)} minutes (half of GC_GRACE_HOURS), so the bytes it stored were discarded: send them again`,
  );
}

/** A chunk must start where the session's bytes end (when the client said where it starts); 416 otherwise. */
function requireContinuation(session: UploadSession, start: number | undefined): void {
  const offset = uploadOffset(session.state.content);
  if (start !== undefined && start !== offset) {
    throw new RegistryError("BLOB_UPLOAD_INVALID", `chunk starts at ${start}, but the upload has ${offset} bytes`, undefined, { status: 416 });
  }
}

/**
 * The SHA-256 carried in the session for the bytes it holds: a new one for a session with no byte yet, the saved
 * state of a chunked session (it must cover exactly the session's bytes), or null (the object is read back at the end).
 */
function carriedHash(content: UploadContent): Sha256State | null {
  if (content.kind === "empty") return Sha256State.fresh();
  if (content.kind !== "chunks" || content.sha256 === undefined) return null;
  const hash = Sha256State.restore(content.sha256);
  return hash && hash.length === uploadOffset(content) ? hash : null;
}

/** Whether two contents hold the same bytes in the same objects (they may differ in reserved part numbers only). */
function sameBytes(a: UploadContent, b: UploadContent): boolean {
  if (a.kind !== "chunks" || b.kind !== "chunks" || a.partSize !== b.partSize || a.sha256 !== b.sha256) return false;
  if (a.tail?.key !== b.tail?.key || a.tail?.size !== b.tail?.size) return false;
  if (!a.multipart || !b.multipart) return a.multipart === b.multipart;
  return (
    a.multipart.key === b.multipart.key &&
    a.multipart.uploadId === b.multipart.uploadId &&
    a.multipart.etags.join() === b.multipart.etags.join() &&
    partNumbers(a.multipart).join() === partNumbers(b.multipart).join()
  );
}

/**
 * Reserves, by compare-and-swap on the session state and BEFORE any part is written, the part numbers for the parts
 * this request will add to the session's multipart upload: exactly what its length fills (the final PUT also stores
 * the rest as the last part), or what the request body limit allows when it has no length. So no two requests ever
 * write one part number, and a part that a request wrote but never published (it failed, or lost the session) is
 * never listed at completion: completion checks only a part's etag (its MD5), which a second request could match
 * with other bytes, and the carried SHA-256 would never have seen them. Returns undefined when the session has no
 * multipart upload yet (the request creates its own, private until published). A request that loses the swap to a
 * request that only reserved tries again with fresh numbers; to one that added bytes, it gives up.
 */
async function reserveParts(deps: RegistryDeps, session: UploadSession, length: number | undefined, final: boolean): Promise<PartNumbers | undefined> {
  for (let attempt = 0; ; attempt++) {
    const content = session.state.content;
    if (content.kind !== "chunks" || !content.multipart) return undefined;
    const next = nextPartNumber(content);
    const bytes = (content.tail?.size ?? 0) + (length ?? deps.settings.maxRequestBodyBytes);
    let count = final ? Math.ceil(bytes / content.partSize) : Math.floor(bytes / content.partSize);
    const left = MAX_PARTS + 1 - next;
    if (count > left) {
      if (length !== undefined || left === 0) {
        throw new RegistryError(
          "SIZE_INVALID",
          `blob too large: an upload holds at most ${MAX_PARTS} parts of ${content.partSize} bytes, and this one has ${left} left`,
          { partsLeft: left },
          { status: 413 },
        );
      }
      count = left; // no length: the body may still fit; past these numbers the writer refuses it
    }
    if (count === 0) return { next, end: next }; // it all stays in the tail: nothing to reserve, no storage call
    if (await publishContent(deps, session, { ...content, nextPart: next + count })) return { next, end: next + count };
    if (attempt === 2) throw concurrentChange();
    const fresh = await loadUpload(deps, session.state.repo, session.state.id, session.state.owner);
    if (!sameBytes(content, fresh.state.content)) throw concurrentChange();
    session.state = fresh.state;
    session.etag = fresh.etag;
  }
}

/** PATCH: appends a chunk. `start` is the Content-Range start when the client sent one. */
export async function appendChunk(
  deps: RegistryDeps,
  session: UploadSession,
  body: ReadableStream<Uint8Array> | null,
  opts: { start?: number; length?: number } = {},
): Promise<void> {
  const startedAt = Date.now();
  requireContinuation(session, opts.start);
  checkDeclaredLength(deps, opts.length);
  if (session.state.content.kind === "direct") refuseChunkOnDirect();
  const whole = session.state.content.kind === "empty" && opts.start === undefined;
  const numbers = whole ? undefined : await reserveParts(deps, session, opts.length, false);
  const before = session.state.content;
  const scratch = new Scratch(deps.store);
  try {
    let next: UploadContent;
    if (whole) {
      const obj = await writeWholeBlob(deps, scratch, body, opts.length, false);
      if (!obj) return;
      next = { kind: "object", key: obj.key, size: obj.size, sha256: obj.hash?.algorithm === "sha256" ? obj.hash.hex : null };
    } else {
      const r = await receiveChunk(deps, scratch, before, body, opts.length, { numbers, hash: carriedHash(before) });
      if (r.received === 0) {
        // Numbers reserved for a body without a length that brought nothing: given back if nobody moved since.
        if (numbers && before.kind === "chunks" && numbers.end > numbers.next) await publishContent(deps, session, { ...before, nextPart: numbers.next }).catch(() => false);
        return;
      }
      const rest = r.writer.takeRest();
      let tail = null;
      if (rest.byteLength > 0) {
        tail = { key: scratch.newTailKey(session.state.id), size: rest.byteLength };
        await deps.store.put(tail.key, rest, { ifNoneMatch: "*" });
      }
      const partSize = before.kind === "chunks" ? before.partSize : deps.settings.partSize;
      const m = r.writer.multipart;
      next = { kind: "chunks", partSize, multipart: m, tail };
      // Numbers reserved but not written (a body without a length) are released: nobody else could have written them.
      if (m) next.nextPart = r.writer.numbers.next;
      if (r.hash && r.hash.length === uploadOffset(next)) next.sha256 = r.hash.save();
    }
    checkWithinGrace(deps, startedAt);
    if (!(await publishContent(deps, session, next))) throw concurrentChange();
    scratch.keep();
    await dropSuperseded(deps.store, before, next);
  } catch (err) {
    await scratch.discard();
    throw err;
  }
}

/**
 * PUT ?digest=: takes the last chunk (if any), wins the session, makes the final object, verifies the digest of
 * exactly that object and commits it. On a digest mismatch nothing becomes visible and the session ends.
 */
export async function completeUpload(
  deps: RegistryDeps,
  session: UploadSession,
  digest: Digest,
  body: ReadableStream<Uint8Array> | null,
  opts: { length?: number; start?: number } = {},
): Promise<BlobLocation> {
  const { store } = deps;
  const startedAt = Date.now();
  requireContinuation(session, opts.start);
  checkDeclaredLength(deps, opts.length);
  const loaded = session.state.content;
  if (loaded.kind === "direct") {
    await requireEmptyBody(body, opts.length);
    return completeDirect(deps, session, loaded, digest);
  }
  const whole = loaded.kind === "empty" && opts.start === undefined;
  const numbers = whole ? undefined : await reserveParts(deps, session, opts.length, true);
  const before = session.state.content; // as reserved: the same objects, the reserved part numbers
  const scratch = new Scratch(store);
  let committed = false;
  try {
    // 1. The last bytes: a blob in one request becomes one finished object now; a chunk goes into parts.
    let finished: FinishedObject | null = null;
    let received: Received | null = null;
    if (whole) {
      finished = await writeWholeBlob(deps, scratch, body, opts.length, true);
    } else {
      received = await receiveChunk(deps, scratch, before, body, opts.length, { numbers, hash: carriedHash(before) });
      if (received.received === 0 && before.kind === "object") {
        received = null;
        finished = { key: before.key, size: before.size, hash: before.sha256 ? { algorithm: "sha256", hex: before.sha256 } : null };
      }
    }
    // 2. Win the session: from here on this request alone may complete, commit or delete what the state names.
    if (!(await claimUpload(deps, session, "complete"))) throw concurrentChange();
    const owned = contentObjects(before);
    // 3. The final object, immutable from now on.
    if (received) {
      const size = received.writer.multipart ? uploadOffset(before) + received.received : received.writer.buffered;
      finished = await finishObject(store, scratch, received.writer, digest.algorithm, size);
      // The carried SHA-256 saw every byte of the parts listed at completion, in order, and nothing else could write
      // them (reserved part numbers): no read-back, but the object must still be exactly as long as the upload.
      const carried = received.hash;
      if (!finished.hash && carried && digest.algorithm === "sha256" && carried.length === size) {
        await checkStoredSize(store, finished.key, size);
        finished = { ...finished, hash: { algorithm: "sha256", hex: carried.digestHex() } };
      }
    }
    const obj = finished!;
    // 4. Verify exactly that object: its in-flight hash, or a read-back.
    const actual = obj.hash?.algorithm === digest.algorithm ? obj.hash.hex : await hashStored(store, obj.key, digest.algorithm, obj.size);
    if (actual !== digest.hex) {
      await store.delete([...new Set([obj.key, ...owned])]).catch(() => {});
      await forgetUpload(deps, session).catch(() => {});
      throw new RegistryError("DIGEST_INVALID", `content digest is ${digest.algorithm}:${actual}, not ${formatDigest(digest)}`, {
        expected: formatDigest(digest),
        actual: `${digest.algorithm}:${actual}`,
      });
    }
    // 5. An object this request wrote itself (none of the session's) is named by nothing until the commit: only
    //    within the time bound the orphan sweep relies on.
    if (!namedObjects(before).includes(obj.key)) {
      try {
        checkWithinGrace(deps, startedAt);
      } catch (err) {
        await store.delete([...new Set([obj.key, ...owned])]).catch(() => {});
        await forgetUpload(deps, session).catch(() => {});
        throw err;
      }
    }
    // 6. Commit (from its first write on, the object is never deleted here: a half-made commit may name it), then
    //    clean up what the session held besides the blob's object.
    scratch.keep();
    committed = true;
    const blob = await commitBlob(deps, session.state.repo, digest, obj.size, obj.key);
    const leftovers = owned.filter((k) => k !== obj.key);
    if (leftovers.length) await store.delete(leftovers).catch(() => {});
    await forgetUpload(deps, session).catch(() => {});
    return blob;
  } catch (err) {
    if (!committed) await scratch.discard();
    throw err;
  }
}

/** A direct upload's bytes are in its parts: the PUT that completes it carries none. */
async function requireEmptyBody(body: ReadableStream<Uint8Array> | null, length: number | undefined): Promise<void> {
  const refuse = () => new RegistryError("BLOB_UPLOAD_INVALID", "this upload's bytes are in its parts: complete it with PUT ?digest= and an empty body");
  if (!body || length === 0) return;
  if (length !== undefined) throw refuse();
  const reader = body.getReader(); // no length: only the first byte tells
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return;
    if (value.byteLength > 0) {
      await reader.cancel().catch(() => {});
      throw refuse();
    }
  }
}

/** POST ?digest=: the whole blob in one request, with no stored session. */
export async function uploadMonolithic(deps: RegistryDeps, repo: string, owner: string | null, digest: Digest, body: ReadableStream<Uint8Array> | null, length?: number): Promise<BlobLocation> {
  const session: UploadSession = { state: newUploadState(repo, owner) };
  return completeUpload(deps, session, digest, body, { length });
}

/** DELETE: cancels the session and frees what it stored, once it has won the session from any concurrent request. */
export async function cancelUpload(deps: RegistryDeps, repo: string, id: string, owner: string | null): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    const session = await loadUpload(deps, repo, id, owner); // an ended session is unknown: 404
    if (await claimUpload(deps, session, "cancel")) {
      const c = session.state.content;
      if (c.kind === "chunks" && c.multipart) await deps.store.abortMultipart(c.multipart.key, c.multipart.uploadId).catch(() => {});
      if (c.kind === "direct") await abortDirect(deps, c).catch(() => {});
      const objects = contentObjects(c);
      if (objects.length) await deps.store.delete(objects);
      await forgetUpload(deps, session);
      return;
    }
    if (attempt === 3) throw concurrentChange();
  }
}
