// The blob record `blobs/<alg>/<hex>` and its states. Conditional writes on this one key are the only
// synchronisation between pushes and garbage collection (docs/gc.md §2):
//   live  the bytes at `data` serve the digest
//   tomb  the sweep believes nothing references it: GET still serves it, HEAD and mount say unknown, a manifest
//         PUT that references it revives it by compare-and-swap
//   dead  the sweep won the compare-and-swap and deletes (or deleted) `data`; final for that data key
// Only the sweep moves live → tomb and tomb → dead. A new upload replaces a tomb or dead record with a fresh live
// one naming its own data object, never the old one.
import type { Digest } from "../protocol/digest";
import type { ObjectInfo, ObjectStore } from "../storage/types";
import { keys } from "./paths";

export type BlobState = "live" | "tomb" | "dead";

export interface BlobRecord {
  digest: Digest;
  size: number;
  /** Key of the object holding the bytes. */
  dataKey: string;
  state: BlobState;
  /**
   * When the record was created or last revived (ms since epoch): the grace window starts here. Records written
   * before GC existed have none; their storage time (`uploaded`) stands in.
   */
  at: number | null;
  /** When and by which GC run the record was tombstoned (tomb and dead only). */
  tombAt?: number;
  run?: string;
  /** The stored version, for compare-and-swap. */
  etag: string;
  /** Storage's write time of this version (ms), when known. */
  uploaded?: number;
}

/** The fields a record version is written with. */
export type RecordFields = Pick<BlobRecord, "size" | "dataKey" | "state" | "at" | "tombAt" | "run">;

export function recordMetadata(r: RecordFields): Record<string, string> {
  const m: Record<string, string> = { size: String(r.size), data: r.dataKey };
  if (r.at !== null) m.at = String(r.at);
  if (r.state !== "live") m.state = r.state;
  // Metadata names are lower-case: S3 sends them as x-amz-meta-* headers, which it lower-cases.
  if (r.tombAt !== undefined) m["tomb-at"] = String(r.tombAt);
  if (r.run !== undefined) m.run = r.run;
  return m;
}

function optionalInt(text: string | undefined): number | undefined {
  if (text === undefined || !/^\d{1,16}$/.test(text)) return undefined;
  return Number(text);
}

/** The record from its stored info, or null when the metadata is not a record's. */
export function parseRecord(digest: Digest, info: ObjectInfo): BlobRecord | null {
  const m = info.metadata;
  const size = optionalInt(m.size);
  if (!m.data || size === undefined) return null;
  const state: BlobState = m.state === "tomb" || m.state === "dead" ? m.state : "live";
  return {
    digest,
    size,
    dataKey: m.data,
    state,
    at: optionalInt(m.at) ?? null,
    tombAt: optionalInt(m["tomb-at"]),
    run: m.run,
    etag: info.etag,
    uploaded: info.uploaded,
  };
}

/** When the record's grace window started: `at`, or the storage time of a record written before GC existed. */
export function recordAge(r: BlobRecord): number | null {
  return r.at ?? r.uploaded ?? null;
}

export async function readRecord(store: ObjectStore, digest: Digest): Promise<BlobRecord | null> {
  const info = await store.head(keys.blob(digest));
  return info ? parseRecord(digest, info) : null;
}

/**
 * The body of a record version: a token of its own. R2's and S3's etags are the MD5 of the body, so with one body
 * for every version (an empty one) all versions would share an etag and If-Match could not tell them apart: a
 * revival and a doom of the same tombstone would both win (test/gc/record-race.test.ts).
 */
export const versionBody = (): string => crypto.randomUUID();

/** Creates the record; null when one exists already. */
export async function createRecord(store: ObjectStore, digest: Digest, fields: RecordFields): Promise<BlobRecord | null> {
  const saved = await store.put(keys.blob(digest), versionBody(), { metadata: recordMetadata(fields), ifNoneMatch: "*" });
  return saved ? { digest, ...fields, etag: saved.etag } : null;
}

/** Replaces exactly the version `current` with `next`; null when someone changed the record since it was read. */
export async function swapRecord(store: ObjectStore, current: BlobRecord, next: RecordFields): Promise<BlobRecord | null> {
  const saved = await store.put(keys.blob(current.digest), versionBody(), { metadata: recordMetadata(next), ifMatch: current.etag });
  return saved ? { digest: current.digest, ...next, etag: saved.etag } : null;
}
