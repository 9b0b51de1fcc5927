// The S3 adapter (src/storage/s3.ts) against a real S3 server: Ceph RGW on 127.0.0.1, which verifies signatures,
// implements multipart uploads and conditional writes. Runs inside workerd, as the worker does.
import { describe, it, expect } from "vitest";
import { S3Store } from "../../src/storage/s3";
import { StorageError } from "../../src/storage/types";
import { pseudoRandomBytes } from "../api/helpers";
import { concat, rgwSettings, sha256Hex, streamOf } from "./helpers";

const MiB = 1024 * 1024;
const text = (s: string) => new TextEncoder().encode(s);

async function bodyText(store: S3Store, key: string): Promise<string | null> {
  const o = await store.get(key);
  return o ? new Response(o.body).text() : null;
}

describe("S3Store: objects", () => {
  it("puts, heads and gets bytes, strings and streams with content type and metadata", async () => {
    const store = new S3Store(rgwSettings());
    const put = await store.put("a/one", text("hello"), { contentType: "application/json", metadata: { digest: "sha256:abc", size: "5" } });
    expect(put).toMatchObject({ key: "a/one", size: 5, contentType: "application/json", metadata: { digest: "sha256:abc", size: "5" } });
    expect(put!.etag).toMatch(/^[0-9a-f]{32}$/); // bare, as R2 gives it

    const head = await store.head("a/one");
    expect(head).toEqual({ key: "a/one", size: 5, etag: put!.etag, contentType: "application/json", metadata: { digest: "sha256:abc", size: "5" } });
    const got = await store.get("a/one");
    expect(got).toMatchObject({ key: "a/one", size: 5, etag: put!.etag, contentType: "application/json", metadata: { digest: "sha256:abc" } });
    expect(await new Response(got!.body).text()).toBe("hello");

    await store.put("a/string", "plain text");
    expect(await bodyText(store, "a/string")).toBe("plain text");

    const bytes = pseudoRandomBytes(3 * MiB + 17, 7);
    const streamed = await store.put("a/stream", streamOf(bytes), { length: bytes.byteLength });
    expect(streamed!.size).toBe(bytes.byteLength);
    expect(await sha256Hex((await store.get("a/stream"))!.body)).toBe(await sha256Hex(bytes));

    await store.put("a/empty", "");
    const empty = await store.get("a/empty");
    expect(empty!.size).toBe(0);
    expect((await new Response(empty!.body).arrayBuffer()).byteLength).toBe(0);
  });

  it("serves byte ranges and reports the whole object's size", async () => {
    const store = new S3Store(rgwSettings());
    const bytes = pseudoRandomBytes(100_000, 3);
    await store.put("r", bytes);
    const part = await store.get("r", { offset: 1000, length: 500 });
    expect(part!.size).toBe(100_000);
    expect(new Uint8Array(await new Response(part!.body).arrayBuffer())).toEqual(bytes.slice(1000, 1500));
    const last = await store.get("r", { offset: 99_999, length: 1 });
    expect(new Uint8Array(await new Response(last!.body).arrayBuffer())).toEqual(bytes.slice(99_999));
  });

  it("answers null for missing keys and ignores deleting them", async () => {
    const store = new S3Store(rgwSettings());
    expect(await store.head("nope")).toBeNull();
    expect(await store.get("nope")).toBeNull();
    expect(await store.get("nope", { offset: 0, length: 10 })).toBeNull();
    await store.delete("nope");
    await store.delete(["nope", "nope2"]);
  });

  it("refuses a stream without a length, and a stream shorter than its declared length", async () => {
    const store = new S3Store(rgwSettings());
    await expect(store.put("x", streamOf(text("abc")))).rejects.toBeInstanceOf(StorageError);
    await expect(store.put("short", streamOf(text("abc")), { length: 10 })).rejects.toBeInstanceOf(StorageError);
    expect(await store.head("short")).toBeNull();
  });

  it("keeps every key under the configured prefix, invisible to a store with another prefix", async () => {
    const shared = rgwSettings();
    const a = new S3Store({ ...shared, prefix: `${shared.prefix}a/` });
    const b = new S3Store({ ...shared, prefix: `${shared.prefix}b/` });
    const root = new S3Store({ ...shared, prefix: "" });
    await a.put("k", "from a");
    expect(await b.head("k")).toBeNull();
    expect(await bodyText(root, `${shared.prefix}a/k`)).toBe("from a");
    expect((await b.list({ prefix: "" })).objects).toEqual([]);
    expect((await a.list({ prefix: "" })).objects.map((o) => o.key)).toEqual(["k"]);
  });

  it("deletes one key, a few keys, and more than one multi-delete batch (1000)", async () => {
    const store = new S3Store(rgwSettings());
    await store.put("one", "1");
    await store.delete("one");
    expect(await store.head("one")).toBeNull();

    const keys = Array.from({ length: 1003 }, (_, i) => `many/${String(i).padStart(4, "0")}`);
    for (let i = 0; i < keys.length; i += 50) await Promise.all(keys.slice(i, i + 50).map((k) => store.put(k, "")));
    expect((await store.list({ prefix: "many/", startAfter: "many/0999" })).objects.map((o) => o.key)).toEqual(["many/1000", "many/1001", "many/1002"]);
    await store.delete([...keys, "never-existed"]);
    expect((await store.list({ prefix: "many/" })).objects).toEqual([]);
  });
});

describe("S3Store: conditional writes", () => {
  it("If-None-Match: * creates once and answers null when the key exists", async () => {
    const store = new S3Store(rgwSettings());
    expect(await store.put("c", "first", { ifNoneMatch: "*" })).not.toBeNull();
    expect(await store.put("c", "second", { ifNoneMatch: "*" })).toBeNull();
    expect(await bodyText(store, "c")).toBe("first");
  });

  it("of concurrent creates of one key exactly one wins, and its bytes are stored", async () => {
    const store = new S3Store(rgwSettings());
    const results = await Promise.all(Array.from({ length: 12 }, (_, i) => store.put("race", `writer ${i}`, { ifNoneMatch: "*" })));
    const winners = results.map((r, i) => (r ? i : -1)).filter((i) => i >= 0);
    expect(winners).toHaveLength(1);
    expect(await bodyText(store, "race")).toBe(`writer ${winners[0]}`);
  });

  it("If-Match replaces only the version it names; a stale or missing one answers null", async () => {
    const store = new S3Store(rgwSettings());
    const v1 = await store.put("m", "v1");
    const v2 = await store.put("m", "v2", { ifMatch: v1!.etag });
    expect(v2).not.toBeNull();
    expect(await store.put("m", "v3", { ifMatch: v1!.etag })).toBeNull();
    expect(await bodyText(store, "m")).toBe("v2");
    expect(await store.put("missing", "x", { ifMatch: v1!.etag })).toBeNull();
    expect(await store.head("missing")).toBeNull();
    // The etag of a read works as well as the etag of a write.
    const read = await store.get("m");
    await read!.body.cancel();
    expect(await store.put("m", "v4", { ifMatch: read!.etag })).not.toBeNull();
  });

  it("of concurrent compare-and-swaps on one version at most one wins", async () => {
    const store = new S3Store(rgwSettings());
    const base = await store.put("cas", "base");
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => store.put("cas", `update ${i}`, { ifMatch: base!.etag })));
    const winners = results.map((r, i) => (r ? i : -1)).filter((i) => i >= 0);
    expect(winners.length).toBeLessThanOrEqual(1);
    const stored = await bodyText(store, "cas");
    expect(winners.length === 1 ? stored === `update ${winners[0]}` : stored === "base").toBe(true);
  });
});

describe("S3Store: listing", () => {
  it("lists in key order, page by page with a cursor, from startAfter, with metadata filled in", async () => {
    const store = new S3Store(rgwSettings());
    const names = Array.from({ length: 23 }, (_, i) => `tags/t${String(i).padStart(2, "0")}`);
    await Promise.all(names.map((k, i) => store.put(k, `m${i}`, { contentType: "application/x-test", metadata: { digest: `sha256:${i}` } })));
    await store.put("other/x", "not listed");

    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await store.list({ prefix: "tags/", limit: 10, cursor, metadata: true });
      expect(page.objects.length).toBeLessThanOrEqual(10);
      for (const o of page.objects) {
        expect(o.metadata.digest).toBe(`sha256:${Number(o.key.slice(6))}`);
        expect(o.contentType).toBe("application/x-test");
        expect(o.size).toBe(`m${Number(o.key.slice(6))}`.length);
      }
      seen.push(...page.objects.map((o) => o.key));
      cursor = page.cursor;
      pages++;
    } while (cursor);
    expect(seen).toEqual(names);
    expect(pages).toBe(3);

    const after = await store.list({ prefix: "tags/", startAfter: "tags/t20" });
    expect(after.objects.map((o) => o.key)).toEqual(["tags/t21", "tags/t22"]);
    // Without `metadata`, a listing costs one request: sizes come from it, metadata is not fetched.
    expect(after.objects.map((o) => [o.size, o.metadata])).toEqual([[3, {}], [3, {}]]);
    expect(after.cursor).toBeUndefined();
    const exact = await store.list({ prefix: "tags/", startAfter: "tags/t12", limit: 10 });
    expect(exact.objects.map((o) => o.key)).toEqual(names.slice(13));
  });
});

describe("S3Store: multipart uploads", () => {
  it("assembles equal parts and a shorter last part", async () => {
    const store = new S3Store(rgwSettings());
    const p1 = pseudoRandomBytes(5 * MiB, 11);
    const p2 = pseudoRandomBytes(5 * MiB, 12);
    const p3 = pseudoRandomBytes(123_457, 13);
    const id = await store.createMultipart("mp/equal");
    const e1 = await store.uploadPart("mp/equal", id, 1, p1, p1.byteLength);
    const e2 = await store.uploadPart("mp/equal", id, 2, p2, p2.byteLength);
    const e3 = await store.uploadPart("mp/equal", id, 3, p3, p3.byteLength);
    for (const e of [e1, e2, e3]) expect(e).toMatch(/^[0-9a-f]{32}$/);
    await store.completeMultipart("mp/equal", id, [
      { partNumber: 1, etag: e1 },
      { partNumber: 2, etag: e2 },
      { partNumber: 3, etag: e3 },
    ]);
    const head = await store.head("mp/equal");
    expect(head!.size).toBe(10 * MiB + 123_457);
    expect(head!.etag).not.toBe(""); // RGW's complete answer has an empty ETag; HEAD has the real one
    expect(await sha256Hex((await store.get("mp/equal"))!.body)).toBe(await sha256Hex(concat(p1, p2, p3)));
    // A range across the part boundary.
    const cross = await store.get("mp/equal", { offset: 5 * MiB - 10, length: 20 });
    expect(new Uint8Array(await new Response(cross!.body).arrayBuffer())).toEqual(concat(p1, p2).slice(5 * MiB - 10, 5 * MiB + 10));
  });

  it("assembles unequal parts (S3 allows them, R2 does not) and a replaced part", async () => {
    const store = new S3Store(rgwSettings());
    const parts = [6 * MiB, 5 * MiB + 3, 7 * MiB, 1].map((n, i) => pseudoRandomBytes(n, 20 + i));
    const id = await store.createMultipart("mp/unequal");
    const etags: string[] = [];
    for (const [i, p] of parts.entries()) etags.push(await store.uploadPart("mp/unequal", id, i + 1, p, p.byteLength));
    // Re-uploading a part number replaces it; complete() takes the newest etag.
    const replacement = pseudoRandomBytes(5 * MiB + 3, 99);
    etags[1] = await store.uploadPart("mp/unequal", id, 2, replacement, replacement.byteLength);
    await store.completeMultipart("mp/unequal", id, etags.map((etag, i) => ({ partNumber: i + 1, etag })));
    expect(await sha256Hex((await store.get("mp/unequal"))!.body)).toBe(await sha256Hex(concat(parts[0], replacement, parts[2], parts[3])));
  });

  it("refuses a part of the wrong length, and a non-last part under 5 MiB at completion", async () => {
    const store = new S3Store(rgwSettings());
    const id = await store.createMultipart("mp/bad");
    await expect(store.uploadPart("mp/bad", id, 1, new Uint8Array(10), 11)).rejects.toBeInstanceOf(StorageError);
    const small = pseudoRandomBytes(1 * MiB, 1);
    const e1 = await store.uploadPart("mp/bad", id, 1, small, small.byteLength);
    const e2 = await store.uploadPart("mp/bad", id, 2, small, small.byteLength);
    await expect(store.completeMultipart("mp/bad", id, [{ partNumber: 1, etag: e1 }, { partNumber: 2, etag: e2 }])).rejects.toThrow(/EntityTooSmall/);
    await store.abortMultipart("mp/bad", id);
    expect(await store.head("mp/bad")).toBeNull();
  });

  it("abort discards the parts: completing afterwards fails, aborting again is harmless", async () => {
    const store = new S3Store(rgwSettings());
    const id = await store.createMultipart("mp/abort");
    const p = pseudoRandomBytes(5 * MiB, 5);
    const e1 = await store.uploadPart("mp/abort", id, 1, p, p.byteLength);
    await store.abortMultipart("mp/abort", id);
    await expect(store.completeMultipart("mp/abort", id, [{ partNumber: 1, etag: e1 }])).rejects.toBeInstanceOf(StorageError);
    await store.abortMultipart("mp/abort", id);
    expect(await store.head("mp/abort")).toBeNull();
  });
});

describe("S3Store: failures", () => {
  it("a wrong secret is refused by the server (signature check) and surfaces as a StorageError without the secret", async () => {
    const secret = "wrong-secret-" + crypto.randomUUID();
    const store = new S3Store(rgwSettings({ secretAccessKey: secret }));
    const err = await store.put("k", "x").catch((e) => e);
    expect(err).toBeInstanceOf(StorageError);
    expect(err.message).toMatch(/SignatureDoesNotMatch|403/);
    expect(err.message).not.toContain(secret);
    await expect(store.head("k")).rejects.toBeInstanceOf(StorageError);
  });

  it("an unreachable endpoint surfaces as a StorageError", async () => {
    // Port 9 (discard) on 127.0.0.1: nothing listens there in the test environment.
    const store = new S3Store(rgwSettings({ endpoint: "http://127.0.0.1:9" }));
    await expect(store.head("k")).rejects.toBeInstanceOf(StorageError);
    await expect(store.put("k", "x")).rejects.toBeInstanceOf(StorageError);
    await expect(store.list({ prefix: "" })).rejects.toBeInstanceOf(StorageError);
  });
});
