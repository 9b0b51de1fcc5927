// Lists: the catalog, a repository's tags, and the referrers of a manifest.
import { Hono } from "hono";
import { requireDigest } from "../../protocol/digest";
import { parsePageRequest, nextLink } from "../../protocol/pagination";
import { MEDIA_TYPES } from "../../protocol/mediatypes";
import { listTags, listRepositories, listReferrers, referrersIndex } from "../../registry/listings";
import { requireRepository, requireScopes, type AppEnv } from "../context";

export const listingRoutes = new Hono<AppEnv>();

listingRoutes.get("/v2/_catalog", requireScopes({ type: "registry", name: "catalog", actions: ["*"] }), async (c) => {
  const req = parsePageRequest(c.req.query("n"), c.req.query("last"));
  const page = await listRepositories(c.var.runtime.deps, req);
  if (page.next) c.header("Link", nextLink("/v2/_catalog", req.n ?? page.entries.length, page.next));
  return c.json({ repositories: page.entries });
});

listingRoutes.get("/v2/:name{.+}/tags/list", requireRepository("pull"), async (c) => {
  const req = parsePageRequest(c.req.query("n"), c.req.query("last"));
  const page = await listTags(c.var.runtime.deps, c.var.name, req);
  if (page.next) c.header("Link", nextLink(`/v2/${c.var.name}/tags/list`, req.n ?? page.entries.length, page.next));
  return c.json({ name: c.var.name, tags: page.entries });
});

listingRoutes.get("/v2/:name{.+}/referrers/:digest", requireRepository("pull"), async (c) => {
  const subject = requireDigest(c.req.param("digest"));
  const artifactType = c.req.query("artifactType") || undefined;
  const manifests = await listReferrers(c.var.runtime.deps, c.var.name, subject, artifactType);
  const headers: Record<string, string> = { "Content-Type": MEDIA_TYPES.ociIndex };
  if (artifactType) headers["OCI-Filters-Applied"] = "artifactType";
  return new Response(JSON.stringify(referrersIndex(manifests)), { status: 200, headers });
});
