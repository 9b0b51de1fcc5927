// What a request's headers say about its body.
import { RegistryError } from "../protocol/errors";
import { parseUploadContentRange } from "../protocol/ranges";

/** Content-Length, or undefined when the body is streamed without one. */
export function contentLength(req: Request): number | undefined {
  const v = req.headers.get("content-length") ?? undefined;
  if (v === undefined) return undefined;
  if (!/^\d{1,15}$/.test(v)) throw new RegistryError("SIZE_INVALID", "invalid Content-Length");
  return Number(v);
}

/**
 * The chunk a PATCH or PUT carries: where it starts (Content-Range, if sent) and how long it is (Content-Range or
 * Content-Length, which must agree). A chunk streamed without Content-Length is still held to its declared range.
 * A bad range is a 416; the upload routes add where the upload stands.
 */
export function chunkOf(req: Request): { start?: number; length?: number } {
  const rangeHeader = req.headers.get("content-range") ?? undefined;
  const length = contentLength(req);
  if (!rangeHeader) return { length };
  const range = parseUploadContentRange(rangeHeader);
  if (!range) throw new RegistryError("BLOB_UPLOAD_INVALID", `invalid Content-Range ${JSON.stringify(rangeHeader.slice(0, 80))}`, undefined, { status: 416 });
  if (length !== undefined && length !== range.length) {
    throw new RegistryError("SIZE_INVALID", `Content-Length ${length} does not match Content-Range ${rangeHeader.slice(0, 80)}`, undefined, { status: 416 });
  }
  return { start: range.offset, length: range.length };
}
