// What only the S3 adapter (src/storage/s3.ts) does, against a real S3 server: Ceph RGW on 127.0.0.1, which verifies
// signatures, implements multipart uploads and conditional writes. Runs inside workerd, as the worker does. The
// behaviour every store shares is in test/storage/contract.ts (run on S3 by contract.test.ts).
import { describe, it, expect } from "vitest";
import { S3Store } from "../../src/storage/s3";
import { StorageError } from "../../src/storage/types";
import { pseudoRandomBytes } from "../api/helpers";
import { rgwSettings, sha256Hex } from "./helpers";
import { concat } from "../storage/contract";

const MiB = 1024 * 1024;

async function bodyText(store: S3Store, key: string): Promise<string | null> {
  const o = await store.get(key);
  return o ? new Response(o.body).text() : null;
}

describe("S3Store: objects", () => {
  it("lets a put that streams a slow client's body outlive the request timeout (its pace is the client's)", async () => {
    const store = new S3Store(rgwSettings(), 1000);
    const piece = pseudoRandomBytes(64 * 1024, 7);
    let sent = 0;
    // Four pieces, 700 ms apart: 2.1 s of body against a 1 s timeout.
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        if (sent === 4) return controller.close();
        if (sent > 0) await new Promise((r) => setTimeout(r, 700));
        sent++;
        controller.enqueue(piece.slice());
      },
    });
    const saved = await store.put("slow/body", body, { length: 4 * piece.byteLength });
    expect(saved).not.toBeNull();
    const back = await store.get("slow/body");
    expect(await sha256Hex(new Uint8Array(await new Response(back!.body).arrayBuffer()))).toBe(await sha256Hex(concat(piece, piece, piece, piece)));
  });

  it("answers etags bare (S3 quotes them), as R2 gives them", async () => {
    const store = new S3Store(rgwSettings());
    const put = await store.put("a/one", "hello");
    expect(put!.etag).toMatch(/^[0-9a-f]{32}$/);
    expect((await store.head("a/one"))!.etag).toBe(put!.etag);
    const id = await store.createMultipart("mp");
    expect(await store.uploadPart("mp", id, 1, new Uint8Array(1), 1)).toMatch(/^[0-9a-f]{32}$/);
    await store.abortMultipart("mp", id);
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

  it("lists without metadata in one request: sizes and etags from the listing, no metadata", async () => {
    const store = new S3Store(rgwSettings());
    await store.put("t/x", "abc", { contentType: "application/x-test", metadata: { digest: "sha256:1" } });
    const listed = await store.list({ prefix: "t/" });
    expect(listed.objects).toEqual([{ key: "t/x", size: 3, etag: (await store.head("t/x"))!.etag, metadata: {}, uploaded: expect.any(Number) }]);
  });
});

describe("S3Store: multipart uploads", () => {
  it("assembles unequal parts (S3 allows them, R2 does not)", async () => {
    const store = new S3Store(rgwSettings());
    const parts = [6 * MiB, 5 * MiB + 3, 7 * MiB, 1].map((n, i) => pseudoRandomBytes(n, 20 + i));
    const id = await store.createMultipart("mp/unequal");
    const etags: string[] = [];
    for (const [i, p] of parts.entries()) etags.push(await store.uploadPart("mp/unequal", id, i + 1, p, p.byteLength));
    await store.completeMultipart("mp/unequal", id, etags.map((etag, i) => ({ partNumber: i + 1, etag })));
    expect(await sha256Hex((await store.get("mp/unequal"))!.body)).toBe(await sha256Hex(concat(...parts)));
  });

  it("a refused completion names S3's error code", async () => {
    const store = new S3Store(rgwSettings());
    const id = await store.createMultipart("mp/bad");
    const small = pseudoRandomBytes(1 * MiB, 1);
    const e1 = await store.uploadPart("mp/bad", id, 1, small, small.byteLength);
    const e2 = await store.uploadPart("mp/bad", id, 2, small, small.byteLength);
    await expect(store.completeMultipart("mp/bad", id, [{ partNumber: 1, etag: e1 }, { partNumber: 2, etag: e2 }])).rejects.toThrow(/EntityTooSmall/);
    await store.abortMultipart("mp/bad", id);
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
