import { describe, it, expect } from "vitest";
import { registry, uniqueRepo, pushBlob, digestOf, pseudoRandomBytes, expectError, pushBlobMonolithic } from "./helpers";

describe("blob HEAD and GET", () => {
  it("serves a pushed blob with Content-Length, Content-Type and Docker-Content-Digest", async () => {
    const repo = uniqueRepo();
    const bytes = pseudoRandomBytes(1000, 7);
    const digest = await pushBlob(repo, bytes);

    const head = await registry(`/v2/${repo}/blobs/${digest}`, { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(head.headers.get("content-length")).toBe("1000");
    expect(head.headers.get("content-type")).toBe("application/octet-stream");
    expect(head.headers.get("docker-content-digest")).toBe(digest);
    expect(head.headers.get("accept-ranges")).toBe("bytes");
    expect((await head.arrayBuffer()).byteLength).toBe(0);

    const get = await registry(`/v2/${repo}/blobs/${digest}`);
    expect(get.status).toBe(200);
    expect(get.headers.get("content-length")).toBe("1000");
    expect(get.headers.get("docker-content-digest")).toBe(digest);
    expect(get.headers.get("etag")).toBe(`"${digest}"`);
    expect(new Uint8Array(await get.arrayBuffer())).toEqual(bytes);
  });

  it("answers 404 BLOB_UNKNOWN for a blob never pushed (GET and HEAD)", async () => {
    const repo = uniqueRepo();
    await pushBlob(repo, "something");
    const missing = await digestOf("never pushed");
    await expectError(await registry(`/v2/${repo}/blobs/${missing}`), 404, "BLOB_UNKNOWN");
    const head = await registry(`/v2/${repo}/blobs/${missing}`, { method: "HEAD" });
    expect(head.status).toBe(404);
    expect(await head.text()).toBe("");
  });

  it("answers 404 BLOB_UNKNOWN for a blob that only another repository holds", async () => {
    const a = uniqueRepo();
    const b = uniqueRepo();
    const digest = await pushBlob(a, "private to a");
    await expectError(await registry(`/v2/${b}/blobs/${digest}`), 404, "BLOB_UNKNOWN");
  });

  it.each(["sha256:abc", `sha256:${"A".repeat(64)}`, `md5:${"a".repeat(32)}`, "latest", `sha384:${"a".repeat(96)}`])(
    "answers 400 DIGEST_INVALID for digest %j",
    async (digest) => {
      await expectError(await registry(`/v2/${uniqueRepo()}/blobs/${digest}`), 400, "DIGEST_INVALID");
    },
  );

  it("serves a zero-byte blob", async () => {
    const repo = uniqueRepo();
    const digest = await pushBlob(repo, new Uint8Array(0));
    expect(digest).toBe("sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    const head = await registry(`/v2/${repo}/blobs/${digest}`, { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(head.headers.get("content-length")).toBe("0");
    const get = await registry(`/v2/${repo}/blobs/${digest}`);
    expect(get.status).toBe(200);
    expect((await get.arrayBuffer()).byteLength).toBe(0);
  });
});

describe("blob Range requests", () => {
  const bytes = pseudoRandomBytes(100, 3);
  let repo = "";
  let digest = "";
  const ready = (async () => {
    repo = uniqueRepo();
    digest = await pushBlob(repo, bytes);
  })();

  it.each([
    ["bytes=0-9", 0, 10],
    ["bytes=10-19", 10, 10],
    ["bytes=99-99", 99, 1],
    ["bytes=90-", 90, 10],
    ["bytes=-5", 95, 5],
    ["bytes=-500", 0, 100],
    ["bytes=50-5000", 50, 50],
  ])("answers %s with 206 and the right bytes", async (range, offset, length) => {
    await ready;
    const res = await registry(`/v2/${repo}/blobs/${digest}`, { headers: { Range: range } });
    expect(res.status).toBe(206);
    expect(res.headers.get("content-length")).toBe(String(length));
    expect(res.headers.get("content-range")).toBe(`bytes ${offset}-${offset + length - 1}/100`);
    expect(res.headers.get("docker-content-digest")).toBe(digest);
    expect(new Uint8Array(await res.arrayBuffer())).toEqual(bytes.subarray(offset, offset + length));
  });

  it.each(["bytes=100-", "bytes=100-200", "bytes=-0", "bytes=1000-1001"])("answers %s with 416 RANGE_INVALID and Content-Range */size", async (range) => {
    await ready;
    const res = await registry(`/v2/${repo}/blobs/${digest}`, { headers: { Range: range } });
    expect(res.headers.get("content-range")).toBe("bytes */100");
    await expectError(res, 416, "RANGE_INVALID");
  });

  it.each(["bytes=0-1,5-6", "bytes=5-2", "lines=0-1", "bytes=x-y"])("ignores %s and serves the whole blob with 200", async (range) => {
    await ready;
    const res = await registry(`/v2/${repo}/blobs/${digest}`, { headers: { Range: range } });
    expect(res.status).toBe(200);
    expect(new Uint8Array(await res.arrayBuffer())).toEqual(bytes);
  });

  it("answers any range of a zero-byte blob with 416", async () => {
    const r = uniqueRepo();
    const d = await pushBlob(r, new Uint8Array(0));
    const res = await registry(`/v2/${r}/blobs/${d}`, { headers: { Range: "bytes=0-" } });
    expect(res.headers.get("content-range")).toBe("bytes */0");
    await expectError(res, 416, "RANGE_INVALID");
  });

  it("serves ranges of a multipart blob across part boundaries", async () => {
    const r = uniqueRepo();
    const big = pseudoRandomBytes(8 * 1024 * 1024 + 1000, 11);
    const res = await pushBlobMonolithic(r, big);
    expect(res.status).toBe(201);
    const d = res.headers.get("docker-content-digest")!;
    const from = 8 * 1024 * 1024 - 10;
    const got = await registry(`/v2/${r}/blobs/${d}`, { headers: { Range: `bytes=${from}-${from + 19}` } });
    expect(got.status).toBe(206);
    expect(new Uint8Array(await got.arrayBuffer())).toEqual(big.subarray(from, from + 20));
  });
});

describe("blob DELETE", () => {
  it("answers 202, then the blob is 404 in that repository only", async () => {
    const a = uniqueRepo();
    const b = uniqueRepo();
    const bytes = pseudoRandomBytes(64, 99);
    const digest = await pushBlob(a, bytes);
    await pushBlob(b, bytes);

    const del = await registry(`/v2/${a}/blobs/${digest}`, { method: "DELETE" });
    expect(del.status).toBe(202);
    await expectError(await registry(`/v2/${a}/blobs/${digest}`), 404, "BLOB_UNKNOWN");
    expect((await registry(`/v2/${a}/blobs/${digest}`, { method: "HEAD" })).status).toBe(404);
    await expectError(await registry(`/v2/${a}/blobs/${digest}`, { method: "DELETE" }), 404, "BLOB_UNKNOWN");

    const other = await registry(`/v2/${b}/blobs/${digest}`);
    expect(other.status).toBe(200);
    expect(new Uint8Array(await other.arrayBuffer())).toEqual(bytes);
  });

  it("answers 400 DIGEST_INVALID for a bad digest", async () => {
    await expectError(await registry(`/v2/${uniqueRepo()}/blobs/sha256:nothex`, { method: "DELETE" }), 400, "DIGEST_INVALID");
  });

  it("can push the blob again after deleting it", async () => {
    const repo = uniqueRepo();
    const digest = await pushBlob(repo, "again");
    expect((await registry(`/v2/${repo}/blobs/${digest}`, { method: "DELETE" })).status).toBe(202);
    await pushBlob(repo, "again");
    expect(await (await registry(`/v2/${repo}/blobs/${digest}`)).text()).toBe("again");
  });
});

describe("sha512 blobs", () => {
  it("pushes, serves and ranges a sha512 blob", async () => {
    const repo = uniqueRepo();
    const bytes = pseudoRandomBytes(5000, 5);
    const digest = await pushBlob(repo, bytes, "sha512");
    expect(digest).toMatch(/^sha512:[0-9a-f]{128}$/);
    const get = await registry(`/v2/${repo}/blobs/${digest}`);
    expect(get.status).toBe(200);
    expect(get.headers.get("docker-content-digest")).toBe(digest);
    expect(new Uint8Array(await get.arrayBuffer())).toEqual(bytes);
    const sha256 = await digestOf(bytes);
    await expectError(await registry(`/v2/${repo}/blobs/${sha256}`), 404, "BLOB_UNKNOWN");
  });

  it("rejects a sha512 upload whose content does not match", async () => {
    const repo = uniqueRepo();
    const wrong = await digestOf("other", "sha512");
    const res = await pushBlobMonolithic(repo, new TextEncoder().encode("content"), wrong);
    await expectError(res, 400, "DIGEST_INVALID");
    await expectError(await registry(`/v2/${repo}/blobs/${wrong}`), 404, "BLOB_UNKNOWN");
  });
});

describe("repository names on blob routes", () => {
  it.each(["UPPER/case", "a..b/c", "-lead/x", "a//b", `${"a".repeat(256)}`])("answers 400 NAME_INVALID for %j", async (name) => {
    const digest = await digestOf("x");
    await expectError(await registry(`/v2/${name}/blobs/${digest}`), 400, "NAME_INVALID");
    await expectError(await registry(`/v2/${name}/blobs/uploads/`, { method: "POST" }), 400, "NAME_INVALID");
  });

  it("accepts a 255-character nested name", async () => {
    const name = `${"a".repeat(127)}/${"b".repeat(127)}`;
    const digest = await pushBlob(name, "long name");
    expect((await registry(`/v2/${name}/blobs/${digest}`, { method: "HEAD" })).status).toBe(200);
  });
});
