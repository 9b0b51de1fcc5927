// Blobs: GET/HEAD and DELETE /v2/<name>/blobs/<digest>.
import { Hono } from "hono";
import { RegistryError } from "../../protocol/errors";
import { formatDigest, requireDigest } from "../../protocol/digest";
import { parseRangeHeader, contentRangeHeader } from "../../protocol/ranges";
import { serveBlob, unlinkBlob } from "../../registry/blobs";
import { requireRepository, type AppEnv } from "../context";

export const blobRoutes = new Hono<AppEnv>();

blobRoutes.get("/v2/:name{.+}/blobs/:digest", requireRepository("pull"), async (c) => {
  const { runtime, name } = c.var;
  const { deps } = runtime;
  const digest = requireDigest(c.req.param("digest"));
  // HEAD says unknown for a blob garbage collection tombstoned (a pusher must upload it again); GET still serves it.
  const blob = await serveBlob(deps, name, digest, c.req.method === "HEAD" ? "head" : "get");
  const d = formatDigest(digest);
  const base: Record<string, string> = {
    "Docker-Content-Digest": d,
    "Content-Type": "application/octet-stream",
    "Accept-Ranges": "bytes",
    ETag: `"${d}"`,
    "Cache-Control": "max-age=31536000, immutable",
  };
  if (c.req.method === "HEAD") return new Response(null, { status: 200, headers: { ...base, "Content-Length": String(blob.size) } });

  const range = parseRangeHeader(c.req.header("range"), blob.size);
  if (range === "unsatisfiable") {
    throw new RegistryError("RANGE_INVALID", `range not satisfiable for a blob of ${blob.size} bytes`, undefined, { headers: { "Content-Range": `bytes */${blob.size}` } });
  }
  // Redirect to the storage itself, so that layer bytes never pass through the worker. The client sends its Range
  // (if any) again to the presigned URL and storage answers it; the range was checked above so that an
  // unsatisfiable one gets the registry's 416, not a storage error page.
  const url = await runtime.presignBlob(blob.dataKey);
  if (url) {
    return new Response(null, {
      status: 307,
      // The URL expires, so the redirect must not be cached. Content-Length describes the redirect's own empty
      // body (the runtime sends 0 whatever we set); the blob's size comes with HEAD and with storage's answer.
      headers: { Location: url, "Docker-Content-Digest": d, "Cache-Control": "no-store" },
    });
  }
  const obj = await deps.store.get(blob.dataKey, range === "none" || blob.size === 0 ? undefined : range);
  if (!obj) throw new RegistryError("BLOB_UNKNOWN", `blob ${d} data is missing`);
  if (range === "none") return new Response(obj.body, { status: 200, headers: { ...base, "Content-Length": String(blob.size) } });
  return new Response(obj.body, {
    status: 206,
    headers: { ...base, "Content-Length": String(range.length), "Content-Range": contentRangeHeader(range, blob.size) },
  });
});

blobRoutes.delete("/v2/:name{.+}/blobs/:digest", requireRepository("delete"), async (c) => {
  await unlinkBlob(c.var.runtime.deps, c.var.name, requireDigest(c.req.param("digest")));
  return new Response(null, { status: 202 });
});
