// The edge cache under token auth (this project runs with its defaults: EDGE_CACHE_SECONDS 300, tags never): a warm
// entry is served only to a caller authorized for its repository. To be sure the entry is warm, the manifest and the
// link are then deleted from storage behind the registry's back (a store without the purging wrapper): whatever
// still answers 200 answers from the cache.
import { describe, it, expect, beforeAll } from "vitest";
import { env } from "cloudflare:workers";
import type { Env } from "../../src/config/settings";
import { parseConfig } from "../../src/config";
import { createStorage } from "../../src/storage";
import { keys } from "../../src/registry/paths";
import { parseDigest } from "../../src/protocol/digest";
import { call, bearer, tokenFor, expectOciError, pushImage, sha256, uniq } from "./helpers";

describe("edge cache and access", () => {
  const repo = uniq("team");
  const other = uniq("team");
  let bob: string;
  let digest: string;
  let layer: string;

  beforeAll(async () => {
    bob = await tokenFor("bob", [`repository:${repo}:pull,push`, `repository:${other}:pull,push`]);
    digest = await pushImage(bob, repo, "v1", "edge");
    layer = await sha256(new TextEncoder().encode(`layer ${repo} edge`));
    for (let i = 0; i < 2; i++) {
      expect((await call(`/v2/${repo}/manifests/${digest}`, { headers: bearer(bob) })).status).toBe(200);
      expect((await call(`/v2/${repo}/blobs/${layer}`, { method: "HEAD", headers: bearer(bob) })).status).toBe(200);
    }
    const raw = createStorage(parseConfig(env as unknown as Env)).store;
    await raw.delete([keys.manifest(repo, parseDigest(digest)!), keys.repoBlob(repo, parseDigest(layer)!)]);
  });

  it("the authorized caller is answered from the cache", async () => {
    const m = await call(`/v2/${repo}/manifests/${digest}`, { headers: bearer(bob) });
    expect([m.status, m.headers.get("docker-content-digest")]).toEqual([200, digest]);
    expect((await call(`/v2/${repo}/blobs/${layer}`, { method: "HEAD", headers: bearer(bob) })).status).toBe(200);
  });

  it("no token, or a user with no access to the repository: the challenge or a denial, never the cached entry", async () => {
    await expectOciError(await call(`/v2/${repo}/manifests/${digest}`), 401, "UNAUTHORIZED");
    expect((await call(`/v2/${repo}/blobs/${layer}`, { method: "HEAD" })).status).toBe(401);
    const dave = await tokenFor("dave", [`repository:${repo}:pull`]);
    const res = await call(`/v2/${repo}/manifests/${digest}`, { headers: bearer(dave) });
    expect([401, 403]).toContain(res.status);
    expect((await res.text()).includes("schemaVersion")).toBe(false);
    // A token for another repository used here: refused before any lookup.
    const elsewhere = await tokenFor("bob", [`repository:${other}:pull`]);
    expect((await call(`/v2/${repo}/manifests/${digest}`, { headers: bearer(elsewhere) })).status).toBe(401);
  });

  it("the same digest in a repository that does not hold it: unknown, whoever asks", async () => {
    await expectOciError(await call(`/v2/${other}/manifests/${digest}`, { headers: bearer(bob) }), 404, "MANIFEST_UNKNOWN");
    expect((await call(`/v2/${other}/blobs/${layer}`, { method: "HEAD", headers: bearer(bob) })).status).toBe(404);
  });
});
