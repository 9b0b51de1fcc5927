// The direct-to-bucket upload extension's requests and rules, without I/O (docs/direct-upload.md is the spec).
//
// A client asks for presigned UploadPart URLs with `POST <session>/parts` and a JSON body
// {"partSize": bytes, "parts": [partNumber, ...]}, PUTs the parts to storage itself, and completes the session with
// the ordinary `PUT <session>?digest=`. This module checks the request body and, before completing, the parts
// storage lists.
import { RegistryError } from "./errors";

/** The header on a POST /blobs/uploads/ answer that offers the extension, and its version. */
export const DIRECT_UPLOAD_HEADER = "Skiff-Direct-Upload";
export const DIRECT_UPLOAD_VERSION = "v1";

/** S3's and R2's multipart limits: parts of 5 MiB to 5 GiB, part numbers 1 to 10,000. */
export const MIN_DIRECT_PART_SIZE = 5 * 1024 * 1024;
export const MAX_DIRECT_PART_SIZE = 5 * 1024 ** 3;
export const MAX_PART_NUMBER = 10_000;
/** Part URLs one request may ask for (the answer stays well under 1 MB). */
export const MAX_PARTS_PER_REQUEST = 1000;
/** Largest `POST <session>/parts` body: 1000 part numbers of 5 digits fit in 7 KB. */
export const MAX_PARTS_REQUEST_BYTES = 64 * 1024;
/** Longest lifetime of a part URL; never past the caller's token either. */
export const MAX_PART_URL_SECONDS = 15 * 60;

export interface PartsRequest {
  /** Required on a session's first request; later ones may omit it or must repeat it. */
  partSize?: number;
  parts: number[];
}

function invalid(message: string): RegistryError {
  return new RegistryError("BLOB_UPLOAD_INVALID", message);
}

/** Parses and checks a `POST <session>/parts` body strictly: unknown fields, non-integers and ranges are refused. */
export function parsePartsRequest(bytes: Uint8Array): PartsRequest {
  let doc: unknown;
  try {
    doc = JSON.parse(new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(bytes));
  } catch {
    throw invalid('the body must be JSON: {"partSize": <bytes>, "parts": [<partNumber>, ...]}');
  }
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) throw invalid('the body must be a JSON object {"partSize": <bytes>, "parts": [...]}');
  const unknown = Object.keys(doc).filter((k) => k !== "partSize" && k !== "parts");
  if (unknown.length) throw invalid(`unknown field ${JSON.stringify(unknown[0].slice(0, 40))}: only "partSize" and "parts" are allowed`);
  const { partSize, parts } = doc as { partSize?: unknown; parts?: unknown };

  if (partSize !== undefined) {
    if (typeof partSize !== "number" || !Number.isSafeInteger(partSize)) throw invalid("partSize must be an integer number of bytes");
    if (partSize < MIN_DIRECT_PART_SIZE || partSize > MAX_DIRECT_PART_SIZE) {
      throw invalid(`partSize must be from ${MIN_DIRECT_PART_SIZE} (5 MiB) to ${MAX_DIRECT_PART_SIZE} (5 GiB) bytes`);
    }
  }
  if (!Array.isArray(parts)) throw invalid("parts must be an array of part numbers");
  if (parts.length < 1 || parts.length > MAX_PARTS_PER_REQUEST) throw invalid(`parts must list 1 to ${MAX_PARTS_PER_REQUEST} part numbers`);
  const seen = new Set<number>();
  for (const n of parts) {
    if (typeof n !== "number" || !Number.isInteger(n) || n < 1 || n > MAX_PART_NUMBER) throw invalid(`every part number must be an integer from 1 to ${MAX_PART_NUMBER}`);
    if (seen.has(n)) throw invalid(`part number ${n} is listed twice`);
    seen.add(n);
  }
  return partSize === undefined ? { parts: parts as number[] } : { partSize, parts: parts as number[] };
}

/**
 * Checks what storage holds before completing: parts 1..n with none missing, every one but the last exactly
 * `partSize` bytes, the last 1..partSize. Returns the blob's size. Throws BLOB_UPLOAD_INVALID saying what to fix.
 */
export function checkPartListing(parts: readonly { partNumber: number; size: number }[], partSize: number): number {
  if (parts.length === 0) throw invalid("no part has been uploaded: PUT the parts to their URLs before completing");
  let total = 0;
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i];
    if (p.partNumber !== i + 1) throw invalid(`part ${i + 1} is missing: parts must be numbered 1 to n without gaps`);
    const last = i === parts.length - 1;
    if (!last && p.size !== partSize) throw invalid(`part ${p.partNumber} holds ${p.size} bytes; every part but the last must hold exactly partSize (${partSize}) bytes`);
    if (last && (p.size < 1 || p.size > partSize)) throw invalid(`the last part (${p.partNumber}) holds ${p.size} bytes; it must hold 1 to partSize (${partSize}) bytes`);
    total += p.size;
  }
  return total;
}

/** How long a part URL lives: 15 minutes, but never past the caller's credentials (`expiresAt`, ms; null: never). */
export function partUrlLifetimeSeconds(expiresAt: number | null, now: number): number {
  if (expiresAt === null) return MAX_PART_URL_SECONDS;
  return Math.max(1, Math.min(MAX_PART_URL_SECONDS, Math.floor((expiresAt - now) / 1000)));
}
