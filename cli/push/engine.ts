// The push: every blob of the source (each skipped, mounted or uploaded, see blob.ts), then the manifests in the
// order the source gives them, the top one under the destination's tag or digest. Returns what it did, for the
// summary; throws PushError (what failed and the registry's error) or Interrupted.
import { Slots } from "./slots";
import type { RegistryClient } from "../registry/client";
import type { ImageSource, SourceBlob } from "../types";
import { pushBlob, type BlobContext, type BlobResult, type How } from "./blob";
import { describeError, errorText, Interrupted, PushError } from "./errors";
import { shortDigest, type Progress } from "./progress";
import type { StateStore } from "./state";

export interface PushOptions {
  source: ImageSource;
  client: RegistryClient;
  /** host[:port] */
  registry: string;
  repo: string;
  tag?: string;
  digest?: string;
  /** Blobs at once (random-access sources only; a sequential source goes one blob after another). */
  jobs: number;
  parts: number;
  partSize: number;
  chunkSize: number | null;
  direct: boolean;
  state: StateStore;
  progress: Progress;
  signal: AbortSignal;
  fetch?: typeof fetch;
}

export interface ManifestResult {
  digest: string;
  mediaType: string;
  /** References it was put under: tags, or its digest. */
  references: string[];
}

export interface PushSummary {
  source: string;
  destination: string;
  /** Digest of the top manifest (what DEST names). */
  digest: string | null;
  blobs: BlobResult[];
  manifests: ManifestResult[];
  totals: { blobs: number; bytes: number; bytesSent: number; seconds: number } & Record<How, number>;
}

export async function push(opts: PushOptions): Promise<PushSummary> {
  const t0 = Date.now();
  const { source } = opts;
  // The first blob that fails stops the others at their next step (the user's Ctrl-C too).
  const stop = new AbortController();
  if (opts.signal.aborted) stop.abort();
  else opts.signal.addEventListener("abort", () => stop.abort(), { once: true });
  const ctx: BlobContext = {
    client: opts.client,
    registry: opts.registry,
    repo: opts.repo,
    state: opts.state,
    randomAccess: source.randomAccess,
    parts: Math.max(1, opts.parts),
    partSlots: new Slots(Math.max(1, opts.parts)),
    partSize: opts.partSize,
    chunkSize: opts.chunkSize,
    direct: opts.direct,
    signal: stop.signal,
    fetch: opts.fetch,
  };
  const blobs = await pushBlobs(opts, ctx, stop);
  const manifests = await pushManifests(opts);
  const top = manifests.find((m) => m.top);
  const count = (how: How) => blobs.filter((b) => b.how === how).length;
  return {
    source: source.describe,
    destination: `${opts.registry}/${opts.repo}${opts.tag ? `:${opts.tag}` : ""}${opts.digest ? `@${opts.digest}` : ""}`,
    digest: top?.digest ?? null,
    blobs,
    manifests: manifests.map(({ digest, mediaType, references }) => ({ digest, mediaType, references })),
    totals: {
      blobs: blobs.length,
      bytes: blobs.reduce((n, b) => n + b.size, 0),
      bytesSent: blobs.reduce((n, b) => n + b.bytesSent, 0),
      seconds: (Date.now() - t0) / 1000,
      skipped: count("skipped"),
      mounted: count("mounted"),
      direct: count("direct"),
      chunked: count("chunked"),
      monolithic: count("monolithic"),
    },
  };
}

/** `jobs` workers share the source's blob iterator (one for a sequential source). First error stops them all. */
async function pushBlobs(opts: PushOptions, ctx: BlobContext, stop: AbortController): Promise<BlobResult[]> {
  const it = opts.source.blobs()[Symbol.asyncIterator]();
  const results: BlobResult[] = []; // in the source's order
  let taken = 0;
  const workers = opts.source.randomAccess ? Math.max(1, opts.jobs) : 1;
  let failed: unknown = null;
  let next: Promise<unknown> = Promise.resolve();
  // Calls to the iterator are serialized: an async generator queues them anyway, a hand-made iterator may not.
  const take = (): Promise<IteratorResult<SourceBlob>> => {
    const r = next.then(() => it.next());
    next = r.catch(() => {});
    return r;
  };
  const worker = async () => {
    while (!failed) {
      if (ctx.signal.aborted) throw new Interrupted();
      const { value: blob, done } = await take();
      if (done) return;
      const i = taken++;
      results[i] = await pushOne(opts, ctx, blob);
    }
  };
  await Promise.all(Array.from({ length: workers }, () => worker().catch((err) => {
    failed ??= err;
    stop.abort();
  })));
  if (failed) {
    await it.return?.().catch(() => {});
    throw failed;
  }
  return results;
}

async function pushOne(opts: PushOptions, ctx: BlobContext, blob: SourceBlob): Promise<BlobResult> {
  // Track whether the engine opened the stream: a sequential source waits for each blob's stream to be consumed or
  // destroyed before it yields the next one, so a blob the engine did not read (skipped, mounted) is opened and
  // destroyed at once.
  let opened = false;
  const tracked: SourceBlob = {
    digest: blob.digest,
    size: blob.size,
    resumeKey: blob.resumeKey,
    open: (offset?: number) => {
      opened = true;
      return blob.open(offset);
    },
    digested: blob.digested?.bind(blob),
  };
  const bar = opts.progress.blob(shortDigest(blob.digest ?? blob.resumeKey), blob.size);
  try {
    const r = await pushBlob(ctx, tracked, bar);
    bar.finish(r);
    return r;
  } catch (err) {
    bar.abandon();
    if (err instanceof PushError || err instanceof Interrupted) throw err;
    throw new PushError(`blob ${blob.digest ?? blob.resumeKey}: ${errorText(err)}`);
  } finally {
    if (!opened && !opts.source.randomAccess) blob.open(0).destroy();
  }
}

interface PushedManifest extends ManifestResult {
  top: boolean;
}

async function pushManifests(opts: PushOptions): Promise<PushedManifest[]> {
  const list = await opts.source.manifests();
  const tops = list.filter((m) => m.top);
  if (tops.length !== 1) throw new PushError(`the source names ${tops.length} top manifests, expected exactly one`);
  if (opts.digest && tops[0].digest !== opts.digest) {
    throw new PushError(`the destination names ${opts.digest} but the source's image is ${tops[0].digest}`);
  }
  const out: PushedManifest[] = [];
  for (const m of list) {
    if (opts.signal.aborted) throw new Interrupted();
    const refs = new Set<string>(m.tags);
    if (m.top && opts.tag) refs.add(opts.tag);
    // A manifest without a tag is put by its digest (children, referrers, a top one pushed by digest).
    const order = refs.size ? [...refs] : [m.digest];
    for (const ref of order) await putManifest(opts, m.digest, m.mediaType, m.bytes, ref);
    out.push({ digest: m.digest, mediaType: m.mediaType, references: order, top: m.top });
    opts.progress.info(`manifest ${shortDigest(m.digest)}: pushed as ${order.join(", ")}`);
  }
  return out;
}

async function putManifest(opts: PushOptions, digest: string, mediaType: string, bytes: Buffer, ref: string): Promise<void> {
  const res = await opts.client.request(`/v2/${opts.repo}/manifests/${ref}`, {
    method: "PUT",
    headers: { "Content-Type": mediaType },
    body: () => bytes,
    scopes: [{ repo: opts.repo, actions: ["pull", "push"] }],
  }).catch((err: unknown) => {
    throw new PushError(`manifest ${digest} (as ${ref}): ${errorText(err)}`);
  });
  if (res.status !== 201 && res.status !== 200 && res.status !== 204) {
    const e = await describeError(res);
    throw new PushError(`manifest ${digest} (as ${ref}): ${e.text}`, e.code, e.status);
  }
  await res.body?.cancel();
  const got = res.headers.get("Docker-Content-Digest");
  if (got && got !== digest) throw new PushError(`manifest ${digest} (as ${ref}): the registry stored it as ${got}`);
}
