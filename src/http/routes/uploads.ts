// Blob uploads: POST /v2/<name>/blobs/uploads/ (start, mount, or a whole blob with ?digest=), and GET, PATCH, PUT,
// DELETE on the session it returns.
import { Hono } from "hono";
import { RegistryError } from "../../protocol/errors";
import { formatDigest, requireDigest, type Digest } from "../../protocol/digest";
import { requireName } from "../../protocol/names";
import { uploadRangeHeader } from "../../protocol/ranges";
import { mountBlob } from "../../registry/blobs";
import { uploadOffset, type UploadSession, type UploadState } from "../../registry/upload-state";
import { startUpload, loadUpload, appendChunk, completeUpload, uploadMonolithic, cancelUpload } from "../../registry/uploads";
import { chunkOf, contentLength } from "../request";
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
  return new Response(null, {
    status: 202,
    headers: { ...uploadHeaders(session.state), "OCI-Chunk-Min-Length": String(deps.settings.partSize) },
  });
});

uploadRoutes.get("/v2/:name{.+}/blobs/uploads/:id", push, async (c) => {
  const session = await loadUpload(c.var.runtime.deps, c.var.name, c.req.param("id"), c.var.principal.subject);
  return new Response(null, { status: 204, headers: uploadHeaders(session.state) });
});

uploadRoutes.patch("/v2/:name{.+}/blobs/uploads/:id", push, async (c) => {
  const { runtime, name, principal } = c.var;
  const session = await loadUpload(runtime.deps, name, c.req.param("id"), principal.subject);
  await onSession(session, () => appendChunk(runtime.deps, session, c.req.raw.body, chunkOf(c.req.raw)));
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
