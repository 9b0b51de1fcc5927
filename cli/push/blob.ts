// One blob to one repository: skip it if the registry has it, mount it from another repository where an earlier push
// put it, resume an interrupted session, or upload it: straight to the bucket through presigned part URLs (the Skiff
// extension, docs/skiff-push.md), or in PATCH chunks to any registry, or in one PUT when it is tiny.
import { Slots } from "./slots";
import { createHash, type Hash } from "node:crypto";
import type { RegistryClient, RegistryRequest } from "../registry/client";
import type { SourceBlob } from "../types";
import { describeError, Interrupted, PushError, redactUrl } from "./errors";
import {
  backoffMs,
  chooseChunkSize,
  choosePartSize,
  chunkSpans,
  nextUrlBatch,
  parseUploadRange,
  partSpan,
  planDirectParts,
  positiveIntHeader,
  TINY_BLOB,
  type ListedPart,
} from "./plan";
import type { BlobProgress } from "./progress";
import { BlobReader } from "./reader";
import type { StateStore, UploadMode, UploadRecord } from "./state";

export type How = "skipped" | "mounted" | "direct" | "chunked" | "monolithic";

export interface BlobResult {
  digest: string;
  size: number;
  how: How;
  /** Bytes this run sent (a resumed upload sends less than `size`). */
  bytesSent: number;
  seconds: number;
  mountedFrom?: string;
  /** When the final PUT (the registry's verification) started and ended, epoch ms: the bench times the Worker's share. */
  completeStartedAt?: number;
  completedAt?: number;
}

export interface BlobContext {
  client: RegistryClient;
  /** host[:port], the key of resume state and mount memory. */
  registry: string;
  repo: string;
  state: StateStore;
  randomAccess: boolean;
  /** `--parts`: part uploads in flight across the push (sizes the URL batches; partSlots enforces it). */
  parts: number;
  /** Part buffers in flight across all blobs of the push (memory: slots x part size). */
  partSlots: Slots;
  /** Requested part size in bytes (direct uploads; raised to the limits by choosePartSize). */
  partSize: number;
  /** Requested chunk size in bytes (PATCH uploads), or null for the default. */
  chunkSize: number | null;
  /** false with --no-direct. */
  direct: boolean;
  signal: AbortSignal;
  /** fetch for presigned part PUTs (tests may wrap it). */
  fetch?: typeof fetch;
}

/** Where a session stands when the engine starts or resumes sending bytes. */
interface Session {
  location: string;
  mode: UploadMode;
  /** Registry headers from the POST that opened it (absent on a resumed session). */
  minLength: number | null;
  maxLength: number | null;
  partSize?: number;
  chunkSize?: number;
  /** What the registry holds already: listed parts (direct) or a byte offset (chunked). */
  listed?: ListedPart[];
  offset?: number;
}

class SessionGone extends Error {}
class DirectUnsupported extends Error {}
class DigestMismatch extends Error {}

const PART_ATTEMPTS = 6;
/** A URL is renewed when it expires within this long (a part PUT of 64 MiB on a slow line takes a while). */
const URL_MARGIN_MS = 90_000;

export async function pushBlob(ctx: BlobContext, blob: SourceBlob, progress: BlobProgress): Promise<BlobResult> {
  return new BlobPush(ctx, blob, progress).run();
}

class BlobPush {
  private readonly t0 = Date.now();
  private bytesSent = 0;
  private completeWindow: { completeStartedAt: number; completedAt: number } | null = null;
  private readonly scopes: RegistryRequest["scopes"];
  private readonly fetchPart: typeof fetch;
  /** A hash of the bytes, when the digest is not known beforehand; made anew by every read from byte 0. */
  private hasher: Hash | null = null;

  constructor(
    private readonly ctx: BlobContext,
    private readonly blob: SourceBlob,
    private readonly progress: BlobProgress,
  ) {
    this.scopes = [{ repo: ctx.repo, actions: ["pull", "push"] }];
    this.fetchPart = ctx.fetch ?? fetch;
  }

  private get label(): string {
    return this.blob.digest ?? this.blob.resumeKey;
  }

  private result(how: How, digest: string, mountedFrom?: string): BlobResult {
    return {
      digest,
      size: this.blob.size,
      how,
      bytesSent: this.bytesSent,
      seconds: (Date.now() - this.t0) / 1000,
      ...(mountedFrom ? { mountedFrom } : {}),
      ...(this.completeWindow ?? {}),
    };
  }

  private checkAbort(): void {
    if (this.ctx.signal.aborted) throw new Interrupted();
  }

  private url(location: string): URL {
    return new URL(location, this.ctx.client.origin + "/v2/");
  }

  private async fail(what: string, res: Response): Promise<never> {
    const e = await describeError(res);
    throw new PushError(`blob ${this.label}: ${what}: ${e.text}`, e.code, e.status);
  }

  private async saveSession(digest: string | null, s: { location: string; mode: UploadMode; partSize?: number; chunkSize?: number }): Promise<void> {
    const { registry, repo } = this.ctx;
    await this.ctx.state.saveUpload({ registry, repo, resumeKey: this.blob.resumeKey, size: this.blob.size, digest, session: s });
  }

  async run(): Promise<BlobResult> {
    const { ctx, blob } = this;
    const record = await ctx.state.loadUpload(ctx.registry, ctx.repo, blob.resumeKey);
    // A source that cannot name the digest before hashing: an earlier run may have learned it.
    const remembered = record && record.size === blob.size ? record.digest : null;
    const knownDigest = blob.digest ?? remembered;

    if (knownDigest && (await this.exists(knownDigest))) {
      await this.finished(knownDigest);
      return this.result("skipped", knownDigest);
    }

    // The session an interrupted run left, if it was for these very bytes.
    const same = record?.session && record.size === blob.size && (!blob.digest || !record.digest || record.digest === blob.digest);
    let session: Session | null = same ? await this.resume(record!) : null;
    if (!session && knownDigest) {
      const mounted = await this.mount(knownDigest);
      if (typeof mounted === "string") {
        await this.finished(knownDigest);
        return this.result("mounted", knownDigest, mounted);
      }
      session = mounted;
    }

    for (let attempt = 0; ; attempt++) {
      session ??= await this.open();
      try {
        const { digest, how } = await this.upload(session);
        await this.finished(digest);
        return this.result(how, digest);
      } catch (err) {
        if (!(err instanceof SessionGone || err instanceof DigestMismatch)) throw err;
        // A session the registry forgot, or bytes that did not hash to the digest: start that blob over once, when
        // the source can be read again (a sequential source's stream opens once).
        if (attempt > 0 || (this.streamOpened && !ctx.randomAccess)) throw new PushError(`blob ${this.label}: ${err.message}`);
        await ctx.state.forgetUpload(ctx.registry, ctx.repo, blob.resumeKey);
        this.progress.resumed(-this.shown);
        this.shown = 0;
        session = null;
      }
    }
  }

  private streamOpened = false;
  /** Bytes the progress bar shows as done (sent, or already there). */
  private shown = 0;

  /** Opens the source at `offset`; from byte 0 without a known digest, a new hash follows every byte. */
  private openStream(offset: number): BlobReader {
    this.streamOpened = true;
    this.hasher = this.blob.digest ? null : createHash("sha256");
    if (this.hasher && offset !== 0) throw new Error("a blob being hashed is read from its first byte");
    return new BlobReader(this.blob.open(offset), this.hasher);
  }

  private sent(n: number): void {
    this.bytesSent += n;
    this.shown += n;
    this.progress.sent(n);
  }

  private alreadyThere(n: number): void {
    this.shown += n;
    this.progress.resumed(n);
  }

  /** The blob is in the repository: remember it for mounts and for a rerun, tell the source its digest. */
  private async finished(digest: string): Promise<void> {
    const { ctx, blob } = this;
    await ctx.state.rememberPushed(ctx.registry, digest, ctx.repo);
    if (blob.digest) await ctx.state.forgetUpload(ctx.registry, ctx.repo, blob.resumeKey);
    else await ctx.state.saveUpload({ registry: ctx.registry, repo: ctx.repo, resumeKey: blob.resumeKey, size: blob.size, digest, session: null });
    if (!blob.digest) blob.digested?.(digest);
  }

  private async exists(digest: string): Promise<boolean> {
    const res = await this.ctx.client.request(`/v2/${this.ctx.repo}/blobs/${digest}`, { method: "HEAD", scopes: [{ repo: this.ctx.repo, actions: ["pull"] }] });
    await res.body?.cancel();
    if (res.status === 404) return false;
    // Skiff on S3 may answer a blob HEAD with a redirect to the bucket: the blob is there.
    if (res.ok || (res.status >= 300 && res.status < 400)) {
      const len = res.headers.get("Content-Length");
      if (res.ok && len !== null && Number(len) !== this.blob.size) {
        throw new PushError(`blob ${digest}: the registry has it with ${len} bytes, the source says ${this.blob.size}`);
      }
      return true;
    }
    if (res.status === 401 || res.status === 403) return this.fail("checking whether it exists", res);
    return false; // anything else: upload it, the upload says what is wrong
  }

  /** Cross-repository mount from where an earlier push put this blob: the repo name, or a session it opened. */
  private async mount(digest: string): Promise<string | Session | null> {
    const { ctx } = this;
    const others = await ctx.state.pushedElsewhere(ctx.registry, digest, ctx.repo);
    for (const from of others.slice(0, 1)) {
      const q = new URLSearchParams({ mount: digest, from });
      const res = await ctx.client.request(`/v2/${ctx.repo}/blobs/uploads/?${q}`, {
        method: "POST",
        scopes: [...this.scopes, { repo: from, actions: ["pull"] }],
      });
      await res.body?.cancel();
      if (res.status === 201) return from;
      if (res.status === 202) return this.sessionFrom(res);
      // 401/403/404: no right to read `from` there, or it is gone: upload it.
    }
    return null;
  }

  private sessionFrom(res: Response): Session {
    const location = res.headers.get("Location");
    if (!location) throw new PushError(`blob ${this.label}: the registry opened an upload without a Location`);
    const direct = res.headers.get("Skiff-Direct-Upload") === "v1" && this.ctx.direct && this.blob.size >= TINY_BLOB;
    return {
      location: this.url(location).toString(),
      mode: direct ? "direct" : "chunked",
      minLength: positiveIntHeader(res.headers.get("OCI-Chunk-Min-Length")),
      maxLength: positiveIntHeader(res.headers.get("OCI-Chunk-Max-Length")),
    };
  }

  private async open(): Promise<Session> {
    this.checkAbort();
    const res = await this.ctx.client.request(`/v2/${this.ctx.repo}/blobs/uploads/`, { method: "POST", scopes: this.scopes });
    if (res.status !== 202) return this.fail("starting an upload", res);
    await res.body?.cancel();
    return this.sessionFrom(res);
  }

  /** What the registry still holds of the session the last run left, or null to start afresh. */
  private async resume(record: UploadRecord): Promise<Session | null> {
    const s = record.session!;
    if (s.mode === "direct") {
      const target = this.url(s.location);
      target.pathname += "/parts";
      const res = await this.ctx.client.request(target.toString(), { method: "GET", scopes: this.scopes });
      if (res.status === 404 || res.status === 400) {
        await res.body?.cancel();
        return null;
      }
      if (!res.ok) return this.fail("listing the parts of the interrupted upload", res);
      const body = (await res.json()) as { partSize?: number | null; parts?: ListedPart[] };
      const listed = Array.isArray(body.parts) ? body.parts.filter((p) => Number.isInteger(p?.partNumber) && Number.isInteger(p?.size)) : [];
      const partSize = typeof body.partSize === "number" && body.partSize > 0 ? body.partSize : s.partSize;
      return { location: s.location, mode: "direct", minLength: null, maxLength: null, partSize, listed };
    }
    const res = await this.ctx.client.request(s.location, { method: "GET", scopes: this.scopes });
    await res.body?.cancel();
    if (res.status === 404 || res.status === 400) return null;
    if (!res.ok) return this.fail("asking where the interrupted upload stands", res);
    const offset = parseUploadRange(res.headers.get("Range"));
    if (offset === null || offset > this.blob.size) return null;
    const location = res.headers.get("Location");
    return { location: location ? this.url(location).toString() : s.location, mode: "chunked", minLength: null, maxLength: null, chunkSize: s.chunkSize, offset };
  }

  /** Sends the blob's bytes on `session` and completes it. */
  private async upload(session: Session): Promise<{ digest: string; how: How }> {
    const size = this.blob.size;
    const fresh = session.listed === undefined && session.offset === undefined;
    if (fresh && size < TINY_BLOB) return { digest: await this.monolithic(session), how: "monolithic" };
    if (session.mode === "direct") {
      try {
        return { digest: await this.direct(session), how: "direct" };
      } catch (err) {
        if (!(err instanceof DirectUnsupported)) throw err;
        // The registry announced the extension but refuses it on this session: it is still empty, so PATCH it.
        session.mode = "chunked";
      }
    }
    return { digest: await this.chunked(session), how: "chunked" };
  }

  /** The digest: the source's, or the hash of every byte read. */
  private finalDigest(): string {
    return this.blob.digest ?? `sha256:${this.hasher!.digest("hex")}`;
  }

  private async complete(location: string, digest: string, body: Buffer = Buffer.alloc(0)): Promise<void> {
    this.checkAbort();
    const target = this.url(location);
    target.searchParams.set("digest", digest);
    const completeStartedAt = Date.now();
    const res = await this.ctx.client.request(target.toString(), {
      method: "PUT",
      headers: { "Content-Type": "application/octet-stream" },
      body: () => body,
      scopes: this.scopes,
    });
    this.completeWindow = { completeStartedAt, completedAt: Date.now() };
    if (res.status === 201 || res.status === 204 || res.status === 200) {
      await res.body?.cancel();
      return;
    }
    const e = await describeError(res);
    if (e.code === "DIGEST_INVALID") throw new DigestMismatch(`the registry found other bytes than ${digest}: ${e.text}`);
    if (e.code === "BLOB_UPLOAD_UNKNOWN") throw new SessionGone(`the upload session disappeared before it was completed: ${e.text}`);
    throw new PushError(`blob ${this.label}: completing the upload: ${e.text}`, e.code, e.status);
  }

  private async monolithic(session: Session): Promise<string> {
    const reader = this.openStream(0);
    let bytes: Buffer;
    try {
      bytes = await reader.read(this.blob.size);
    } finally {
      reader.close();
    }
    const digest = this.finalDigest();
    await this.complete(session.location, digest, bytes);
    this.sent(bytes.byteLength);
    return digest;
  }

  // ---- direct: presigned part URLs ----

  private async direct(session: Session): Promise<string> {
    const { ctx, blob } = this;
    const size = blob.size;
    const partSize = session.partSize ?? choosePartSize(size, ctx.partSize, session.minLength);
    session.partSize = partSize;
    const plan = planDirectParts(size, partSize, session.listed ?? []);
    await this.saveSession(blob.digest, { location: session.location, mode: "direct", partSize });
    this.alreadyThere(plan.done.reduce((n, p) => n + partSpan(p, size, partSize).length, 0));

    const urls = new Map<number, { url: string; expires: number }>();
    const batch = Math.max(ctx.parts * 4, 16);
    let lock: Promise<unknown> = Promise.resolve();
    const partsUrl = this.url(session.location);
    partsUrl.pathname += "/parts";

    const requestUrls = async (numbers: number[]) => {
      this.checkAbort();
      const res = await ctx.client.request(partsUrl.toString(), {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: () => JSON.stringify({ partSize, parts: numbers }),
        scopes: this.scopes,
      });
      if (res.status === 405) {
        await res.body?.cancel();
        throw new DirectUnsupported();
      }
      if (res.status === 404) {
        await res.body?.cancel();
        throw new SessionGone("the upload session is gone");
      }
      if (res.status !== 200) return this.fail("asking for part URLs", res);
      const body = (await res.json()) as { partSize?: number; expiresAt?: string; parts?: { partNumber: number; url: string }[] };
      if (body.partSize !== undefined && body.partSize !== partSize) {
        throw new PushError(`blob ${this.label}: the registry keeps parts of ${body.partSize} bytes on this session, not ${partSize}`);
      }
      const expires = Date.parse(body.expiresAt ?? "") || Date.now() + 5 * 60_000;
      for (const p of body.parts ?? []) if (typeof p?.url === "string") urls.set(p.partNumber, { url: p.url, expires });
    };

    /** A URL for part n that is good for a while yet; fetches a batch (n and the next parts to send) when needed. */
    const urlFor = (n: number, stale?: string): Promise<string> => {
      const next = lock.then(async () => {
        const have = urls.get(n);
        if (have && have.url !== stale && have.expires - Date.now() > URL_MARGIN_MS) return have.url;
        const from = plan.todo.indexOf(n);
        const numbers = from >= 0 ? nextUrlBatch(plan.todo, from, batch) : [n];
        await requestUrls(numbers.includes(n) ? numbers : [n, ...numbers.slice(0, -1)]);
        const got = urls.get(n);
        if (!got) throw new PushError(`blob ${this.label}: the registry gave no URL for part ${n}`);
        return got.url;
      });
      lock = next.catch(() => {});
      return next;
    };

    const putPart = async (n: number, bytes: Buffer): Promise<void> => {
      let url = await urlFor(n);
      let refreshed = 0;
      for (let attempt = 0; ; attempt++) {
        this.checkAbort();
        let status = 0;
        let detail = "";
        try {
          const res = await this.fetchPart(url, { method: "PUT", body: bytes, signal: ctx.signal });
          status = res.status;
          if (res.ok) {
            await res.body?.cancel();
            this.sent(bytes.byteLength);
            return;
          }
          detail = (await describeError(res)).text;
        } catch (err) {
          if (ctx.signal.aborted) throw new Interrupted();
          detail = (err as Error).message;
        }
        if (status === 403 && refreshed < 2) {
          // Most likely the URL expired (a long stall, or a slow part): ask for a fresh one.
          refreshed++;
          url = await urlFor(n, url);
          continue;
        }
        const transient = status === 0 || status === 429 || status >= 500;
        if (!transient || attempt + 1 >= PART_ATTEMPTS) {
          throw new PushError(`blob ${this.label}: part ${n} to ${redactUrl(url)}: ${detail}`, null, status || null);
        }
        await sleep(backoffMs(attempt), ctx.signal);
      }
    };

    const hashing = !blob.digest;
    const todo = new Set(plan.todo);
    const firstTodo = plan.todo[0];
    // Ask for the first URLs before reading a byte: a registry that refuses the extension on this session (405)
    // leaves the source untouched, so even a sequential one can still go the chunked way.
    if (firstTodo !== undefined) await urlFor(firstTodo);
    const inFlight = new Set<Promise<void>>();
    let failure: unknown = null;
    // With the digest known and a random-access source, reading starts at the first missing part; otherwise from
    // byte 0 (a sequential source, or a hash that needs every byte in order). Every part there and the digest
    // known: nothing to read at all.
    const start = firstTodo !== undefined && !hashing && ctx.randomAccess ? partSpan(firstTodo, size, partSize).offset : 0;
    const reader = todo.size === 0 && !hashing ? null : this.openStream(start);
    try {
      for (let n = reader ? start / partSize + 1 : plan.total + 1; n <= plan.total; n++) {
        const span = partSpan(n, size, partSize);
        if (!todo.has(n)) {
          await reader!.skip(span.length);
          continue;
        }
        // A part is read only once it holds one of the push's `--parts` slots: memory stays at (slots x partSize)
        // however many blobs go at once.
        await ctx.partSlots.acquire();
        if (failure) {
          ctx.partSlots.release();
          break;
        }
        let bytes: Buffer;
        try {
          this.checkAbort();
          bytes = await reader!.read(span.length);
        } catch (err) {
          ctx.partSlots.release();
          throw err;
        }
        const p: Promise<void> = putPart(n, bytes).then(
          () => {
            ctx.partSlots.release();
            inFlight.delete(p);
          },
          (err) => {
            ctx.partSlots.release();
            inFlight.delete(p);
            failure ??= err;
          },
        );
        inFlight.add(p);
      }
      await Promise.all(inFlight);
      if (failure) throw failure;
    } finally {
      reader?.close();
    }
    const digest = this.finalDigest();
    await this.saveSession(digest, { location: session.location, mode: "direct", partSize });
    await this.complete(session.location, digest);
    return digest;
  }

  // ---- chunked: PATCH with Content-Range ----

  private async chunked(session: Session): Promise<string> {
    const { ctx, blob } = this;
    const size = blob.size;
    const chunkSize = session.chunkSize ?? chooseChunkSize(ctx.chunkSize, session.minLength, session.maxLength);
    session.chunkSize = chunkSize;
    let location = session.location;
    let offset = session.offset ?? 0;
    await this.saveSession(blob.digest, { location, mode: "chunked", chunkSize });
    this.alreadyThere(offset);

    const start = offset > 0 && blob.digest && ctx.randomAccess ? offset : 0;
    const reader = this.openStream(start);
    try {
      if (offset > start) await reader.skip(offset - start); // read and discard (hashed when computing the digest)
      for (const span of chunkSpans(size, offset, chunkSize)) {
        this.checkAbort();
        const bytes = await reader.read(span.length);
        const end = span.offset + span.length - 1;
        const res = await ctx.client.request(location, {
          method: "PATCH",
          headers: { "Content-Type": "application/octet-stream", "Content-Range": `${span.offset}-${end}`, "Content-Length": String(span.length) },
          body: () => bytes,
          scopes: this.scopes,
        }).catch(async (err: unknown) => {
          // The connection broke after retries: maybe the chunk landed; the session says.
          if ((await this.offsetOf(location)) === end + 1) return null;
          throw err;
        });
        if (res) {
          if (res.status === 404) {
            await res.body?.cancel();
            throw new SessionGone("the upload session is gone");
          }
          if (res.status === 416) {
            await res.body?.cancel();
            // A retried PATCH whose first try had landed: fine if the session now ends where this chunk does.
            if ((await this.offsetOf(location)) !== end + 1) throw new PushError(`blob ${this.label}: the registry refused bytes ${span.offset}-${end} (416)`);
          } else if (res.status !== 202 && res.status !== 204) {
            return this.fail(`sending bytes ${span.offset}-${end}`, res);
          } else {
            await res.body?.cancel();
            const received = parseUploadRange(res.headers.get("Range"));
            if (received !== null && received !== end + 1) {
              throw new PushError(`blob ${this.label}: after bytes ${span.offset}-${end} the registry says it holds ${received} bytes`);
            }
            const next = res.headers.get("Location");
            if (next) location = this.url(next).toString(); // distribution's changes with every chunk
          }
        }
        offset = end + 1;
        this.sent(span.length);
        await this.saveSession(blob.digest, { location, mode: "chunked", chunkSize });
      }
    } finally {
      reader.close();
    }
    const digest = this.finalDigest();
    await this.saveSession(digest, { location, mode: "chunked", chunkSize });
    await this.complete(location, digest);
    return digest;
  }

  private async offsetOf(location: string): Promise<number | null> {
    const res = await this.ctx.client.request(location, { method: "GET", scopes: this.scopes }).catch(() => null);
    if (!res) return null;
    await res.body?.cancel();
    return res.ok ? parseUploadRange(res.headers.get("Range")) : null;
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(new Interrupted());
    const t = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(new Interrupted());
    };
    signal.addEventListener("abort", onAbort, { once: true });
  });
}
