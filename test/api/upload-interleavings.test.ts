// Terminal steps on one upload session, interleaved step by step (issue 8, section 1).
//
// The HTTP race tests (upload-races.test.ts) can hold a request's body, but not a request that has no body: a
// DELETE, or an empty final PUT, is over before another request can start. Here the registry operations run
// against the real store of this project (the R2 binding or S3 on Ceph RGW) through a gate that stops one request
// right before a chosen storage call, lets the other request run to its end, and then lets the first go on. No
// storage is mocked: the gate only delays calls.
import { describe, it, expect } from "vitest";
import { env } from "cloudflare:workers";
import { runtimeFor } from "../../src/runtime";
import { createStorage } from "../../src/storage";
import type { ObjectStore, PutBody } from "../../src/storage/types";
import type { RegistryDeps } from "../../src/registry/deps";
import { RegistryError } from "../../src/protocol/errors";
import { parseDigest } from "../../src/protocol/digest";
import { appendChunk, cancelUpload, completeUpload, loadUpload, startUpload } from "../../src/registry/uploads";
import { digestOf, pseudoRandomBytes, registry, streamDigest, uniqueRepo } from "./helpers";

type Call = { op: string; key: string; body?: PutBody };

/** An ObjectStore that stops the first call matching a gate until the test releases it. Nothing else changes. */
class GatedStore {
  private gates: { match: (c: Call) => boolean; reached: () => void; released: Promise<void> }[] = [];
  constructor(private readonly inner: ObjectStore) {}

  /** The next call matching `match` waits; `reached` resolves when it is waiting, `release()` lets it go. */
  gate(match: (c: Call) => boolean): { reached: Promise<void>; release: () => void } {
    let reached!: () => void;
    let release!: () => void;
    const reachedP = new Promise<void>((r) => (reached = r));
    const released = new Promise<void>((r) => (release = r));
    this.gates.push({ match, reached, released });
    return { reached: reachedP, release };
  }

  private async pass(c: Call): Promise<void> {
    const i = this.gates.findIndex((g) => g.match(c));
    if (i < 0) return;
    const [g] = this.gates.splice(i, 1);
    g.reached();
    await g.released;
  }

  store(): ObjectStore {
    const s = this.inner;
    return {
      head: async (key) => (await this.pass({ op: "head", key }), s.head(key)),
      get: async (key, range) => (await this.pass({ op: "get", key }), s.get(key, range)),
      put: async (key, body, opts) => (await this.pass({ op: "put", key, body }), s.put(key, body, opts)),
      delete: async (keys) => (await this.pass({ op: "delete", key: [keys].flat().join(",") }), s.delete(keys)),
      list: (opts) => s.list(opts),
      createMultipart: async (key) => (await this.pass({ op: "createMultipart", key }), s.createMultipart(key)),
      uploadPart: async (key, id, n, body, length) => (await this.pass({ op: "uploadPart", key }), s.uploadPart(key, id, n, body, length)),
      completeMultipart: async (key, id, parts) => (await this.pass({ op: "completeMultipart", key }), s.completeMultipart(key, id, parts)),
      abortMultipart: async (key, id) => (await this.pass({ op: "abortMultipart", key }), s.abortMultipart(key, id)),
    };
  }
}

/** A state write that ends the session (the compare-and-swap of a PUT or a DELETE). */
const endingSession = (why: "complete" | "cancel" | "failed") => (c: Call) =>
  c.op === "put" && c.key.endsWith("/state") && typeof c.body === "string" && c.body.includes(`"ended":"${why}"`);

function setup() {
  const config = runtimeFor(env as never).config;
  const gated = new GatedStore(createStorage(config).store);
  const deps: RegistryDeps = { store: gated.store(), settings: config.registry };
  return { deps, gated };
}

/** What a request ended with: "ok" or the registry error code (anything else fails the test). */
async function outcome(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return "ok";
  } catch (err) {
    if (err instanceof RegistryError) return err.code;
    throw err;
  }
}

/** The repository serves `bytes` under `digest`, complete and unchanged. */
async function expectServed(repo: string, digest: string, bytes: Uint8Array): Promise<void> {
  const res = await registry(`/v2/${repo}/blobs/${digest}`);
  const body = res.status === 307 ? (await fetch(res.headers.get("location")!)).body : res.body;
  expect(res.status === 200 || res.status === 307, `GET ${digest} answered ${res.status}`).toBe(true);
  expect(await streamDigest(body)).toEqual({ digest, size: bytes.byteLength });
}

async function expectNotServed(repo: string, digest: string): Promise<void> {
  const res = await registry(`/v2/${repo}/blobs/${digest}`, { method: "HEAD" });
  expect(res.status).toBe(404);
}

const SIZES = { "one object": 100_000, "chunks (multipart + tail)": 8 * 1024 * 1024 + 100_000 };

describe.each(Object.entries(SIZES))("terminal steps interleaved on a session holding %s", (kind, size) => {
  /** A session holding GOOD's bytes: one PATCH (one object) or chunks with Content-Range (parts and a tail). */
  async function sessionWithGood(deps: RegistryDeps, repo: string) {
    const good = pseudoRandomBytes(size, Math.floor(Math.random() * 2 ** 30));
    const digest = await digestOf(good);
    const s = await startUpload(deps, repo, null);
    if (kind === "one object") await appendChunk(deps, s, new Response(good).body, { length: good.byteLength });
    else await appendChunk(deps, s, new Response(good).body, { start: 0, length: good.byteLength });
    return { id: s.state.id, good, digest: parseDigest(digest)!, text: digest };
  }

  it("a cancel that loaded the session before a PUT committed it never deletes the committed bytes", async () => {
    const { deps, gated } = setup();
    const repo = uniqueRepo("interleave");
    const g = await sessionWithGood(deps, repo);
    const gate = gated.gate(endingSession("cancel"));
    const cancel = outcome(cancelUpload(deps, repo, g.id, null));
    await gate.reached; // the cancel has loaded the session and is about to end it
    const put = await outcome(completeUpload(deps, await loadUpload(deps, repo, g.id, null), g.digest, null));
    expect(put).toBe("ok");
    gate.release();
    expect(await cancel).toBe("BLOB_UPLOAD_UNKNOWN");
    await expectServed(repo, g.text, g.good);
  });

  it("a PUT that loaded the session before a cancel ended it commits nothing", async () => {
    const { deps, gated } = setup();
    const repo = uniqueRepo("interleave");
    const g = await sessionWithGood(deps, repo);
    const gate = gated.gate(endingSession("complete"));
    const put = outcome(completeUpload(deps, await loadUpload(deps, repo, g.id, null), g.digest, null));
    await gate.reached;
    expect(await outcome(cancelUpload(deps, repo, g.id, null))).toBe("ok");
    gate.release();
    expect(await put).toBe("BLOB_UPLOAD_INVALID");
    await expectNotServed(repo, g.text);
  });

  it("a wrong-digest PUT that loses the session to the right one deletes nothing", async () => {
    const { deps, gated } = setup();
    const repo = uniqueRepo("interleave");
    const g = await sessionWithGood(deps, repo);
    const wrong = parseDigest(await digestOf(pseudoRandomBytes(100, 7)))!;
    const gate = gated.gate(endingSession("complete"));
    const evil = outcome(completeUpload(deps, await loadUpload(deps, repo, g.id, null), wrong, null));
    await gate.reached; // the wrong PUT is about to end the session
    expect(await outcome(completeUpload(deps, await loadUpload(deps, repo, g.id, null), g.digest, null))).toBe("ok");
    gate.release();
    expect(await evil).toBe("BLOB_UPLOAD_INVALID");
    await expectServed(repo, g.text, g.good);
  });

  it("a wrong-digest PUT that wins the session ends it; the right PUT that lost commits nothing", async () => {
    const { deps, gated } = setup();
    const repo = uniqueRepo("interleave");
    const g = await sessionWithGood(deps, repo);
    const wrong = parseDigest(await digestOf(pseudoRandomBytes(100, 8)))!;
    const gate = gated.gate(endingSession("complete"));
    const good = outcome(completeUpload(deps, await loadUpload(deps, repo, g.id, null), g.digest, null));
    await gate.reached;
    expect(await outcome(completeUpload(deps, await loadUpload(deps, repo, g.id, null), wrong, null))).toBe("DIGEST_INVALID");
    gate.release();
    expect(await good).toBe("BLOB_UPLOAD_INVALID");
    await expectNotServed(repo, g.text);
  });

  it("a PATCH that loaded the session before a PUT committed it never changes the committed bytes", async () => {
    const { deps, gated } = setup();
    const repo = uniqueRepo("interleave");
    const g = await sessionWithGood(deps, repo);
    // The PATCH stops right before it publishes its new state (after writing its own objects).
    const gate = gated.gate((c) => c.op === "put" && c.key.endsWith("/state") && typeof c.body === "string" && c.body.includes('"content"'));
    const more = pseudoRandomBytes(10_000, 9);
    const patch = outcome(appendChunk(deps, await loadUpload(deps, repo, g.id, null), new Response(more).body, { start: size, length: more.byteLength }));
    await gate.reached;
    expect(await outcome(completeUpload(deps, await loadUpload(deps, repo, g.id, null), g.digest, null))).toBe("ok");
    gate.release();
    expect(await patch).toBe("BLOB_UPLOAD_INVALID");
    await expectServed(repo, g.text, g.good);
  });
});
