// The HTTP layer: hono routes that map requests to registry operations and results to responses. Nothing else.
import { Hono, type Context, type MiddlewareHandler } from "hono";
import type { Env } from "../env";
import { loadConfig } from "../config";
import { RegistryError } from "../protocol/errors";
import { formatDigest, requireDigest } from "../protocol/digest";
import { parseLookupReference, parseReference, requireName } from "../protocol/names";
import { parseRangeHeader, contentRangeHeader, parseUploadContentRange } from "../protocol/ranges";
import { parsePageRequest, nextLink } from "../protocol/pagination";
import { MEDIA_TYPES } from "../protocol/mediatypes";
import type { Action, Principal, Scope } from "../auth/types";
import { authorizerFor } from "../auth";
import { createStorage } from "../storage";
import type { Presigner } from "../storage/types";
import type { RegistryDeps } from "../registry/deps";
import { requireBlob, unlinkBlob, mountBlob } from "../registry/blobs";
import { startUpload, loadUpload, appendChunk, completeUpload, uploadMonolithic, cancelUpload, uploadHeaders, type UploadSession } from "../registry/uploads";
import { putManifest, getManifest, deleteManifest } from "../registry/manifests";
import { readLimited } from "./body";
import { listTags, listRepositories, listReferrers, referrersIndex } from "../registry/listings";
import { API_VERSION_HEADER, toErrorResponse } from "./responses";
import { tokenRoutes } from "./token";

type Vars = { deps: RegistryDeps; principal: Principal; name: string };
type AppEnv = { Bindings: Env; Variables: Vars };
type C = Context<AppEnv>;

export const app = new Hono<AppEnv>();

const storeCache = new WeakMap<object, { deps: RegistryDeps; presigner: Presigner | null }>();
function depsFor(env: Env): { deps: RegistryDeps; presigner: Presigner | null } {
  let cached = storeCache.get(env);
  if (!cached) {
    const config = loadConfig(env);
    const { store, presigner } = createStorage(config);
    cached = { deps: { store, settings: config.registry }, presigner };
    storeCache.set(env, cached);
  }
  return cached;
}

app.onError((err, c) => {
  // A request refused before its body was read: cancel the body rather than leave it to the runtime, so that
  // the client's upload stops at once.
  const unread = c.req.raw.body;
  if (unread && !unread.locked) unread.cancel().catch(() => {});
  return toErrorResponse(err);
});
app.notFound(() => toErrorResponse(new RegistryError("UNSUPPORTED", "no such endpoint", undefined, { status: 404 })));

app.use("*", async (c, next) => {
  c.set("deps", depsFor(c.env).deps);
  await next();
  for (const [k, v] of Object.entries(API_VERSION_HEADER)) c.res.headers.set(k, v);
});

/** Validates :name and checks that the caller holds `actions` on it (plus any extra scopes). */
function repo(actionsFor: (c: C) => Action[], extra: (c: C) => Scope[] = () => []): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const name = requireName(c.req.param("name") ?? "");
    c.set("name", name);
    const config = loadConfig(c.env);
    const principal = await authorizerFor(config).authorize(c.req.raw, [{ type: "repository", name, actions: actionsFor(c) }, ...extra(c)]);
    c.set("principal", principal);
    await next();
  };
}
const pull = repo(() => ["pull"]);
const push = repo(() => ["pull", "push"]);
const del = repo(() => ["delete"]);

function contentLength(c: C): number | undefined {
  const v = c.req.header("content-length");
  if (v === undefined) return undefined;
  if (!/^\d{1,15}$/.test(v)) throw new RegistryError("SIZE_INVALID", "invalid Content-Length");
  return Number(v);
}

function body(c: C): ReadableStream<Uint8Array> | null {
  return c.req.raw.body;
}

// ---- base ----
app.get("/v2/", async (c) => {
  const config = loadConfig(c.env);
  await authorizerFor(config).authorize(c.req.raw, []);
  return c.json({});
});
app.get("/v2", (c) => c.redirect("/v2/", 301));

// ---- token endpoint (GET/POST /token) and the public keys of its tokens ----
app.route("/", tokenRoutes);

// ---- catalog ----
app.get("/v2/_catalog", async (c) => {
  const config = loadConfig(c.env);
  await authorizerFor(config).authorize(c.req.raw, [{ type: "registry", name: "catalog", actions: ["*"] }]);
  const req = parsePageRequest(c.req.query("n"), c.req.query("last"));
  const page = await listRepositories(c.var.deps, req);
  if (page.next) c.header("Link", nextLink("/v2/_catalog", req.n ?? page.entries.length, page.next));
  return c.json({ repositories: page.entries });
});

// ---- tags ----
app.get("/v2/:name{.+}/tags/list", pull, async (c) => {
  const req = parsePageRequest(c.req.query("n"), c.req.query("last"));
  const page = await listTags(c.var.deps, c.var.name, req);
  if (page.next) c.header("Link", nextLink(`/v2/${c.var.name}/tags/list`, req.n ?? page.entries.length, page.next));
  return c.json({ name: c.var.name, tags: page.entries });
});

// ---- manifests ----
app.get("/v2/:name{.+}/manifests/:reference", pull, async (c) => {
  const ref = parseLookupReference(c.req.param("reference"));
  const head = c.req.method === "HEAD";
  const m = await getManifest(c.var.deps, c.var.name, ref, !head);
  const headers = {
    "Content-Type": m.mediaType,
    "Content-Length": String(m.size),
    "Docker-Content-Digest": formatDigest(m.digest),
    ETag: `"${formatDigest(m.digest)}"`,
  };
  return new Response(head ? null : m.body, { status: 200, headers });
});

app.put("/v2/:name{.+}/manifests/:reference", push, async (c) => {
  const ref = parseReference(c.req.param("reference"));
  const { deps, name } = c.var;
  const limit = deps.settings.maxManifestBytes;
  const tooLarge = () => new RegistryError("SIZE_INVALID", `manifest larger than ${limit} bytes`, { limit }, { status: 413 });
  const declared = contentLength(c);
  if (declared !== undefined && declared > limit) throw tooLarge();
  const bytes = await readLimited(body(c), limit, tooLarge);
  const result = await putManifest(deps, name, ref, bytes, c.req.header("content-type") ?? null, c.req.queries("tag") ?? []);
  const digest = formatDigest(result.digest);
  const headers: Record<string, string> = { Location: `/v2/${name}/manifests/${digest}`, "Docker-Content-Digest": digest };
  if (result.subject) headers["OCI-Subject"] = result.subject;
  return new Response(null, { status: 201, headers });
});

app.delete("/v2/:name{.+}/manifests/:reference", del, async (c) => {
  await deleteManifest(c.var.deps, c.var.name, parseReference(c.req.param("reference")));
  return new Response(null, { status: 202 });
});

// ---- referrers ----
app.get("/v2/:name{.+}/referrers/:digest", pull, async (c) => {
  const subject = requireDigest(c.req.param("digest"));
  const artifactType = c.req.query("artifactType") || undefined;
  const manifests = await listReferrers(c.var.deps, c.var.name, subject, artifactType);
  const headers: Record<string, string> = { "Content-Type": MEDIA_TYPES.ociIndex };
  if (artifactType) headers["OCI-Filters-Applied"] = "artifactType";
  return new Response(JSON.stringify(referrersIndex(manifests)), { status: 200, headers });
});

// ---- uploads ----
app.post("/v2/:name{.+}/blobs/uploads/", push, async (c) => {
  const { deps, name, principal } = c.var;
  const mount = c.req.query("mount");
  const digestParam = c.req.query("digest");
  if (mount) {
    const digest = requireDigest(mount, "mount digest");
    const from = c.req.query("from");
    // Mounting from `from` needs pull there (clients put it in their token request); without it, or without
    // `from` for a caller who may not read every repository, the client gets a plain upload session instead.
    if (from ? principal.can(requireName(from), "pull") : principal.readsEverything) {
      const blob = await mountBlob(deps, name, digest, from ? requireName(from) : null);
      if (blob) {
        const d = formatDigest(blob.digest);
        return new Response(null, { status: 201, headers: { Location: `/v2/${name}/blobs/${d}`, "Docker-Content-Digest": d } });
      }
    }
  } else if (digestParam !== undefined) {
    const digest = requireDigest(digestParam);
    const blob = await uploadMonolithic(deps, name, principal.subject, digest, body(c), contentLength(c));
    const d = formatDigest(blob.digest);
    return new Response(null, { status: 201, headers: { Location: `/v2/${name}/blobs/${d}`, "Docker-Content-Digest": d } });
  }
  const session = await startUpload(deps, name, principal.subject);
  return new Response(null, {
    status: 202,
    headers: { ...uploadHeaders(session.state), "OCI-Chunk-Min-Length": String(deps.settings.partSize) },
  });
});

app.get("/v2/:name{.+}/blobs/uploads/:id", push, async (c) => {
  const session = await loadUpload(c.var.deps, c.var.name, c.req.param("id"), c.var.principal.subject);
  return new Response(null, { status: 204, headers: uploadHeaders(session.state) });
});

/**
 * The chunk a PATCH or PUT carries: where it starts (Content-Range, if sent) and how long it is (Content-Range or
 * Content-Length, which must agree). A chunk streamed without Content-Length is still held to its declared range.
 */
function chunkOf(c: C, session: UploadSession): { start?: number; length?: number } {
  const rangeHeader = c.req.header("content-range");
  const length = contentLength(c);
  if (!rangeHeader) return { length };
  const range = parseUploadContentRange(rangeHeader);
  if (!range) throw new RegistryError("BLOB_UPLOAD_INVALID", `invalid Content-Range ${JSON.stringify(rangeHeader.slice(0, 80))}`, undefined, { status: 416, headers: uploadHeaders(session.state) });
  if (length !== undefined && length !== range.length) {
    throw new RegistryError("SIZE_INVALID", `Content-Length ${length} does not match Content-Range ${rangeHeader.slice(0, 80)}`, undefined, { status: 416, headers: uploadHeaders(session.state) });
  }
  return { start: range.offset, length: range.length };
}

app.patch("/v2/:name{.+}/blobs/uploads/:id", push, async (c) => {
  const { deps, name, principal } = c.var;
  const session = await loadUpload(deps, name, c.req.param("id"), principal.subject);
  await appendChunk(deps, session, body(c), chunkOf(c, session));
  return new Response(null, { status: 202, headers: uploadHeaders(session.state) });
});

app.put("/v2/:name{.+}/blobs/uploads/:id", push, async (c) => {
  const { deps, name, principal } = c.var;
  const digest = requireDigest(c.req.query("digest"));
  const session = await loadUpload(deps, name, c.req.param("id"), principal.subject);
  const blob = await completeUpload(deps, session, digest, body(c), chunkOf(c, session));
  const d = formatDigest(blob.digest);
  return new Response(null, { status: 201, headers: { Location: `/v2/${name}/blobs/${d}`, "Docker-Content-Digest": d } });
});

app.delete("/v2/:name{.+}/blobs/uploads/:id", push, async (c) => {
  await cancelUpload(c.var.deps, c.var.name, c.req.param("id"), c.var.principal.subject);
  return new Response(null, { status: 204 });
});

// ---- blobs ----
app.get("/v2/:name{.+}/blobs/:digest", pull, async (c) => {
  const { deps, name } = c.var;
  const digest = requireDigest(c.req.param("digest"));
  const blob = await requireBlob(deps, name, digest);
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
  const { blobRedirect } = loadConfig(c.env);
  const { presigner } = depsFor(c.env);
  if (blobRedirect.enabled && presigner) {
    const url = await presigner.presignGet(blob.dataKey, blobRedirect.ttlSeconds);
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

app.delete("/v2/:name{.+}/blobs/:digest", del, async (c) => {
  await unlinkBlob(c.var.deps, c.var.name, requireDigest(c.req.param("digest")));
  return new Response(null, { status: 202 });
});

