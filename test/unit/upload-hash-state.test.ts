// Chunked uploads verified by a SHA-256 carried across requests (docs/uploads-hash-state.md): the final PUT reads
// nothing back when the session carried its hash, and the hash can only be trusted because no part number is ever
// written by two requests (they are reserved in the session state before any part is uploaded).
//
// The registry's upload operations called directly (no HTTP), on the MemoryStore and on the R2 adapter over the
// simulated R2 bucket, behind a store that records the calls that matter here (GETs of data objects, uploadPart's
// part numbers, the parts listed at completion). Parts are 5 MiB (the storage minimum).
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../src/config";
import type { Env } from "../../src/config/settings";
import { digestBytes, formatDigest, type Digest } from "../../src/protocol/digest";
import { RegistryError } from "../../src/protocol/errors";
import type { RegistryDeps } from "../../src/registry/deps";
import { keys } from "../../src/registry/paths";
import { appendChunk, completeUpload, loadUpload, startUpload, type UploadSession } from "../../src/registry/uploads";
import { MemoryStore } from "../../src/storage/memory";
import { R2Store } from "../../src/storage/r2";
import type { ListOptions, ObjectStore, PartRef, PutBody, PutOptions } from "../../src/storage/types";
import { bytes, rejection } from "./helpers";

const MiB = 1024 * 1024;
const PART = 5 * MiB;
const REPO = "hash/state";

/** Passes every call through; records what these tests look at. */
class RecordingStore implements ObjectStore {
  gets: string[] = [];
  heads: string[] = [];
  /** uploadPart calls, in the order they started: which request made them is the test's `tag` at that time. */
  partCalls: { tag: string; partNumber: number }[] = [];
  completions: PartRef[][] = [];
  tag = "";
  /** When set, uploadPart of this many parts from now on fails (storage failing mid-request). */
  failPartsAfter: number | null = null;
  constructor(readonly inner: ObjectStore) {}
  head(key: string) {
    this.heads.push(key);
    return this.inner.head(key);
  }
  get(key: string, range?: { offset: number; length: number }) {
    this.gets.push(key);
    return this.inner.get(key, range);
  }
  put(key: string, body: PutBody, opts?: PutOptions) {
    return this.inner.put(key, body, opts);
  }
  delete(k: string | string[]) {
    return this.inner.delete(k);
  }
  list(opts: ListOptions) {
    return this.inner.list(opts);
  }
  createMultipart(key: string) {
    return this.inner.createMultipart(key);
  }
  uploadPart(key: string, uploadId: string, partNumber: number, body: Uint8Array, length: number) {
    this.partCalls.push({ tag: this.tag, partNumber });
    if (this.failPartsAfter !== null && this.failPartsAfter-- <= 0) return Promise.reject(Object.assign(new Error("storage down"), { name: "StorageError" }));
    return this.inner.uploadPart(key, uploadId, partNumber, body, length);
  }
  completeMultipart(key: string, uploadId: string, parts: PartRef[]) {
    this.completions.push(parts);
    return this.inner.completeMultipart(key, uploadId, parts);
  }
  abortMultipart(key: string, uploadId: string) {
    return this.inner.abortMultipart(key, uploadId);
  }
  /** GETs of blob data objects (`data/...`): a read-back reads the completed object there. */
  dataGets(): number {
    return this.gets.filter((k) => k.startsWith("data/")).length;
  }
}

const bucket = () => (env as unknown as { BUCKET: R2Bucket }).BUCKET;

async function clearBucket(): Promise<void> {
  const store = new R2Store(bucket());
  for (;;) {
    const page = await store.list({ prefix: "" });
    if (!page.objects.length) return;
    await store.delete(page.objects.map((o) => o.key));
  }
}

const BACKENDS: [string, () => Promise<ObjectStore>][] = [
  ["MemoryStore", async () => new MemoryStore()],
  ["R2Store (simulated bucket)", async () => (await clearBucket(), new R2Store(bucket()))],
];

async function setup(make: () => Promise<ObjectStore>): Promise<{ deps: RegistryDeps; store: RecordingStore }> {
  const store = new RecordingStore(await make());
  const config = parseConfig(env as unknown as Env);
  return { store, deps: { store, settings: { ...config.registry, partSize: PART, maxRequestBodyBytes: 5000 * 1_000_000 } } };
}


function streamOf(data: Uint8Array): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(c) {
      if (data.byteLength) c.enqueue(data);
      c.close();
    },
  });
}

/** A body that gives `head` bytes, then waits for `release()` before the rest; `taken` resolves when the head was read. */
function heldBody(data: Uint8Array, head: number) {
  let release!: () => void;
  const released = new Promise<void>((r) => (release = r));
  let taken!: () => void;
  const headTaken = new Promise<void>((r) => (taken = r));
  let pulls = 0;
  const body = new ReadableStream<Uint8Array>({
    async pull(c) {
      pulls++;
      if (pulls === 1) return c.enqueue(data.slice(0, head));
      taken();
      await released;
      if (pulls === 2) {
        c.enqueue(data.slice(head));
        c.close();
      }
    },
  });
  return { body, release, headTaken };
}

/** A body that gives `n` bytes of `data`, then breaks off. */
function brokenBody(data: Uint8Array, n: number): ReadableStream<Uint8Array> {
  let sent = false;
  return new ReadableStream({
    pull(c) {
      if (!sent) {
        sent = true;
        return c.enqueue(data.slice(0, n));
      }
      c.error(new Error("connection reset"));
    },
  });
}

const open = async (deps: RegistryDeps): Promise<UploadSession> => loadUpload(deps, REPO, (await startUpload(deps, REPO, null)).state.id, null);
const reload = (deps: RegistryDeps, s: UploadSession) => loadUpload(deps, REPO, s.state.id, null);

async function patch(deps: RegistryDeps, s: UploadSession, data: Uint8Array, start: number): Promise<void> {
  await appendChunk(deps, await reload(deps, s), streamOf(data), { start, length: data.byteLength });
}

/** Sends `data` as Content-Range PATCHes cut at `cuts`, then an empty PUT ?digest=. */
async function pushChunked(deps: RegistryDeps, data: Uint8Array, cuts: number[], digest?: Digest) {
  const s = await open(deps);
  let at = 0;
  for (const cut of cuts) {
    await patch(deps, s, data.subarray(at, cut), at);
    at = cut;
  }
  const last = data.subarray(at);
  return completeUpload(deps, await reload(deps, s), digest ?? (await digestBytes(data)), last.byteLength ? streamOf(last) : null, { start: at, length: last.byteLength });
}

async function storedHex(store: ObjectStore, key: string, algorithm: "SHA-256" | "SHA-512" = "SHA-256"): Promise<string> {
  const obj = await store.get(key);
  const b = new Uint8Array(await new Response(obj!.body).arrayBuffer());
  return [...new Uint8Array(await crypto.subtle.digest(algorithm, b))].map((v) => v.toString(16).padStart(2, "0")).join("");
}


async function stateOf(deps: RegistryDeps, s: UploadSession) {
  const obj = await deps.store.get(keys.uploadState(s.state.id));
  return JSON.parse(await new Response(obj!.body).text());
}

describe.each(BACKENDS)("carried SHA-256 on %s", (_name, make) => {
  it("completes a chunked upload (tails, chunks not multiples of the part size) with no read-back, and the right digest", async () => {
    const { deps, store } = await setup(make);
    const data = bytes(3 * PART + 12345, 1);
    // the first chunk stays in a tail; the second crosses parts; the third is one byte; the last comes with the PUT
    const cuts = [PART - 7, 2 * PART + 99, 2 * PART + 100];
    const s = await open(deps);
    let at = 0;
    for (const cut of cuts) {
      await patch(deps, s, data.subarray(at, cut), at);
      at = cut;
      const state = await stateOf(deps, s);
      expect(state.content.kind).toBe("chunks");
      expect(typeof state.content.sha256).toBe("string"); // every PATCH carries the hash on
    }
    store.gets = [];
    const digest = await digestBytes(data);
    const blob = await completeUpload(deps, await reload(deps, s), digest, streamOf(data.subarray(at)), { start: at, length: data.byteLength - at });
    expect(blob.size).toBe(data.byteLength);
    expect(store.dataGets()).toBe(0); // no read-back
    expect(store.heads).toContain(blob.dataKey); // its size checked instead
    expect(await storedHex(store, blob.dataKey)).toBe(digest.hex);
  });

  it("still refuses a wrong digest, without a read-back", async () => {
    const { deps, store } = await setup(make);
    const data = bytes(2 * PART + 5, 2);
    const wrong = await digestBytes(bytes(2 * PART + 5, 3));
    store.gets = [];
    const err = await rejection(pushChunked(deps, data, [PART + 1], wrong));
    expect(err.code).toBe("DIGEST_INVALID");
    expect(store.dataGets()).toBe(0);
    expect(await store.head(keys.blob(wrong))).toBeNull();
  });

  it("never lets two racing PATCHes at one offset write the same part number; the survivor's bytes complete", async () => {
    const { deps, store } = await setup(make);
    const first = bytes(PART + 10, 4);
    const s = await open(deps);
    await patch(deps, s, first, 0); // the session now has a multipart upload (1 part) and a 10-byte tail
    const a = bytes(2 * PART, 5);
    const b = bytes(2 * PART, 6);
    const sa = await reload(deps, s);
    const sb = await reload(deps, s); // both loaded the same state
    const held = heldBody(a, 1024);
    store.tag = "A";
    const pa = appendChunk(deps, sa, held.body, { start: first.byteLength, length: a.byteLength }).then(
      () => "ok",
      (e: unknown) => (e instanceof RegistryError ? e.code : String(e)),
    );
    await held.headTaken; // A reserved its part numbers and is receiving
    store.tag = "B";
    await appendChunk(deps, sb, streamOf(b), { start: first.byteLength, length: b.byteLength });
    store.tag = "A";
    held.release();
    expect(await pa).toBe("BLOB_UPLOAD_INVALID"); // A lost the session to B
    const numbersOf = (tag: string) => store.partCalls.filter((c) => c.tag === tag).map((c) => c.partNumber);
    expect(numbersOf("A").length).toBeGreaterThan(0);
    expect(numbersOf("B").length).toBeGreaterThan(0);
    for (const n of numbersOf("A")) expect(numbersOf("B")).not.toContain(n);
    const whole = new Uint8Array([...first, ...b]);
    store.tag = "PUT";
    store.gets = [];
    const blob = await completeUpload(deps, await reload(deps, s), await digestBytes(whole), null, { start: whole.byteLength, length: 0 });
    expect(store.dataGets()).toBe(0);
    const listed = store.completions.at(-1)!.map((p) => p.partNumber);
    for (const n of numbersOf("A")) expect(listed).not.toContain(n); // the loser's parts are never listed
    expect(await storedHex(store, blob.dataKey)).toBe((await digestBytes(whole)).hex);
  });

  it("a PATCH that loaded the session before another PATCH added bytes reserves nothing and writes no part", async () => {
    const { deps, store } = await setup(make);
    const data = bytes(3 * PART, 15);
    const s = await open(deps);
    await patch(deps, s, data.subarray(0, PART + 1), 0);
    const stale = await reload(deps, s);
    await patch(deps, s, data.subarray(PART + 1, 2 * PART + 2), PART + 1); // the session moves on
    const nextPart = (await stateOf(deps, s)).content.nextPart;
    store.tag = "stale";
    const late = data.subarray(PART + 1, 3 * PART);
    const err = await rejection(appendChunk(deps, stale, streamOf(late), { start: PART + 1, length: late.byteLength }));
    expect(err.code).toBe("BLOB_UPLOAD_INVALID");
    expect(store.partCalls.filter((c) => c.tag === "stale")).toEqual([]);
    expect((await stateOf(deps, s)).content.nextPart).toBe(nextPart);
  });

  it("a PATCH that fails midway, then is sent again, ends with the right digest", async () => {
    const { deps, store } = await setup(make);
    const data = bytes(3 * PART + 3, 7);
    const s = await open(deps);
    await patch(deps, s, data.subarray(0, PART + 1), 0);
    // the body breaks off after one part was written
    const chunk = data.subarray(PART + 1, 3 * PART + 2);
    store.tag = "broken";
    const err = await rejection(appendChunk(deps, await reload(deps, s), brokenBody(chunk, PART + 100), { start: PART + 1, length: chunk.byteLength }));
    expect(err.code).toBe("BLOB_UPLOAD_INVALID");
    // storage fails on the second part of the next try
    store.tag = "failing";
    store.failPartsAfter = 1;
    await expect(appendChunk(deps, await reload(deps, s), streamOf(chunk), { start: PART + 1, length: chunk.byteLength })).rejects.toThrow();
    store.failPartsAfter = null;
    store.tag = "retry";
    await patch(deps, s, chunk, PART + 1);
    store.gets = [];
    const digest = await digestBytes(data);
    const blob = await completeUpload(deps, await reload(deps, s), digest, streamOf(data.subarray(3 * PART + 2)), { start: 3 * PART + 2, length: 1 });
    expect(store.dataGets()).toBe(0);
    const failed = store.partCalls.filter((c) => c.tag === "broken" || c.tag === "failing").map((c) => c.partNumber);
    const listed = store.completions.at(-1)!.map((p) => p.partNumber);
    for (const n of failed) expect(listed).not.toContain(n);
    expect(await storedHex(store, blob.dataKey)).toBe(digest.hex);
  });

  it("an upload that began as one object and then got chunks is read back, and right", async () => {
    const { deps, store } = await setup(make);
    const data = bytes(2 * PART + 77, 8);
    const s = await open(deps);
    const head = data.subarray(0, PART + 3);
    await appendChunk(deps, await reload(deps, s), streamOf(head), { length: head.byteLength }); // skopeo-like: one object
    await patch(deps, s, data.subarray(PART + 3), PART + 3); // then a Content-Range chunk
    expect((await stateOf(deps, s)).content.sha256).toBeUndefined();
    store.gets = [];
    const digest = await digestBytes(data);
    const blob = await completeUpload(deps, await reload(deps, s), digest, null, { start: data.byteLength, length: 0 });
    expect(store.dataGets()).toBe(1); // the read-back
    expect(await storedHex(store, blob.dataKey)).toBe(digest.hex);
  });

  it("a sha512 digest is verified by a read-back", async () => {
    const { deps, store } = await setup(make);
    const data = bytes(PART + 500, 9);
    store.gets = [];
    const digest = await digestBytes(data, "sha512");
    const blob = await pushChunked(deps, data, [300], digest);
    expect(store.dataGets()).toBe(1);
    expect(await storedHex(store, blob.dataKey, "SHA-512")).toBe(digest.hex);
    const wrong = await digestBytes(bytes(PART + 500, 10), "sha512");
    expect((await rejection(pushChunked(deps, data, [300], wrong))).code).toBe("DIGEST_INVALID");
  });

  it("a saved state that is missing, malformed or of the wrong length falls back to a read-back", async () => {
    const { deps, store } = await setup(make);
    const data = bytes(PART + 1000, 11);
    const digest = await digestBytes(data);
    const tamper = async (s: UploadSession, change: (c: Record<string, unknown>) => void) => {
      const state = await stateOf(deps, s);
      change(state.content);
      await store.put(keys.uploadState(s.state.id), JSON.stringify(state), { contentType: "application/json" });
    };
    // a well-formed state of fewer bytes than the session holds
    const other = await open(deps);
    await patch(deps, other, data.subarray(0, 10), 0);
    const saved = (await stateOf(deps, other)).content.sha256 as string;
    expect(saved).toMatch(/^s256\.1\./);
    for (const how of ["missing", "malformed", "wrong length"] as const) {
      const s = await open(deps);
      await patch(deps, s, data.subarray(0, PART + 20), 0);
      await tamper(s, (c) => {
        if (how === "missing") delete c.sha256;
        else if (how === "malformed") c.sha256 = "s256.1.not-a-state";
        else c.sha256 = saved;
      });
      store.gets = [];
      const blob = await completeUpload(deps, await reload(deps, s), digest, streamOf(data.subarray(PART + 20)), { start: PART + 20, length: data.byteLength - PART - 20 });
      expect(store.dataGets(), how).toBe(1);
      expect(await storedHex(store, blob.dataKey)).toBe(digest.hex);
    }
  });

  it("at the 10,000-part limit: a chunk that needs more parts gets 413 before a byte is read; gaps in part numbers complete", async () => {
    const { deps, store } = await setup(make);
    const data = bytes(4 * PART + 10, 12);
    const s = await open(deps);
    await patch(deps, s, data.subarray(0, PART + 2), 0); // part 1, tail of 2 bytes
    const state = await stateOf(deps, s);
    state.content.nextPart = 9_999; // as if 9,997 numbers had been reserved and lost: 2 left
    await store.put(keys.uploadState(s.state.id), JSON.stringify(state), { contentType: "application/json" });
    const tooMuch = data.subarray(PART + 2, 4 * PART + 2); // tail + this = 3 full parts
    let pulled = false;
    const body = new ReadableStream<Uint8Array>({ pull: (c) => ((pulled = true), c.enqueue(tooMuch), c.close()) }, { highWaterMark: 0 });
    const err = await rejection(appendChunk(deps, await reload(deps, s), body, { start: PART + 2, length: tooMuch.byteLength }));
    expect(err.code).toBe("SIZE_INVALID");
    expect(err.status).toBe(413);
    expect(pulled).toBe(false);
    // What fits still goes in (part 9,999, a 1-byte tail), and the upload completes with parts 1, 9,999 and 10,000.
    await patch(deps, s, data.subarray(PART + 2, 2 * PART + 1), PART + 2);
    expect((await stateOf(deps, s)).content.nextPart).toBe(10_000);
    const rest = data.subarray(2 * PART + 1);
    expect((await rejection(completeUpload(deps, await reload(deps, s), await digestBytes(data), streamOf(rest), { start: 2 * PART + 1, length: rest.byteLength }))).status).toBe(413);
    // the session is intact after a refusal: a digest of what it holds completes it
    const held = data.subarray(0, 2 * PART + 1);
    store.gets = [];
    const blob = await completeUpload(deps, await reload(deps, s), await digestBytes(held), null, { start: held.byteLength, length: 0 });
    expect(store.completions.at(-1)!.map((p) => p.partNumber)).toEqual([1, 9_999, 10_000]);
    expect(store.dataGets()).toBe(0);
    expect(await storedHex(store, blob.dataKey)).toBe((await digestBytes(held)).hex);
  });

  it("a PATCH without a length on a chunked session reserves what the body limit allows and gives back what it did not use", async () => {
    const { deps, store } = await setup(make);
    const data = bytes(2 * PART + 9, 13);
    const s = await open(deps);
    await patch(deps, s, data.subarray(0, PART + 4), 0);
    const chunk = data.subarray(PART + 4);
    await appendChunk(deps, await reload(deps, s), streamOf(chunk), { start: PART + 4 });
    expect((await stateOf(deps, s)).content.nextPart).toBe(3); // parts 1 and 2 written; the reserved rest released
    store.gets = [];
    const blob = await completeUpload(deps, await reload(deps, s), await digestBytes(data), null, { start: data.byteLength, length: 0 });
    expect(store.dataGets()).toBe(0);
    expect(await storedHex(store, blob.dataKey)).toBe((await digestBytes(data)).hex);
  });
});

describe("carried SHA-256: formats", () => {
  it("a session whose state the previous implementation (@noble/hashes) saved completes without a read-back", async () => {
    // A deploy in the middle of a chunked upload: the state stored by the JavaScript SHA-256 after these 1,000 bytes
    // (the fixture of sha256-state.test.ts) is the one the WebAssembly SHA-256 saves and takes back.
    const { deps, store } = await setup(async () => new MemoryStore());
    const data = Uint8Array.from({ length: PART + 1000 }, (_, i) => (i * 131 + 17) & 0xff);
    const s = await open(deps);
    await patch(deps, s, data.subarray(0, 1000), 0);
    const state = await stateOf(deps, s);
    expect(state.content.sha256).toBe("s256.1.ptunMqgkrUcc4IXxqJIqtMaIyYd4wu41GJhs94c41icAAAAAAAAD6FHUV9pd4GPmaexv8nX4e_6BBIcKjRCTFpkcnyKlKKsusTS3Or1Aw0Y");
    store.gets = [];
    const digest = await digestBytes(data);
    const blob = await completeUpload(deps, await reload(deps, s), digest, streamOf(data.subarray(1000)), { start: 1000, length: PART });
    expect(store.dataGets()).toBe(0);
    expect(await storedHex(store, blob.dataKey)).toBe(digest.hex);
  });

  it("the digest string of a finished upload is the sha256 of its bytes", async () => {
    const { deps } = await setup(async () => new MemoryStore());
    const data = bytes(100, 14);
    const blob = await pushChunked(deps, data, [1, 64, 65]);
    expect(formatDigest(blob.digest)).toBe(formatDigest(await digestBytes(data)));
  });
});
