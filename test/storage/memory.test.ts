import { describe, it, expect } from "vitest";
import { MemoryStore } from "../../src/storage/memory";
import { StorageError } from "../../src/storage/types";
import { describeObjectStore } from "./contract";
import { pseudoRandomBytes } from "../api/helpers";

describeObjectStore("MemoryStore", () => ({ store: new MemoryStore() }));

// Where R2 and S3 differ, MemoryStore takes the stricter side.
describe("MemoryStore: the stricter side", () => {
  it("lists metadata and content type only when asked (as S3)", async () => {
    const store = new MemoryStore();
    await store.put("k", "v", { contentType: "text/plain", metadata: { a: "1" } });
    expect((await store.list({ prefix: "" })).objects).toEqual([{ key: "k", size: 1, etag: (await store.head("k"))!.etag, metadata: {}, uploaded: expect.any(Number) }]);
    expect((await store.list({ prefix: "", metadata: true })).objects[0]).toMatchObject({ contentType: "text/plain", metadata: { a: "1" } });
  });

  it("derives etags from the bytes as R2 and S3 do: a rewrite of the same bytes keeps the etag, so If-Match cannot tell those versions apart", async () => {
    const store = new MemoryStore();
    const v1 = await store.put("k", "same");
    const v2 = await store.put("k", "same");
    expect(v2!.etag).toBe(v1!.etag);
    expect(await store.put("k", "next", { ifMatch: v1!.etag })).not.toBeNull();
    const v3 = await store.head("k");
    expect(v3!.etag).not.toBe(v1!.etag);
    expect(await store.put("k", "again", { ifMatch: v1!.etag })).toBeNull();
  });

  it("refuses unequal parts but the last (as R2)", async () => {
    const store = new MemoryStore();
    const [a, b] = [pseudoRandomBytes(6 * 1024 * 1024, 1), pseudoRandomBytes(5 * 1024 * 1024, 2)];
    const id = await store.createMultipart("k");
    const parts = [
      { partNumber: 1, etag: await store.uploadPart("k", id, 1, a, a.byteLength) },
      { partNumber: 2, etag: await store.uploadPart("k", id, 2, b, b.byteLength) },
      { partNumber: 3, etag: await store.uploadPart("k", id, 3, b, b.byteLength) },
    ];
    await expect(store.completeMultipart("k", id, parts)).rejects.toBeInstanceOf(StorageError);
  });
});
