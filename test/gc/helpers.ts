// Building a bucket with the registry's own operations, and driving GC runs over it with a clock moved forward.
import { env } from "cloudflare:workers";
import { expect } from "vitest";
import { parseConfig } from "../../src/config";
import type { Env } from "../../src/config/settings";
import { digestBytes, formatDigest, type Digest } from "../../src/protocol/digest";
import { putManifest } from "../../src/registry/manifests";
import { uploadMonolithic } from "../../src/registry/uploads";
import { readRecord, type BlobRecord } from "../../src/registry/blob-record";
import { keys } from "../../src/registry/paths";
import { R2Store } from "../../src/storage/r2";
import { MemoryStore } from "../../src/storage/memory";
import type { ObjectStore } from "../../src/storage/types";
import { runStep, startRun, readReport, type GcDeps, type GcReport, type GcStartOptions, type GcStatus } from "../../src/gc";

export const HOUR = 3600_000;
export const MIB = 1024 * 1024;

export const bucket = () => (env as unknown as { BUCKET: R2Bucket }).BUCKET;

/** Empties the simulated bucket: the engine walks whole prefixes, so each test starts from nothing. */
export async function clearBucket(): Promise<void> {
  const store = new R2Store(bucket());
  for (;;) {
    const page = await store.list({ prefix: "" });
    if (!page.objects.length) return;
    await store.delete(page.objects.map((o) => o.key));
  }
}

export const BACKENDS: [string, () => Promise<ObjectStore>][] = [
  ["MemoryStore", async () => new MemoryStore()],
  [
    "R2Store (simulated bucket)",
    async () => {
      await clearBucket();
      return new R2Store(bucket());
    },
  ],
];

/** Deps from a parsed configuration (the worker's own vars), with a clock the test moves. */
export function gcDeps(store: ObjectStore, clock: { now: number }, overrides: Partial<GcDeps> = {}): GcDeps {
  const config = parseConfig({ ...(env as unknown as Env), GC_MIN_GRACE_HOURS: "0" } as Env);
  return {
    store,
    settings: { ...config.registry, partSize: 5 * MIB, uploadTtlMs: 3 * HOUR },
    gc: { ...config.gc, graceMs: HOUR, quarantineMs: 0 },
    now: () => clock.now,
    ...overrides,
  };
}

const enc = (s: string) => new TextEncoder().encode(s);

export function streamOf(bytes: Uint8Array): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(c) {
      c.enqueue(bytes);
      c.close();
    },
  });
}

export interface Blob {
  digest: Digest;
  text: string;
  size: number;
}

export async function pushBlob(deps: GcDeps, repo: string, content: string | Uint8Array): Promise<Blob> {
  const bytes = typeof content === "string" ? enc(content) : content;
  const digest = await digestBytes(bytes);
  await uploadMonolithic(deps, repo, null, digest, streamOf(bytes), bytes.byteLength);
  return { digest, text: formatDigest(digest), size: bytes.byteLength };
}

const desc = (mediaType: string, b: Blob, extra: Record<string, unknown> = {}) => ({ mediaType, digest: b.text, size: b.size, ...extra });

export async function pushImage(
  deps: GcDeps,
  repo: string,
  tag: string | null,
  config: Blob,
  layers: Blob[],
  extra: Record<string, unknown> = {},
): Promise<Blob> {
  const doc = {
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    config: desc("application/vnd.oci.image.config.v1+json", config),
    layers: layers.map((l) => desc("application/vnd.oci.image.layer.v1.tar+gzip", l)),
    ...extra,
  };
  return putBytes(deps, repo, tag, enc(JSON.stringify(doc)), doc.mediaType);
}

export async function pushIndex(deps: GcDeps, repo: string, tag: string | null, children: Blob[]): Promise<Blob> {
  const doc = {
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.index.v1+json",
    manifests: children.map((c) => desc("application/vnd.oci.image.manifest.v1+json", c, { platform: { os: "linux", architecture: "amd64" } })),
  };
  return putBytes(deps, repo, tag, enc(JSON.stringify(doc)), doc.mediaType);
}

async function putBytes(deps: GcDeps, repo: string, tag: string | null, bytes: Uint8Array, mediaType: string): Promise<Blob> {
  const digest = await digestBytes(bytes);
  await putManifest(deps, repo, tag ? { kind: "tag", tag } : { kind: "digest", digest }, bytes, mediaType);
  return { digest, text: formatDigest(digest), size: bytes.byteLength };
}

export const record = (deps: GcDeps, b: Blob): Promise<BlobRecord | null> => readRecord(deps.store, b.digest);

/** The blob is fully there: live record, its data, the link in `repo`. */
export async function expectKept(deps: GcDeps, repo: string, b: Blob): Promise<void> {
  const r = await record(deps, b);
  expect(r?.state, `record of ${b.text}`).toBe("live");
  expect(await deps.store.head(r!.dataKey), `data of ${b.text}`).not.toBeNull();
  expect(await deps.store.head(keys.repoBlob(repo, b.digest)), `link of ${b.text} in ${repo}`).not.toBeNull();
}

/** The blob was freed: dead record, no data, no link in `repo`. */
export async function expectFreed(deps: GcDeps, repo: string, b: Blob, dataKey: string): Promise<void> {
  const r = await record(deps, b);
  expect(r?.state, `record of ${b.text}`).toBe("dead");
  expect(await deps.store.head(dataKey), `data of ${b.text}`).toBeNull();
  expect(await deps.store.head(keys.repoBlob(repo, b.digest)), `link of ${b.text} in ${repo}`).toBeNull();
}

/** Starts a run and steps it to the end, moving the clock past the quarantine when a step asks to wait. */
export async function drive(deps: GcDeps, clock: { now: number }, opts: Partial<GcStartOptions> = {}): Promise<{ report: GcReport; statuses: GcStatus[] }> {
  const start = await startRun(deps, { dryRun: false, trigger: "admin", ...opts });
  const statuses: GcStatus[] = [];
  for (let i = 0; i < 5000; i++) {
    const s = await runStep(deps);
    statuses.push(s);
    if (s.done) {
      const report = await readReport(deps, start.run);
      expect(report).not.toBeNull();
      return { report: report!, statuses };
    }
    if (s.resumeAt !== undefined && !s.step) clock.now = s.resumeAt + 1;
  }
  throw new Error("the run did not finish in 5000 steps");
}

/** Every key with its etag, gc/ excepted: what a dry run must leave exactly as it was. */
export async function snapshot(store: ObjectStore): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  let cursor: string | undefined;
  do {
    const page = await store.list({ prefix: "", cursor });
    for (const o of page.objects) if (!o.key.startsWith("gc/")) out.set(o.key, o.etag);
    cursor = page.cursor;
  } while (cursor);
  return out;
}
