// Blob uploads: POST /v2/<name>/blobs/uploads/ (start, mount, or a whole blob with ?digest=), and GET, PATCH, PUT,
// DELETE on the session it returns; POST and GET <session>/parts for direct-to-bucket parts (docs/direct-upload.md).
import { Hono } from "hono";
import { RegistryError } from "../../protocol/errors";
import { formatDigest, requireDigest, type Digest } from "../../protocol/digest";
import { requireName } from "../../protocol/names";
import { uploadRangeHeader } from "../../protocol/ranges";
import { mountBlob } from "../../registry/blobs";
import { uploadOffset, type UploadSession, type UploadState } from "../../registry/upload-state";
import { startUpload, loadUpload, appendChunk, completeUpload, uploadMonolithic, cancelUpload } from "../../registry/uploads";
import { listPartsOf, partUploadsOf, requestPartUrls } from "../../registry/direct-uploads";
import { DIRECT_UPLOAD_HEADER, DIRECT_UPLOAD_VERSION, MAX_PARTS_REQUEST_BYTES, parsePartsRequest, partUrlLifetimeSeconds } from "../../protocol/direct-upload";
import { chunkOf, contentLength } from "../request";
import { readLimited } from "../read-limited";
import { requireRepository, type AppEnv } from "../context";

export const uploadRoutes = new Hono<AppEnv>();

function uploadLocation(s: UploadState): string {
  return `/v2/${s.repo}/blobs/uploads/${s.id}`;
}

/** Where the upload stands: sent with every answer about a session, and with a 416 that refuses a chunk. */
function uploadHeaders(s: UploadState): Record<string, string> {
  return { Location: uploadLocation(s), "Docker-Upload-UUID": s.id, Range: uploadRangeHeader(uploadOffset(s.content)) };
}

function blobCreated(name: string, digest: Digest): Response {
  const d = formatDigest(digest);
  return new Response(null, { status: 201, headers: { Location: `/v2/${name}/blobs/${d}`, "Docker-Content-Digest": d } });
}

/** Runs `step` on the session; a 416 (a chunk that does not fit) comes back with where the upload stands. */
async function onSession<T>(session: UploadSession, step: () => Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (err) {
    if (!(err instanceof RegistryError) || err.status !== 416) throw err;
    throw new RegistryError(err.code, err.message, err.detail, { status: err.status, headers: { ...err.headers, ...uploadHeaders(session.state) } });
  }
}

const push = requireRepository("pull", "push");

uploadRoutes.post("/v2/:name{.+}/blobs/uploads/", push, async (c) => {
  const { runtime, name, principal } = c.var;
  const { deps } = runtime;
  const mount = c.req.query("mount");
  const digestParam = c.req.query("digest");
  if (mount) {
    const digest = requireDigest(mount, "mount digest");
    const from = c.req.query("from");
    // Mounting from `from` needs pull there (clients put it in their token request); without it, or without
    // `from` for a caller who may not read every repository, the client gets a plain upload session instead.
    if (from ? principal.can(requireName(from), "pull") : principal.readsEverything) {
      const blob = await mountBlob(deps, name, digest, from ? requireName(from) : null);
      if (blob) return blobCreated(name, blob.digest);
    }
  } else if (digestParam !== undefined) {
    const digest = requireDigest(digestParam);
    const blob = await uploadMonolithic(deps, name, principal.subject, digest, c.req.raw.body, contentLength(c.req.raw));
    return blobCreated(name, blob.digest);
  }
  const session = await startUpload(deps, name, principal.subject);
  const headers: Record<string, string> = {
    ...uploadHeaders(session.state),
    "OCI-Chunk-Min-Length": String(deps.settings.partSize),
    "OCI-Chunk-Max-Length": String(deps.settings.maxRequestBodyBytes),
  };
  if (deps.partUploads) headers[DIRECT_UPLOAD_HEADER] = DIRECT_UPLOAD_VERSION;
  return new Response(null, { status: 202, headers });
});

// Before the session routes: `<id>/parts` is no session id.
uploadRoutes.post("/v2/:name{.+}/blobs/uploads/:id/parts", push, async (c) => {
  const { runtime, name, principal } = c.var;
  partUploadsOf(runtime.deps); // 405 first on a backend without them, whatever the body
  const session = await loadUpload(runtime.deps, name, c.req.param("id"), principal.subject);
  const type = c.req.header("content-type") ?? "";
  if (!/^application\/json\s*(;|$)/i.test(type)) throw new RegistryError("BLOB_UPLOAD_INVALID", "a parts request needs Content-Type: application/json");
  const tooLarge = () => new RegistryError("SIZE_INVALID", `a parts request body holds at most ${MAX_PARTS_REQUEST_BYTES} bytes`, undefined, { status: 413 });
  if ((contentLength(c.req.raw) ?? 0) > MAX_PARTS_REQUEST_BYTES) throw tooLarge();
  const request = parsePartsRequest(await readLimited(c.req.raw.body, MAX_PARTS_REQUEST_BYTES, tooLarge));
  const urls = await requestPartUrls(runtime.deps, session, request, partUrlLifetimeSeconds(principal.expiresAt, Date.now()));
  // The URLs let their holder write storage: no cache may keep them.
  return Response.json(urls, { headers: { "Cache-Control": "no-store" } });
});

uploadRoutes.get("/v2/:name{.+}/blobs/uploads/:id/parts", push, async (c) => {
  const session = await loadUpload(c.var.runtime.deps, c.var.name, c.req.param("id"), c.var.principal.subject);
  return Response.json(await listPartsOf(c.var.runtime.deps, session), { headers: { "Cache-Control": "no-store" } });
});

uploadRoutes.get("/v2/:name{.+}/blobs/uploads/:id", push, async (c) => {
  const session = await loadUpload(c.var.runtime.deps, c.var.name, c.req.param("id"), c.var.principal.subject);
  return new Response(null, { status: 204, headers: uploadHeaders(session.state) });
});

uploadRoutes.patch("/v2/:name{.+}/blobs/uploads/:id", push, async (c) => {
  const { runtime, name, principal } = c.var;
  const session = await loadUpload(runtime.deps, name, c.req.param("id"), principal.subject);
  const before = uploadOffset(session.state.content);
  await onSession(session, () => appendChunk(runtime.deps, session, c.req.raw.body, chunkOf(c.req.raw)));
  // For the request log: docker's PATCH has no Content-Length, the session's growth is what it sent.
  c.var.note.bytesIn = uploadOffset(session.state.content) - before;
  return new Response(null, { status: 202, headers: uploadHeaders(session.state) });
});

uploadRoutes.put("/v2/:name{.+}/blobs/uploads/:id", push, async (c) => {
  const { runtime, name, principal } = c.var;
  const digest = requireDigest(c.req.query("digest"));
  const session = await loadUpload(runtime.deps, name, c.req.param("id"), principal.subject);
  const blob = await onSession(session, () => completeUpload(runtime.deps, session, digest, c.req.raw.body, chunkOf(c.req.raw)));
  return blobCreated(name, blob.digest);
});

uploadRoutes.delete("/v2/:name{.+}/blobs/uploads/:id", push, async (c) => {
  await cancelUpload(c.var.runtime.deps, c.var.name, c.req.param("id"), c.var.principal.subject);
  return new Response(null, { status: 204 });
});
