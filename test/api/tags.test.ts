import { describe, it, expect } from "vitest";
import { registry, uniqueRepo, pushImage, putManifest, pushBlob, expectError, readJson } from "./helpers";

/** Parses `Link: <url>; rel="next"` into the URL's path and query. */
function nextLink(res: Response): URL | null {
  const link = res.headers.get("link");
  if (!link) return null;
  const m = /^<([^>]+)>;\s*rel="next"$/.exec(link);
  expect(m, link).not.toBeNull();
  return new URL(m![1], "http://registry.test");
}

async function repoWithTags(tags: string[]) {
  const repo = uniqueRepo();
  const img = await pushImage(repo, tags[0]);
  for (const tag of tags.slice(1)) expect((await putManifest(repo, tag, img.manifest)).status).toBe(201);
  return repo;
}

describe("GET /v2/<name>/tags/list", () => {
  const tags = ["v1", "latest", "A-upper", "_under", "v10", "v2", "1.0", "z".repeat(128)];
  const sorted = [...tags].sort(); // lexical (code unit) order, uppercase before lowercase

  it("lists every tag in lexical order", async () => {
    const repo = await repoWithTags(tags);
    const res = await registry(`/v2/${repo}/tags/list`);
    expect(res.status).toBe(200);
    expect(await readJson(res)).toEqual({ name: repo, tags: sorted });
    expect(res.headers.get("link")).toBeNull();
  });

  it("pages with n and last, with a Link header to the next page", async () => {
    const repo = await repoWithTags(tags);
    const seen: string[] = [];
    let url: string | null = `/v2/${repo}/tags/list?n=3`;
    let pages = 0;
    while (url) {
      const res = await registry(url);
      expect(res.status).toBe(200);
      const body = await readJson<{ name: string; tags: string[] }>(res);
      expect(body.name).toBe(repo);
      expect(body.tags.length).toBeLessThanOrEqual(3);
      seen.push(...body.tags);
      const next = nextLink(res);
      if (next) {
        expect(next.pathname).toBe(`/v2/${repo}/tags/list`);
        expect(next.searchParams.get("n")).toBe("3");
        expect(next.searchParams.get("last")).toBe(body.tags[body.tags.length - 1]);
      }
      url = next ? next.pathname + next.search : null;
      pages++;
    }
    expect(seen).toEqual(sorted);
    expect(pages).toBe(3);
  });

  it("has no Link header when the page ends exactly at the last tag", async () => {
    const repo = await repoWithTags(["a", "b", "c", "d"]);
    const first = await registry(`/v2/${repo}/tags/list?n=2`);
    expect((await readJson(first)).tags).toEqual(["a", "b"]);
    expect(nextLink(first)).not.toBeNull();
    const second = await registry(`/v2/${repo}/tags/list?n=2&last=b`);
    expect((await readJson(second)).tags).toEqual(["c", "d"]);
    expect(second.headers.get("link")).toBeNull();
    const exact = await registry(`/v2/${repo}/tags/list?n=4`);
    expect((await readJson(exact)).tags).toEqual(["a", "b", "c", "d"]);
    expect(exact.headers.get("link")).toBeNull();
  });

  it("last may be a tag that does not exist: the listing continues after it", async () => {
    const repo = await repoWithTags(["a", "c", "e"]);
    expect((await readJson(await registry(`/v2/${repo}/tags/list?last=b`))).tags).toEqual(["c", "e"]);
    expect((await readJson(await registry(`/v2/${repo}/tags/list?last=e`))).tags).toEqual([]);
    expect((await readJson(await registry(`/v2/${repo}/tags/list?n=1&last=a`))).tags).toEqual(["c"]);
  });

  it("n=0 answers an empty list", async () => {
    const repo = await repoWithTags(["a"]);
    const res = await registry(`/v2/${repo}/tags/list?n=0`);
    expect(res.status).toBe(200);
    expect((await readJson(res)).tags).toEqual([]);
  });

  it("n larger than the tag count lists everything", async () => {
    const repo = await repoWithTags(["a", "b"]);
    const res = await registry(`/v2/${repo}/tags/list?n=100000`);
    expect((await readJson(res)).tags).toEqual(["a", "b"]);
    expect(res.headers.get("link")).toBeNull();
  });

  it.each(["-1", "abc", "1.5", "9999999999"])("answers 400 for n=%s", async (n) => {
    const repo = await repoWithTags(["a"]);
    await expectError(await registry(`/v2/${repo}/tags/list?n=${n}`), 400, "PAGINATION_NUMBER_INVALID");
  });

  it("answers 404 NAME_UNKNOWN for a repository with no manifests (even with blobs)", async () => {
    await expectError(await registry(`/v2/${uniqueRepo()}/tags/list`), 404, "NAME_UNKNOWN");
    await expectError(await registry(`/v2/${uniqueRepo()}/tags/list?n=0`), 404, "NAME_UNKNOWN");
    await expectError(await registry(`/v2/${uniqueRepo()}/tags/list?n=5&last=a`), 404, "NAME_UNKNOWN");
    const repo = uniqueRepo();
    await pushBlob(repo, "only a blob");
    await expectError(await registry(`/v2/${repo}/tags/list`), 404, "NAME_UNKNOWN");
  });

  it("answers 400 NAME_INVALID for a bad name", async () => {
    await expectError(await registry(`/v2/No/Such/tags/list`), 400, "NAME_INVALID");
  });

  it("a repository whose tags were all deleted lists no tags", async () => {
    const repo = await repoWithTags(["only"]);
    expect((await registry(`/v2/${repo}/tags/list`)).status).toBe(200);
    expect((await registry(`/v2/${repo}/manifests/only`, { method: "DELETE" })).status).toBe(202);
    const res = await registry(`/v2/${repo}/tags/list`);
    expect(res.status).toBe(200);
    expect((await readJson(res)).tags).toEqual([]);
  });

  it("does not list tags of nested repositories", async () => {
    const parent = uniqueRepo();
    await pushImage(parent, "p1");
    await pushImage(`${parent}/child`, "c1");
    expect((await readJson(await registry(`/v2/${parent}/tags/list`))).tags).toEqual(["p1"]);
    expect((await readJson(await registry(`/v2/${parent}/child/tags/list`))).tags).toEqual(["c1"]);
  });
});

describe("GET /v2/_catalog", () => {
  it("lists repositories in lexical order with n, last and Link", async () => {
    const prefix = `catalog-${crypto.randomUUID().slice(0, 8)}`;
    const names = [`${prefix}/b`, `${prefix}/a`, `${prefix}/a/nested`, `${prefix}/c`, `${prefix}/a-b`];
    for (const name of names) await pushImage(name, "v1");
    const expected = [...names].sort();

    // page through from just before the prefix, two at a time, until past it
    const seen: string[] = [];
    let url: string | null = `/v2/_catalog?n=2&last=${encodeURIComponent(prefix)}`;
    while (url) {
      const res = await registry(url);
      expect(res.status).toBe(200);
      const body = await readJson<{ repositories: string[] }>(res);
      expect(body.repositories.length).toBeLessThanOrEqual(2);
      const mine = body.repositories.filter((r) => r.startsWith(`${prefix}/`));
      seen.push(...mine);
      if (mine.length < body.repositories.length) break; // ran past the prefix
      const next = nextLink(res);
      if (next) {
        expect(next.pathname).toBe("/v2/_catalog");
        expect(next.searchParams.get("n")).toBe("2");
        expect(next.searchParams.get("last")).toBe(body.repositories[body.repositories.length - 1]);
      }
      url = next ? next.pathname + next.search : null;
    }
    expect(seen).toEqual(expected);
  });

  it("does not list a repository that only has blobs", async () => {
    const repo = uniqueRepo("catalog-blobs");
    await pushBlob(repo, "x");
    const body = await readJson<{ repositories: string[] }>(await registry(`/v2/_catalog?n=10&last=${encodeURIComponent(repo.slice(0, -1))}`));
    expect(body.repositories).not.toContain(repo);
  });

  it("answers 200 without n and 400 for a bad n", async () => {
    const res = await registry(`/v2/_catalog`);
    expect(res.status).toBe(200);
    expect(Array.isArray((await readJson(res)).repositories)).toBe(true);
    await expectError(await registry(`/v2/_catalog?n=x`), 400, "PAGINATION_NUMBER_INVALID");
  });
});
