// Byte ranges: the Range header of blob GETs (RFC 9110) and the Content-Range of chunked upload PATCHes (OCI).

export interface ByteRange {
  offset: number;
  length: number;
}

/**
 * Parses a GET Range header against a blob of `size` bytes.
 * Returns "none" when the header is absent, unparsable or multi-range (RFC 9110 lets a server ignore those and
 * answer 200), "unsatisfiable" for a 416, or the single range to serve with 206.
 */
export function parseRangeHeader(header: string | null | undefined, size: number): ByteRange | "none" | "unsatisfiable" {
  if (!header) return "none";
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m) return "none";
  const [, first, last] = m;
  if (first === "" && last === "") return "none";
  if (first === "") {
    // suffix range: the last N bytes
    const n = Number(last);
    if (!Number.isSafeInteger(n)) return "none";
    if (n === 0 || size === 0) return "unsatisfiable";
    const length = Math.min(n, size);
    return { offset: size - length, length };
  }
  const start = Number(first);
  if (!Number.isSafeInteger(start)) return "none";
  // An open end means "to the last byte"; compare it after the size check so that `bytes=<size>-` is a 416.
  let end = last === "" ? Number.MAX_SAFE_INTEGER : Number(last);
  if (!Number.isSafeInteger(end)) return "none";
  if (end < start) return "none";
  if (start >= size) return "unsatisfiable";
  end = Math.min(end, size - 1);
  return { offset: start, length: end - start + 1 };
}

export function contentRangeHeader(range: ByteRange, size: number): string {
  return `bytes ${range.offset}-${range.offset + range.length - 1}/${size}`;
}

/**
 * Parses an upload PATCH Content-Range: the spec's form is `<start>-<end>` (inclusive); clients also send
 * `bytes <start>-<end>/<total|*>` or `bytes=<start>-<end>`. Returns null when malformed.
 */
export function parseUploadContentRange(header: string): ByteRange | null {
  const m = /^(?:bytes[ =])?(\d+)-(\d+)(?:\/(?:\d+|\*))?$/.exec(header.trim());
  if (!m) return null;
  const start = Number(m[1]);
  const end = Number(m[2]);
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || end < start) return null;
  return { offset: start, length: end - start + 1 };
}

/** The `Range` header of upload responses: bytes received so far, `0-<last>` (and `0-0` before any byte). */
export function uploadRangeHeader(received: number): string {
  return `0-${Math.max(0, received - 1)}`;
}
