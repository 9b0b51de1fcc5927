// Reading `uploads/<id>/state` for the sweep: a live session or the ended marker a terminal step left.
// TEMPORARY: upload-state.ts will export readStoredUpload with this signature (helper A's change, which also makes
// ended markers keep `content` and gain `endedAt`); this copy accepts today's shapes too and goes at the merge.
import type { UploadContent } from "../registry/upload-state";

export interface StoredUpload {
  id: string;
  /** Why the session ended (an ended marker), or null for a live session. */
  ended: string | null;
  /** A live session's start (ms); an ended marker's when it kept it, else null (its storage time tells its age). */
  createdAt: number | null;
  /** What the session holds; null for an ended marker written before markers kept it. */
  content: UploadContent | null;
}

const str = (v: unknown): v is string => typeof v === "string" && v.length > 0;
const int = (v: unknown): v is number => typeof v === "number" && Number.isSafeInteger(v) && v >= 0;

/** The content if it has a known kind and the fields that name objects are strings; null otherwise. */
function readContent(v: unknown): UploadContent | null {
  if (typeof v !== "object" || v === null) return null;
  const c = v as Record<string, unknown>;
  switch (c.kind) {
    case "empty":
      return { kind: "empty" };
    case "object":
      return str(c.key) && int(c.size) ? (c as unknown as UploadContent) : null;
    case "direct":
      return str(c.key) && str(c.uploadId) ? (c as unknown as UploadContent) : null;
    case "chunks": {
      const m = c.multipart as Record<string, unknown> | null | undefined;
      const t = c.tail as Record<string, unknown> | null | undefined;
      if (m != null && (typeof m !== "object" || !str(m.key) || !str(m.uploadId))) return null;
      if (t != null && (typeof t !== "object" || !str(t.key))) return null;
      return { kind: "chunks", partSize: int(c.partSize) ? c.partSize : 0, multipart: (m ?? null) as never, tail: (t ?? null) as never };
    }
    default:
      return null;
  }
}

/** The stored state or marker, or null when the text is not one. */
export function readStoredUpload(text: string): StoredUpload | null {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof doc !== "object" || doc === null) return null;
  const s = doc as Record<string, unknown>;
  if (s.v !== 2 || !str(s.id)) return null;
  if (s.ended !== undefined) {
    if (!str(s.ended)) return null;
    return { id: s.id, ended: s.ended, createdAt: int(s.createdAt) ? s.createdAt : null, content: readContent(s.content) };
  }
  const content = readContent(s.content);
  if (!int(s.createdAt) || !content) return null;
  return { id: s.id, ended: null, createdAt: s.createdAt, content };
}
