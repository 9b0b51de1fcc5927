// What every ObjectStore (and Presigner) must do, whatever the backend. R2 and S3 are the reference: where they
// differ the contract says nothing, and the adapter's own tests (e.g. test/s3/adapter.test.ts) pin its side down.
// Runs in workerd and in Node: Web APIs only.
import { describe, it, expect } from "vitest";
import { pseudoRandomBytes } from "../api/helpers";
import { StorageError, type ListOptions, type ObjectStore, type Presigner } from "../../src/storage/types";

export interface StoreUnderTest {
  store: ObjectStore;
  /** Checked when the backend has one. */
  presigner?: Presigner | null;
}

const MiB = 1024 * 1024;
const text = (s: string) => new TextEncoder().encode(s);

export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

/** Yields `bytes` in chunks of `chunk` bytes. */
function streamOf(bytes: Uint8Array, chunk = 64 * 1024): ReadableStream<Uint8Array> {
  let at = 0;
  return new ReadableStream<Uint8Array>({
    pull(c) {
      if (at >= bytes.byteLength) return c.close();
      c.enqueue(bytes.slice(at, at + chunk));
      at += chunk;
    },
  });
}

async function hex(data: Uint8Array | ArrayBuffer): Promise<string> {
  return [...new Uint8Array(await crypto.subtle.digest("SHA-256", data))].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** Every key under a prefix, page by page. Pages can be shorter than the limit (R2's are when it lists metadata). */
async function listAll(store: ObjectStore, opts: ListOptions): Promise<{ keys: string[]; pages: number }> {
  const keys: string[] = [];
  let cursor: string | undefined;
  let pages = 0;
  do {
    const page = await store.list({ ...opts, cursor });
    expect(page.objects.length).toBeLessThanOrEqual(Math.min(opts.limit ?? 1000, 1000));
    keys.push(...page.objects.map((o) => o.key));
    cursor = page.cursor;
    pages++;
  } while (cursor);
  return { keys, pages };
}

async function bytesFrom(body: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  return new Uint8Array(await new Response(body).arrayBuffer());
}

/** Registers the contract's tests for the stores `make` returns (one call per test; keys are unique per test). */
export function describeObjectStore(name: string, make: () => StoreUnderTest | Promise<StoreUnderTest>, opts: { presigner?: boolean } = {}): void {
  /** A fresh store and a key prefix no other test uses (the R2 bucket is shared by the tests of a file). */
  async function setup() {
    const s = await make();
    const ns = `c-${crypto.randomUUID().slice(0, 8)}/`;
    /** The text stored under ns + key, or null. */
    const read = async (key: string) => {
      const o = await s.store.get(ns + key);
      return o ? new Response(o.body).text() : null;
    };
    return { store: s.store, presigner: s.presigner ?? null, ns, read };
  }

  describe(`${name}: objects`, () => {
    it("round-trips bytes, content type and metadata; put, head and get agree", async () => {
      const { store, ns } = await setup();
      const put = await store.put(ns + "one", text("hello"), { contentType: "application/json", metadata: { digest: "sha256:abc", size: "5" } });
      expect(put).toMatchObject({ key: ns + "one", size: 5, contentType: "application/json", metadata: { digest: "sha256:abc", size: "5" } });
      expect(put!.etag).toMatch(/^[^"]+$/); // bare, never quoted
      const head = await store.head(ns + "one");
      expect(head).toEqual({ key: ns + "one", size: 5, etag: put!.etag, contentType: "application/json", metadata: { digest: "sha256:abc", size: "5" }, uploaded: expect.any(Number) });
      // Storage's write time, which garbage collection ages objects by: near this machine's clock (S3 has seconds).
      expect(Math.abs(head!.uploaded! - Date.now())).toBeLessThan(60_000);
      const got = await store.get(ns + "one");
      expect({ ...got, body: undefined }).toEqual({ ...head, body: undefined });
      const listed = (await store.list({ prefix: ns + "one" })).objects[0];
      expect(Math.abs(listed.uploaded! - head!.uploaded!)).toBeLessThan(1000); // S3: a listing has ms, a HEAD whole seconds
      expect(await new Response(got!.body).text()).toBe("hello");
    });

    it("stores strings and streams of a declared length", async () => {
      const { store, ns, read } = await setup();
      const s = await store.put(ns + "string", "plain text");
      expect(s).toMatchObject({ size: 10, metadata: {} });
      expect(await read("string")).toBe("plain text");
      const bytes = pseudoRandomBytes(3 * MiB + 17, 7);
      const streamed = await store.put(ns + "stream", streamOf(bytes), { length: bytes.byteLength });
      expect(streamed!.size).toBe(bytes.byteLength);
      expect(await hex(await bytesFrom((await store.get(ns + "stream"))!.body))).toBe(await hex(bytes));
    });

    it("stores empty objects from a string, bytes and a stream", async () => {
      const { store, ns } = await setup();
      await store.put(ns + "s", "");
      await store.put(ns + "b", new Uint8Array(0));
      await store.put(ns + "r", streamOf(new Uint8Array(0)), { length: 0 });
      for (const k of ["s", "b", "r"]) {
        expect((await store.head(ns + k))!.size).toBe(0);
        const o = await store.get(ns + k);
        expect(o!.size).toBe(0);
        expect((await bytesFrom(o!.body)).byteLength).toBe(0);
      }
    });

    it("answers null for missing keys, and deleting them is no error", async () => {
      const { store, ns } = await setup();
      expect(await store.head(ns + "nope")).toBeNull();
      expect(await store.get(ns + "nope")).toBeNull();
      expect(await store.get(ns + "nope", { offset: 0, length: 10 })).toBeNull();
      await store.delete(ns + "nope");
      await store.delete([ns + "nope", ns + "nope2"]);
      await store.delete([]);
    });

    it("refuses a stream without a length, or shorter or longer than its length, and stores nothing", async () => {
      const { store, ns } = await setup();
      await expect(store.put(ns + "x", streamOf(text("abc")))).rejects.toBeInstanceOf(StorageError);
      await expect(store.put(ns + "short", streamOf(text("abc")), { length: 10 })).rejects.toBeInstanceOf(StorageError);
      await expect(store.put(ns + "long", streamOf(text("abcdef")), { length: 3 })).rejects.toBeInstanceOf(StorageError);
      for (const k of ["x", "short", "long"]) expect(await store.head(ns + k)).toBeNull();
    });

    it("a failed stream put leaves the previous version in place", async () => {
      const { store, ns, read } = await setup();
      await store.put(ns + "k", "old");
      await expect(store.put(ns + "k", streamOf(text("ab")), { length: 5 })).rejects.toBeInstanceOf(StorageError);
      expect(await read("k")).toBe("old");
    });

    it("serves byte ranges, with the whole object's size and etag", async () => {
      const { store, ns } = await setup();
      const bytes = pseudoRandomBytes(100_000, 3);
      const put = await store.put(ns + "r", bytes);
      const part = await store.get(ns + "r", { offset: 1000, length: 500 });
      expect(part).toMatchObject({ size: 100_000, etag: put!.etag });
      expect(await bytesFrom(part!.body)).toEqual(bytes.slice(1000, 1500));
      const first = await store.get(ns + "r", { offset: 0, length: 1 });
      expect(await bytesFrom(first!.body)).toEqual(bytes.slice(0, 1));
      const last = await store.get(ns + "r", { offset: 99_999, length: 1 });
      expect(await bytesFrom(last!.body)).toEqual(bytes.slice(99_999));
    });

    it("overwrites: the new bytes, metadata and etag replace the old", async () => {
      const { store, ns, read } = await setup();
      const v1 = await store.put(ns + "k", "one", { metadata: { a: "1" }, contentType: "text/plain" });
      const v2 = await store.put(ns + "k", "two!", { metadata: { b: "2" } });
      expect(v2!.etag).not.toBe(v1!.etag);
      expect(await store.head(ns + "k")).toMatchObject({ key: ns + "k", size: 4, etag: v2!.etag, metadata: { b: "2" } });
      expect(await read("k")).toBe("two!");
    });

    it("deletes one key, a few, and more than one batch (1000); lists are capped at 1000 per page", async () => {
      const { store, ns } = await setup();
      await store.put(ns + "one", "1");
      await store.delete(ns + "one");
      expect(await store.head(ns + "one")).toBeNull();

      const keys = Array.from({ length: 1003 }, (_, i) => `${ns}many/${String(i).padStart(4, "0")}`);
      for (let i = 0; i < keys.length; i += 50) await Promise.all(keys.slice(i, i + 50).map((k) => store.put(k, "")));
      const listed = await listAll(store, { prefix: ns + "many/", limit: 5000 });
      expect(listed.keys).toEqual(keys);
      expect(listed.pages).toBeGreaterThanOrEqual(2);
      expect((await store.list({ prefix: ns + "many/", startAfter: keys[999] })).objects.map((o) => o.key)).toEqual(keys.slice(1000));

      await store.delete([...keys, ns + "never-existed"]);
      expect((await store.list({ prefix: ns + "many/" })).objects).toEqual([]);
    });
  });

  describe(`${name}: conditional writes`, () => {
    it("ifNoneMatch * creates once, answers null while the key exists, and creates again after a delete", async () => {
      const { store, ns, read } = await setup();
      expect(await store.put(ns + "c", "first", { ifNoneMatch: "*" })).not.toBeNull();
      expect(await store.put(ns + "c", "second", { ifNoneMatch: "*" })).toBeNull();
      expect(await read("c")).toBe("first");
      await store.delete(ns + "c");
      expect(await store.put(ns + "c", "third", { ifNoneMatch: "*" })).not.toBeNull();
      expect(await read("c")).toBe("third");
    });

    it("of racing creates of one key exactly one wins, and its bytes are stored", async () => {
      const { store, ns, read } = await setup();
      const results = await Promise.all(Array.from({ length: 12 }, (_, i) => store.put(ns + "race", `writer ${i}`, { ifNoneMatch: "*" })));
      const winners = results.map((r, i) => (r ? i : -1)).filter((i) => i >= 0);
      expect(winners).toHaveLength(1);
      expect(await read("race")).toBe(`writer ${winners[0]}`);
    });

    it("a stream put whose condition fails answers null and leaves the stored object", async () => {
      const { store, ns, read } = await setup();
      await store.put(ns + "s", "winner");
      const bytes = pseudoRandomBytes(100_000, 9);
      expect(await store.put(ns + "s", streamOf(bytes), { length: bytes.byteLength, ifNoneMatch: "*" })).toBeNull();
      expect(await read("s")).toBe("winner");
    });

    it("ifMatch replaces only the version it names; a stale etag or a missing key answers null", async () => {
      const { store, ns, read } = await setup();
      const v1 = await store.put(ns + "m", "v1");
      const v2 = await store.put(ns + "m", "v2", { ifMatch: v1!.etag });
      expect(v2).not.toBeNull();
      expect(await store.put(ns + "m", "v3", { ifMatch: v1!.etag })).toBeNull();
      expect(await read("m")).toBe("v2");
      expect(await store.put(ns + "missing", "x", { ifMatch: v1!.etag })).toBeNull();
      expect(await store.head(ns + "missing")).toBeNull();
      // The etag of a read works as well as the etag of a write.
      const got = await store.get(ns + "m");
      await got!.body.cancel();
      expect(await store.put(ns + "m", "v4", { ifMatch: got!.etag })).not.toBeNull();
      expect(await read("m")).toBe("v4");
    });

    it("of racing compare-and-swaps on one version at most one wins", async () => {
      const { store, ns, read } = await setup();
      const base = await store.put(ns + "cas", "base");
      const results = await Promise.all(Array.from({ length: 8 }, (_, i) => store.put(ns + "cas", `update ${i}`, { ifMatch: base!.etag })));
      const winners = results.map((r, i) => (r ? i : -1)).filter((i) => i >= 0);
      expect(winners.length).toBeLessThanOrEqual(1);
      expect(await read("cas")).toBe(winners.length === 1 ? `update ${winners[0]}` : "base");
    });
  });

  describe(`${name}: listing`, () => {
    it("lists in key order, page by page with a cursor, from startAfter, with metadata when asked", async () => {
      const { store, ns } = await setup();
      const names = Array.from({ length: 23 }, (_, i) => `${ns}tags/t${String(i).padStart(2, "0")}`);
      // Written out of order: the listing sorts.
      await Promise.all([...names].reverse().map((k, i) => store.put(k, `m${22 - i}`, { contentType: "application/x-test", metadata: { digest: `sha256:${22 - i}` } })));
      await store.put(ns + "other/x", "not listed");
      await store.put(ns + "tags", "not under tags/");

      const seen: string[] = [];
      let cursor: string | undefined;
      let pages = 0;
      do {
        const page = await store.list({ prefix: ns + "tags/", limit: 10, cursor, metadata: true });
        expect(page.objects.length).toBeLessThanOrEqual(10);
        for (const o of page.objects) {
          const i = Number(o.key.slice(-2));
          expect(o).toMatchObject({ size: `m${i}`.length, contentType: "application/x-test", metadata: { digest: `sha256:${i}` } });
          expect(o.etag).toBe((await store.head(o.key))!.etag);
        }
        seen.push(...page.objects.map((o) => o.key));
        cursor = page.cursor;
        pages++;
      } while (cursor);
      expect(seen).toEqual(names);
      expect(pages).toBeGreaterThanOrEqual(3);

      const after = await store.list({ prefix: ns + "tags/", startAfter: names[20] });
      expect(after.objects.map((o) => [o.key, o.size])).toEqual([[names[21], 3], [names[22], 3]]);
      expect(after.cursor).toBeUndefined();
      const exact = await store.list({ prefix: ns + "tags/", startAfter: names[12], limit: 10 });
      expect(exact.objects.map((o) => o.key)).toEqual(names.slice(13));
      // startAfter need not be a stored key.
      const between = await store.list({ prefix: ns + "tags/", startAfter: `${names[4]}~`, limit: 2 });
      expect(between.objects.map((o) => o.key)).toEqual(names.slice(5, 7));
      expect(between.cursor).toBeDefined();
    });

    it("an empty prefix listing has no objects and no cursor", async () => {
      const { store, ns } = await setup();
      expect(await store.list({ prefix: ns })).toEqual({ objects: [], cursor: undefined });
      expect(await store.list({ prefix: ns, metadata: true })).toEqual({ objects: [], cursor: undefined });
    });

    it("a key deleted between pages is not listed; one added after the cursor is", async () => {
      const { store, ns } = await setup();
      for (const k of ["a", "b", "c", "d"]) await store.put(ns + k, k);
      const first = await store.list({ prefix: ns, limit: 2 });
      expect(first.objects.map((o) => o.key)).toEqual([ns + "a", ns + "b"]);
      await store.delete(ns + "c");
      await store.put(ns + "e", "e");
      const rest = await store.list({ prefix: ns, limit: 2, cursor: first.cursor });
      expect(rest.objects.map((o) => o.key)).toEqual([ns + "d", ns + "e"]);
    });
  });

  describe(`${name}: multipart uploads`, () => {
    it("assembles equal parts and a shorter last part, in part order", async () => {
      const { store, ns } = await setup();
      const p1 = pseudoRandomBytes(5 * MiB, 11);
      const p2 = pseudoRandomBytes(5 * MiB, 12);
      const p3 = pseudoRandomBytes(123_457, 13);
      const key = ns + "mp";
      const id = await store.createMultipart(key);
      // Uploaded out of order: the part numbers decide.
      const e3 = await store.uploadPart(key, id, 3, p3, p3.byteLength);
      const e1 = await store.uploadPart(key, id, 1, p1, p1.byteLength);
      const e2 = await store.uploadPart(key, id, 2, p2, p2.byteLength);
      for (const e of [e1, e2, e3]) expect(e).toMatch(/^[^"]+$/);
      expect(await store.head(key)).toBeNull(); // nothing visible before completion
      await store.completeMultipart(key, id, [
        { partNumber: 1, etag: e1 },
        { partNumber: 2, etag: e2 },
        { partNumber: 3, etag: e3 },
      ]);
      const head = await store.head(key);
      expect(head).toMatchObject({ key, size: 10 * MiB + 123_457, metadata: {} });
      expect(head!.etag).not.toBe("");
      const whole = concat(p1, p2, p3);
      expect(await hex(await bytesFrom((await store.get(key))!.body))).toBe(await hex(whole));
      const cross = await store.get(key, { offset: 5 * MiB - 10, length: 20 });
      expect(await bytesFrom(cross!.body)).toEqual(whole.slice(5 * MiB - 10, 5 * MiB + 10));
      // The upload is gone once complete.
      await expect(store.uploadPart(key, id, 4, p3, p3.byteLength)).rejects.toBeInstanceOf(StorageError);
    });

    it("a single part, and a re-uploaded part number replacing the earlier one", async () => {
      const { store, ns } = await setup();
      const one = pseudoRandomBytes(1000, 1);
      const id1 = await store.createMultipart(ns + "single");
      const e = await store.uploadPart(ns + "single", id1, 1, one, one.byteLength);
      await store.completeMultipart(ns + "single", id1, [{ partNumber: 1, etag: e }]);
      expect(await bytesFrom((await store.get(ns + "single"))!.body)).toEqual(one);

      const first = pseudoRandomBytes(5 * MiB, 2);
      const replacement = pseudoRandomBytes(5 * MiB, 3);
      const tail = pseudoRandomBytes(10, 4);
      const id = await store.createMultipart(ns + "replaced");
      const stale = await store.uploadPart(ns + "replaced", id, 1, first, first.byteLength);
      const e1 = await store.uploadPart(ns + "replaced", id, 1, replacement, replacement.byteLength);
      const e2 = await store.uploadPart(ns + "replaced", id, 2, tail, tail.byteLength);
      if (stale !== e1) {
        await expect(store.completeMultipart(ns + "replaced", id, [{ partNumber: 1, etag: stale }, { partNumber: 2, etag: e2 }])).rejects.toBeInstanceOf(StorageError);
      }
      await store.completeMultipart(ns + "replaced", id, [{ partNumber: 1, etag: e1 }, { partNumber: 2, etag: e2 }]);
      expect(await hex(await bytesFrom((await store.get(ns + "replaced"))!.body))).toBe(await hex(concat(replacement, tail)));
    });

    it("completing replaces an existing object", async () => {
      const { store, ns, read } = await setup();
      const old = await store.put(ns + "k", "old", { metadata: { a: "1" } });
      const id = await store.createMultipart(ns + "k");
      const e = await store.uploadPart(ns + "k", id, 1, text("new"), 3);
      expect(await read("k")).toBe("old");
      await store.completeMultipart(ns + "k", id, [{ partNumber: 1, etag: e }]);
      const head = await store.head(ns + "k");
      expect(head).toMatchObject({ size: 3, metadata: {} });
      expect(head!.etag).not.toBe(old!.etag);
      expect(await read("k")).toBe("new");
    });

    it("refuses a part whose length is not the declared one", async () => {
      const { store, ns } = await setup();
      const id = await store.createMultipart(ns + "bad");
      await expect(store.uploadPart(ns + "bad", id, 1, new Uint8Array(10), 11)).rejects.toBeInstanceOf(StorageError);
      await expect(store.uploadPart(ns + "bad", id, 1, new Uint8Array(10), 9)).rejects.toBeInstanceOf(StorageError);
      await store.abortMultipart(ns + "bad", id);
    });

    it("refuses to complete with a part but the last under 5 MiB", async () => {
      const { store, ns } = await setup();
      const small = pseudoRandomBytes(1 * MiB, 1);
      const id = await store.createMultipart(ns + "small");
      const e1 = await store.uploadPart(ns + "small", id, 1, small, small.byteLength);
      const e2 = await store.uploadPart(ns + "small", id, 2, small, small.byteLength);
      await expect(store.completeMultipart(ns + "small", id, [{ partNumber: 1, etag: e1 }, { partNumber: 2, etag: e2 }])).rejects.toBeInstanceOf(StorageError);
      await store.abortMultipart(ns + "small", id);
      expect(await store.head(ns + "small")).toBeNull();
    });

    it("abort discards the parts: nothing is stored, completing afterwards fails, aborting again is harmless", async () => {
      const { store, ns } = await setup();
      const id = await store.createMultipart(ns + "abort");
      const p = pseudoRandomBytes(1000, 5);
      const e1 = await store.uploadPart(ns + "abort", id, 1, p, p.byteLength);
      await store.abortMultipart(ns + "abort", id);
      await expect(store.completeMultipart(ns + "abort", id, [{ partNumber: 1, etag: e1 }])).rejects.toBeInstanceOf(StorageError);
      await expect(store.uploadPart(ns + "abort", id, 2, p, p.byteLength)).rejects.toBeInstanceOf(StorageError);
      await store.abortMultipart(ns + "abort", id);
      expect(await store.head(ns + "abort")).toBeNull();
    });

    it("an unknown upload id is a StorageError", async () => {
      const { store, ns } = await setup();
      const real = await store.createMultipart(ns + "k");
      const unknown = real.slice(0, -4) + (real.endsWith("aaaa") ? "bbbb" : "aaaa");
      await expect(store.uploadPart(ns + "k", unknown, 1, text("x"), 1)).rejects.toBeInstanceOf(StorageError);
      await expect(store.completeMultipart(ns + "k", unknown, [{ partNumber: 1, etag: "0".repeat(32) }])).rejects.toBeInstanceOf(StorageError);
      await store.abortMultipart(ns + "k", real);
    });

    it("uploads of one key are independent", async () => {
      const { store, ns, read } = await setup();
      const a = await store.createMultipart(ns + "k");
      const b = await store.createMultipart(ns + "k");
      expect(a).not.toBe(b);
      const ea = await store.uploadPart(ns + "k", a, 1, text("from a"), 6);
      await store.uploadPart(ns + "k", b, 1, text("from b"), 6);
      await store.abortMultipart(ns + "k", b);
      await store.completeMultipart(ns + "k", a, [{ partNumber: 1, etag: ea }]);
      expect(await read("k")).toBe("from a");
    });
  });

  if (opts.presigner) {
    describe(`${name}: presigned GETs`, () => {
      it("a presigned URL fetches the object's bytes without credentials", async () => {
        const { store, presigner, ns } = await setup();
        expect(presigner).not.toBeNull();
        const bytes = pseudoRandomBytes(200_000, 41);
        await store.put(ns + "blob", bytes);
        const res = await fetch(await presigner!.presignGet(ns + "blob", 60));
        expect(res.status).toBe(200);
        expect(res.headers.get("content-length")).toBe(String(bytes.byteLength));
        expect(await hex(await res.arrayBuffer())).toBe(await hex(bytes));
      });

      it("a presigned URL to a missing key answers 404", async () => {
        const { presigner, ns } = await setup();
        const res = await fetch(await presigner!.presignGet(ns + "missing", 60));
        await res.body?.cancel();
        expect(res.status).toBe(404);
      });
    });
  }
}
