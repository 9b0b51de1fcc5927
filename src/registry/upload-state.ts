// Upload sessions as stored in the bucket, and the compare-and-swap that orders every request on one session.
//
// The state names the objects that hold the session's bytes. Every such object is written once, at a key chosen at
// random by the request that writes it, and becomes part of the session only through a compare-and-swap on the
// state's etag. So a request never overwrites bytes another request published, and the one request that wins the
// state's current etag for a terminal step (complete or cancel) is the only one that may complete, commit or delete
// what the state names. The argument is in docs/architecture.md ("Why a digest always serves its bytes").
import { RegistryError } from "../protocol/errors";
import { keys } from "./paths";
import type { RegistryDeps } from "./deps";

const UPLOAD_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** Most parts in one multipart upload (R2 and S3): with 16 MiB parts, blobs of up to 156 GiB. */
export const MAX_PARTS = 10_000;

/**
 * A multipart upload at its own key and the parts that hold the session's bytes, in order: every part but the last
 * is `partSize` bytes.
 */
export interface MultipartRef {
  key: string;
  uploadId: string;
  /** The parts' etags, in byte order. */
  etags: string[];
  /**
   * Their part numbers, ascending, one per etag. Absent in a session saved before part numbers were reserved: 1..n.
   * There may be gaps: numbers a request reserved and never published (it failed, or lost the session) stay unused
   * for good, so no part number is ever written by two requests (docs/uploads-hash-state.md).
   */
  parts?: number[];
}

/** Part numbers [next, end) that one request may write into a multipart upload; `next` advances as it writes. */
export interface PartNumbers {
  next: number;
  end: number;
}

/** A write-once object holding the bytes past the last full part. */
export interface TailRef {
  key: string;
  size: number;
}

/** What the session holds so far. */
export type UploadContent =
  /** No byte yet. */
  | { kind: "empty" }
  /**
   * One complete object holding every byte. `sha256` is set when the request that wrote the object hashed exactly
   * the bytes it stored, in flight: the object was private to that request until complete, and nothing can write it
   * afterwards, so the hash stays true.
   */
  | { kind: "object"; key: string; size: number; sha256: string | null }
  /**
   * A chunked upload: full parts in a multipart upload (none yet: null), the rest in a tail object. `nextPart` is the
   * first part number nobody has reserved (absent: the one after the last published part). `sha256` is the saved
   * SHA-256 state (lib/sha256-state.ts) of exactly the session's bytes, kept by every request that added bytes; absent,
   * the completed object is read back instead (docs/uploads-hash-state.md).
   */
  | { kind: "chunks"; partSize: number; multipart: MultipartRef | null; tail: TailRef | null; nextPart?: number; sha256?: string }
  /**
   * A multipart upload at its own key whose parts the client PUTs straight to storage through presigned URLs
   * (direct-uploads.ts). Storage's part listing is the truth about its bytes; they are trusted only after the
   * upload is completed and the object read back.
   */
  | { kind: "direct"; key: string; uploadId: string; partSize: number };

export interface UploadState {
  v: 2;
  id: string;
  repo: string;
  /** Who opened the session (token subject), or null for anonymous; only they may continue it. */
  owner: string | null;
  createdAt: number;
  content: UploadContent;
}

/**
 * What a terminal step leaves in place of the state until it has cleaned up: the session is over. It keeps the
 * content: between the claim and the commit (a read-back of a large blob takes minutes) nothing else names the
 * session's objects, and garbage collection frees data no state and no record names (docs/gc.md §5).
 */
export interface EndedState {
  v: 2;
  id: string;
  ended: "complete" | "cancel" | "failed" | "expired";
  /** When the session ended (ms): its request may still be committing; the garbage collector ages markers by it. */
  endedAt: number;
  repo: string;
  createdAt: number;
  content: UploadContent;
}

/** A stored `uploads/<id>/state`, live or ended, as garbage collection reads it. */
export interface StoredUpload {
  id: string;
  /** Why the session ended; null while it is open. */
  ended: string | null;
  /** When the session began; null for an ended marker written before markers kept it. */
  createdAt: number | null;
  /** When the session ended (ended markers only; null before markers kept it). */
  endedAt: number | null;
  /** What the session names; null for an ended marker written before markers kept it. */
  content: UploadContent | null;
}

const isTime = (v: unknown): v is number => typeof v === "number" && Number.isSafeInteger(v) && v >= 0;

/** The stored state text as garbage collection needs it, or null when it is no session state. */
export function readStoredUpload(text: string): StoredUpload | null {
  let s: Record<string, unknown>;
  try {
    s = JSON.parse(text);
  } catch {
    return null;
  }
  if (!s || typeof s !== "object" || s.v !== 2 || typeof s.id !== "string") return null;
  const content = s.content && typeof s.content === "object" && typeof (s.content as { kind?: unknown }).kind === "string" ? (s.content as UploadContent) : null;
  const ended = "ended" in s ? String(s.ended) : null;
  if (ended === null && (!content || !isTime(s.createdAt))) return null;
  return { id: s.id, ended, createdAt: isTime(s.createdAt) ? s.createdAt : null, endedAt: isTime(s.endedAt) ? s.endedAt : null, content };
}

/**
 * Every key under `data/` or `uploads/` the content names, including a multipart upload's own key (its object once
 * completed, by a request that may still be committing it): what the orphan sweep must keep.
 */
export function namedObjects(content: UploadContent): string[] {
  const named = contentObjects(content);
  if (content.kind === "chunks" && content.multipart) named.push(content.multipart.key);
  if (content.kind === "direct") named.push(content.key);
  return named;
}

export interface UploadSession {
  state: UploadState;
  /** Etag of the stored state, for compare-and-swap; undefined for a session that is never stored (POST ?digest=). */
  etag?: string;
}

/** Bytes the session holds. */
export function uploadOffset(content: UploadContent): number {
  switch (content.kind) {
    case "empty":
      return 0;
    case "object":
      return content.size;
    case "chunks":
      return (content.multipart?.etags.length ?? 0) * content.partSize + (content.tail?.size ?? 0);
    case "direct":
      return 0; // the bytes went past the worker: the parts listing says what storage holds
  }
}

/** Every object the content names (to delete when the session ends without a blob). */
export function contentObjects(content: UploadContent): string[] {
  switch (content.kind) {
    case "empty":
      return [];
    case "object":
      return [content.key];
    case "chunks":
      return content.tail ? [content.tail.key] : [];
    case "direct":
      return []; // no object until completed; ending the session aborts the multipart upload instead
  }
}

function inconsistent(): RegistryError {
  return new RegistryError("BLOB_UPLOAD_INVALID", "upload state is inconsistent; restart the upload");
}

/** The part numbers of a multipart upload's published parts (ascending, in 1..MAX_PARTS), or an error. */
export function partNumbers(m: MultipartRef): number[] {
  const numbers = m.parts ?? m.etags.map((_, i) => i + 1);
  const ok =
    Array.isArray(numbers) &&
    numbers.length === m.etags.length &&
    numbers.every((n, i) => Number.isSafeInteger(n) && n >= 1 && n <= MAX_PARTS && (i === 0 || n > numbers[i - 1]));
  if (!ok) throw inconsistent();
  return numbers;
}

/** The first part number of a chunked session that nobody has reserved. */
export function nextPartNumber(content: Extract<UploadContent, { kind: "chunks" }>): number {
  const numbers = content.multipart ? partNumbers(content.multipart) : [];
  const after = (numbers[numbers.length - 1] ?? 0) + 1;
  const next = content.nextPart ?? after;
  if (!Number.isSafeInteger(next) || next < after || next > MAX_PARTS + 1) throw inconsistent();
  return next;
}

export function newUploadState(repo: string, owner: string | null): UploadState {
  return { v: 2, id: crypto.randomUUID(), repo, owner, createdAt: Date.now(), content: { kind: "empty" } };
}

function unknownUpload(id: string): never {
  throw new RegistryError("BLOB_UPLOAD_UNKNOWN", `upload ${JSON.stringify(id.slice(0, 80))} unknown`);
}

export function concurrentChange(): RegistryError {
  return new RegistryError("BLOB_UPLOAD_INVALID", "the upload was changed by a concurrent request; check its status and retry");
}

export async function startUpload(deps: RegistryDeps, repo: string, owner: string | null): Promise<UploadSession> {
  const state = newUploadState(repo, owner);
  const saved = await deps.store.put(keys.uploadState(state.id), JSON.stringify(state), { contentType: "application/json", ifNoneMatch: "*" });
  if (!saved) throw concurrentChange(); // a random UUID that exists already: practically never
  return { state, etag: saved.etag };
}

/** Loads a session; it must belong to `repo` and `owner` (both checked, so a session id alone grants nothing). */
export async function loadUpload(deps: RegistryDeps, repo: string, id: string, owner: string | null): Promise<UploadSession> {
  if (!UPLOAD_ID.test(id)) unknownUpload(id);
  const obj = await deps.store.get(keys.uploadState(id));
  if (!obj) unknownUpload(id);
  let state: UploadState | EndedState;
  try {
    state = JSON.parse(await new Response(obj.body).text());
  } catch {
    unknownUpload(id);
  }
  if (state?.v !== 2 || "ended" in state || state.id !== id || state.repo !== repo || state.owner !== owner) unknownUpload(id);
  if (Date.now() - state.createdAt > deps.settings.uploadTtlMs) unknownUpload(id);
  return { state, etag: obj.etag };
}

/**
 * Stores `content` as the session's new content if nobody changed the session since it was loaded. Returns false
 * when another request got there first (the caller then drops what it wrote and leaves the state alone).
 */
export async function publishContent(deps: RegistryDeps, session: UploadSession, content: UploadContent): Promise<boolean> {
  const next: UploadState = { ...session.state, content };
  const saved = await deps.store.put(keys.uploadState(next.id), JSON.stringify(next), {
    contentType: "application/json",
    ...(session.etag ? { ifMatch: session.etag } : { ifNoneMatch: "*" }),
  });
  if (!saved) return false;
  session.state = next;
  session.etag = saved.etag;
  return true;
}

/**
 * Ends the session for this request alone: replaces the state it loaded with an ended marker, if nobody changed it.
 * Only the request that wins may complete, commit or delete what the state names. A session never stored (POST
 * ?digest=) is always this request's own.
 */
export async function claimUpload(deps: RegistryDeps, session: UploadSession, why: EndedState["ended"]): Promise<boolean> {
  if (!session.etag) return true;
  const { id, repo, createdAt, content } = session.state;
  const ended: EndedState = { v: 2, id, ended: why, endedAt: Date.now(), repo, createdAt, content };
  const saved = await deps.store.put(keys.uploadState(ended.id), JSON.stringify(ended), { contentType: "application/json", ifMatch: session.etag });
  if (!saved) return false;
  session.etag = saved.etag;
  return true;
}

/** Removes an ended session's state (after its owner cleaned up; a leftover marker is just an unknown upload). */
export async function forgetUpload(deps: RegistryDeps, session: UploadSession): Promise<void> {
  if (session.etag) await deps.store.delete(keys.uploadState(session.state.id));
}
