// A linear pre-scan of JSON bytes that bounds what JSON.parse would build, before it builds anything.
// Why: JSON.parse of a hostile 4 MiB manifest (a million nested arrays, two million tiny elements) took seconds
// and, at worst, grew the isolate past the 128 MB a production isolate has (before and after:
// bench/manifest-cost/results.md). This scan is one pass over the bytes with a few counters and no allocation.

export interface JsonLimits {
  /** Most arrays/objects open at once (the top-level object counts as 1). */
  maxDepth: number;
  /** Most tokens: arrays, objects, strings (object keys included), numbers, true, false and null. */
  maxTokens: number;
}

export interface JsonLimitExceeded {
  limit: "depth" | "tokens";
  max: number;
  /** Byte offset where the limit was passed. */
  offset: number;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;

// Bytes that end a bare token (number, true, false, null): whitespace and the structural characters.
const DELIMITER = new Uint8Array(256);
for (const c of " \t\r\n[]{},:\"") DELIMITER[c.charCodeAt(0)] = 1;

/**
 * Returns the first limit the document passes, or null when it stays within both. It does not validate JSON:
 * JSON.parse still does that afterwards. Strings are skipped as JSON defines them (a backslash escapes the next
 * byte), and UTF-8 never puts a byte below 0x80 inside a multi-byte character, so scanning bytes is exact.
 * At an unbalanced closing bracket it stops and returns null: JSON.parse fails there at the latest, having built
 * no more than the part already scanned.
 */
export function checkJsonLimits(bytes: Uint8Array, limits: JsonLimits): JsonLimitExceeded | null {
  const { maxDepth, maxTokens } = limits;
  let depth = 0;
  let tokens = 0;
  let inString = false;
  let inBare = false;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i];
    if (inString) {
      if (b === BACKSLASH) i++;
      else if (b === QUOTE) inString = false;
      continue;
    }
    if (!DELIMITER[b]) {
      if (!inBare) {
        inBare = true;
        if (++tokens > maxTokens) return { limit: "tokens", max: maxTokens, offset: i };
      }
      continue;
    }
    inBare = false;
    switch (b) {
      case 0x5b: // [
      case 0x7b: // {
        if (++depth > maxDepth) return { limit: "depth", max: maxDepth, offset: i };
        if (++tokens > maxTokens) return { limit: "tokens", max: maxTokens, offset: i };
        break;
      case 0x5d: // ]
      case 0x7d: // }
        if (--depth < 0) return null;
        break;
      case QUOTE:
        inString = true;
        if (++tokens > maxTokens) return { limit: "tokens", max: maxTokens, offset: i };
        break;
    }
  }
  return null;
}
