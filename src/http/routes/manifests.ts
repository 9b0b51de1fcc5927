// Manifests: GET/HEAD, PUT and DELETE /v2/<name>/manifests/<reference>.
import { Hono } from "hono";
import { RegistryError } from "../../protocol/errors";
import { formatDigest } from "../../protocol/digest";
import { parseLookupReference, parseReference } from "../../protocol/names";
import { putManifest, getManifest, deleteManifest } from "../../registry/manifests";
import { readLimited } from "../read-limited";
import { contentLength } from "../request";
import { requireRepository, type AppEnv } from "../context";

export const manifestRoutes = new Hono<AppEnv>();

manifestRoutes.get("/v2/:name{.+}/manifests/:reference", requireRepository("pull"), async (c) => {
  const ref = parseLookupReference(c.req.param("reference"));
  const head = c.req.method === "HEAD";
  const m = await getManifest(c.var.runtime.deps, c.var.name, ref, !head);
  const headers = {
    "Content-Type": m.mediaType,
    "Content-Length": String(m.size),
    "Docker-Content-Digest": formatDigest(m.digest),
    ETag: `"${formatDigest(m.digest)}"`,
  };
  return new Response(head ? null : m.body, { status: 200, headers });
});

manifestRoutes.put("/v2/:name{.+}/manifests/:reference", requireRepository("pull", "push"), async (c) => {
  const ref = parseReference(c.req.param("reference"));
  const { deps } = c.var.runtime;
  const name = c.var.name;
  const limit = deps.settings.maxManifestBytes;
  const tooLarge = () => new RegistryError("SIZE_INVALID", `manifest larger than ${limit} bytes`, { limit }, { status: 413 });
  const declared = contentLength(c.req.raw);
  if (declared !== undefined && declared > limit) throw tooLarge();
  const bytes = await readLimited(c.req.raw.body, limit, tooLarge);
  const result = await putManifest(deps, name, ref, bytes, c.req.header("content-type") ?? null, c.req.queries("tag") ?? []);
  const digest = formatDigest(result.digest);
  const headers: Record<string, string> = { Location: `/v2/${name}/manifests/${digest}`, "Docker-Content-Digest": digest };
  if (result.subject) headers["OCI-Subject"] = result.subject;
  return new Response(null, { status: 201, headers });
});

manifestRoutes.delete("/v2/:name{.+}/manifests/:reference", requireRepository("delete"), async (c) => {
  await deleteManifest(c.var.runtime.deps, c.var.name, parseReference(c.req.param("reference")));
  return new Response(null, { status: 202 });
});
