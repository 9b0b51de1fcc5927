// ObjectStore over the S3 API (AWS S3, R2's S3 endpoint, Ceph RGW, MinIO...), on @aws-sdk/client-s3.
//
// Runs in Workers without nodejs_compat: region, endpoint and credentials are passed explicitly, and checksums are
// computed only when an operation requires them (the SDK defaults break R2 and streamed uploads, and would put
// checksum parameters into presigned URLs). Only the commands used here are imported, to keep the bundle small.
import {
  S3Client,
  HeadObjectCommand,
  GetObjectCommand,
  PutObjectCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  ListObjectsV2Command,
  CreateMultipartUploadCommand,
  UploadPartCommand,
  CompleteMultipartUploadCommand,
  AbortMultipartUploadCommand,
  ListPartsCommand,
} from "@aws-sdk/client-s3";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import { cancelStream } from "../streams/cancel";
import { eachLimited } from "../lib/concurrency";
import { SKIFF_VERSION } from "../version";
import { StorageError, type ListOptions, type ListResult, type ObjectBody, type ObjectInfo, type ObjectStore, type PartRef, type PartUploads, type PutBody, type PutOptions, type Presigner, type StoredPart } from "./types";

export interface S3Settings {
  /** Origin of the S3 API, e.g. https://s3.eu-west-1.amazonaws.com or http://127.0.0.1:9000 (no path). */
  endpoint: string;
  /** "auto" for R2. */
  region: string;
  bucket: string;
  /** Prepended to every key: "" or a string ending in "/". */
  prefix: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** https://host/bucket/key instead of https://bucket.host/key: needed by most S3-compatible servers and R2. */
  forcePathStyle: boolean;
}

/**
 * Per-request timeout (until response headers): a stuck server must become a retryable error, not a hung request.
 * Not for a put that streams a client's body: its response comes only after the last byte, so its length is the
 * client's pace (a 1 GiB docker push at 30 MB/s takes 36 s); the client's connection bounds it instead.
 */
export const REQUEST_TIMEOUT_MS = 30_000;
/** HeadObject requests in flight while filling in list metadata. */
const HEAD_CONCURRENCY = 8;

/** How Skiff names itself to storage: in S3 access logs it tells the registry's requests from others. */
export const S3_USER_AGENT = `skiff/${SKIFF_VERSION}`;

/** Requests whose bodies go as UNSIGNED-PAYLOAD (see createS3Client). */
const UNSIGNED_BODY_COMMANDS = new Set(["PutObjectCommand", "UploadPartCommand"]);

export function createS3Client(s: S3Settings, requestTimeoutMs = REQUEST_TIMEOUT_MS): S3Client {
  const client = new S3Client({
    endpoint: s.endpoint,
    region: s.region,
    credentials: { accessKeyId: s.accessKeyId, secretAccessKey: s.secretAccessKey },
    forcePathStyle: s.forcePathStyle,
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
    requestHandler: { requestTimeout: requestTimeoutMs },
    customUserAgent: [["skiff", SKIFF_VERSION]],
  });
  // customUserAgent only reaches x-amz-user-agent in the SDK's browser build (the one bundled for Workers: browsers
  // may not set User-Agent), and workerd's fetch sends no User-Agent of its own. So the standard header is set here;
  // in Node the SDK's own value (which then names Skiff too) replaces it. SigV4 never signs User-Agent, so neither
  // requests nor presigned URLs depend on it.
  client.middlewareStack.add(
    (next) => async (args) => {
      const request = args.request as { headers?: Record<string, string> };
      if (request.headers && !request.headers["user-agent"]) request.headers["user-agent"] = S3_USER_AGENT;
      return next(args);
    },
    { step: "build", name: "skiffUserAgent" },
  );
  // SigV4 signs a hash of the body unless told otherwise, and the SDK hashes bodies of 8 MiB and more (our parts)
  // in pure JavaScript instead of WebCrypto: a second, slow hash of bytes the registry already hashes natively
  // (a 1 GiB push under wrangler dev did not finish in 7 minutes). Bodies go unsigned instead (the transport is TLS,
  // and every blob's digest is verified by the registry); the signature still covers everything else, and SDK
  // retries still resend the bytes.
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const request = args.request as { headers?: Record<string, string> };
      if (UNSIGNED_BODY_COMMANDS.has(context.commandName ?? "") && request.headers) request.headers["x-amz-content-sha256"] = "UNSIGNED-PAYLOAD";
      return next(args);
    },
    { step: "build", name: "skiffUnsignedPayload" },
  );
  return client;
}

interface SdkError {
  name?: string;
  message?: string;
  Code?: string;
  $metadata?: { httpStatusCode?: number };
}

function statusOf(err: unknown): number | undefined {
  return (err as SdkError)?.$metadata?.httpStatusCode;
}

function isNotFound(err: unknown): boolean {
  const e = err as SdkError;
  return statusOf(err) === 404 || e?.name === "NoSuchKey" || e?.name === "NotFound";
}

/** A failed If-None-Match / If-Match: 412, or 409 when a concurrent conditional write won the race (AWS). */
function isConditionFailed(err: unknown): boolean {
  const status = statusOf(err);
  return status === 412 || status === 409 || (err as SdkError)?.name === "PreconditionFailed";
}

function storageError(what: string, err: unknown): StorageError {
  if (err instanceof StorageError) return err;
  const e = err as SdkError;
  const status = statusOf(err);
  // Never include request details: they can carry signed headers.
  const detail = `${e?.name ?? "Error"}${status ? ` (HTTP ${status})` : ""}: ${e?.message ?? String(err)}`;
  return new StorageError(`S3 ${what} failed: ${detail}`, err, status);
}

/** S3 quotes ETags; the store's callers see them bare, as R2 returns them. */
function bareEtag(etag: string | undefined): string {
  return (etag ?? "").replace(/^W\//, "").replace(/^"|"$/g, "");
}

function quoted(etag: string): string {
  return etag.startsWith('"') ? etag : `"${etag}"`;
}

/** Total size from a `Content-Range: bytes a-b/total` answer. */
function totalFromContentRange(contentRange: string | undefined): number | undefined {
  const m = contentRange ? /\/(\d+)$/.exec(contentRange) : null;
  return m ? Number(m[1]) : undefined;
}

/** S3 metadata travels in x-amz-meta-* headers: printable ASCII only. Registry metadata (sizes, keys, digests) is. */
function checkMetadata(metadata: Record<string, string> | undefined): void {
  for (const [k, v] of Object.entries(metadata ?? {})) {
    if (!/^[a-z0-9-]+$/.test(k) || !/^[\x20-\x7e]*$/.test(v)) throw new StorageError(`S3 put: metadata ${JSON.stringify(k)} is not storable in S3 headers`);
  }
}

/** S3 rejects chunked uploads: a stream must carry its length, which FixedLengthStream gives it (and enforces). */
function fixedLength(body: ReadableStream<Uint8Array>, length: number): ReadableStream<Uint8Array> {
  const fixed = new FixedLengthStream(length);
  body.pipeTo(fixed.writable).catch(() => {}); // a short or broken body fails the upload request itself
  return fixed.readable;
}


/** Puts `base`'s origin (and path, if any) in front of a presigned URL's path and query. */
export function rebaseUrl(url: string, base: string): string {
  const u = new URL(url);
  const b = new URL(base);
  return `${b.origin}${b.pathname.replace(/\/+$/, "")}${u.pathname}${u.search}`;
}

/** S3 answers NoSuchUpload (404) for an upload id that was completed, aborted or never existed. */
function isNoSuchUpload(err: unknown): boolean {
  const e = err as SdkError;
  return statusOf(err) === 404 || e?.name === "NoSuchUpload" || e?.Code === "NoSuchUpload";
}

/** The longest ListParts page S3 serves. */
const LIST_PARTS_PAGE = 1000;

export class S3Store implements ObjectStore, PartUploads {
  readonly client: S3Client;
  private readonly bucket: string;
  private readonly prefix: string;

  /** `requestTimeoutMs`: tests shorten it to prove a streamed put outlives it. */
  constructor(
    settings: S3Settings,
    private readonly requestTimeoutMs = REQUEST_TIMEOUT_MS,
  ) {
    this.client = createS3Client(settings, requestTimeoutMs);
    this.bucket = settings.bucket;
    this.prefix = settings.prefix;
  }

  private k(key: string): string {
    return this.prefix + key;
  }

  async head(key: string): Promise<ObjectInfo | null> {
    try {
      const r = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.k(key) }));
      return { key, size: r.ContentLength ?? 0, etag: bareEtag(r.ETag), contentType: r.ContentType, metadata: r.Metadata ?? {}, uploaded: r.LastModified?.getTime() };
    } catch (err) {
      if (isNotFound(err)) return null;
      throw storageError("head", err);
    }
  }

  async get(key: string, range?: { offset: number; length: number }): Promise<ObjectBody | null> {
    try {
      const r = await this.client.send(
        new GetObjectCommand({
          Bucket: this.bucket,
          Key: this.k(key),
          Range: range ? `bytes=${range.offset}-${range.offset + range.length - 1}` : undefined,
        }),
      );
      // In Workers the SDK's body is the fetch response's ReadableStream (with SDK helpers mixed in).
      const body = (r.Body as unknown as ReadableStream<Uint8Array> | undefined) ?? new Response(new Uint8Array(0)).body!;
      const size = range ? (totalFromContentRange(r.ContentRange) ?? r.ContentLength ?? 0) : (r.ContentLength ?? 0);
      return { key, size, etag: bareEtag(r.ETag), contentType: r.ContentType, metadata: r.Metadata ?? {}, uploaded: r.LastModified?.getTime(), body };
    } catch (err) {
      if (isNotFound(err)) return null;
      throw storageError("get", err);
    }
  }

  async put(key: string, body: PutBody, opts: PutOptions = {}): Promise<ObjectInfo | null> {
    checkMetadata(opts.metadata);
    let value: Uint8Array | ReadableStream<Uint8Array>;
    let size: number;
    if (body instanceof ReadableStream) {
      if (opts.length === undefined) throw new StorageError("S3 put: a stream body needs its length");
      value = fixedLength(body, opts.length);
      size = opts.length;
    } else {
      value = typeof body === "string" ? new TextEncoder().encode(body) : body;
      size = value.byteLength;
    }
    try {
      const r = await this.client.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: this.k(key),
          Body: value,
          ContentLength: size,
          ContentType: opts.contentType,
          Metadata: opts.metadata,
          IfNoneMatch: opts.ifNoneMatch,
          // Unquoted: Ceph RGW (and DigitalOcean Spaces) compare the raw header and refuse a quoted etag with 412.
          IfMatch: opts.ifMatch,
        }),
        { requestTimeout: value instanceof ReadableStream ? 0 : this.requestTimeoutMs },
      );
      return { key, size, etag: bareEtag(r.ETag), contentType: opts.contentType, metadata: opts.metadata ?? {} };
    } catch (err) {
      await cancelStream(value, err); // a stream the request gave up on must not keep its source waiting
      const conditional = Boolean(opts.ifNoneMatch) || opts.ifMatch !== undefined;
      if (conditional && isConditionFailed(err)) return null;
      // If-Match on a key that does not exist: S3 answers 404; the condition failed all the same.
      if (opts.ifMatch !== undefined && isNotFound(err)) return null;
      if (conditional && statusOf(err) === 500 && value instanceof Uint8Array) {
        const settled = await this.settleRacedPut(key, value, opts.ifMatch);
        if (settled === "lost") return null;
        if (settled) return { key, size, etag: settled, contentType: opts.contentType, metadata: opts.metadata ?? {} };
      }
      throw storageError("put", err);
    }
  }

  /**
   * Ceph RGW answers a conditional PUT that lost a race with a concurrent conditional PUT on the same key with a
   * 500 (UnknownError), not 412 (seen by test/s3/record-race.test.ts). The object itself says who won: its etag is
   * the MD5 of the body that landed, and the callers that race (record versions, upload states) write bodies of
   * their own. Our etag there: we won. Another writer's etag: we lost. The key as it was before (absent under
   * If-None-Match, the expected etag under If-Match): nobody won, so the 500 was a plain failure and stands, as it
   * does when this cannot be decided (no MD5 in this runtime, or the read fails).
   */
  private async settleRacedPut(key: string, body: Uint8Array, ifMatch: string | undefined): Promise<string | "lost" | undefined> {
    let ours: string;
    try {
      ours = [...new Uint8Array(await crypto.subtle.digest("MD5", body))].map((b) => b.toString(16).padStart(2, "0")).join("");
    } catch {
      return undefined; // Node's WebCrypto has no MD5; workerd's has
    }
    const now = await this.head(key).catch(() => undefined);
    if (now === undefined) return undefined;
    if (now === null) return ifMatch !== undefined ? "lost" : undefined; // If-Match on a missing key fails anyway
    if (now.etag === ours) return ours;
    if (ifMatch !== undefined && now.etag === ifMatch) return undefined;
    return "lost";
  }

  async delete(keys: string | string[]): Promise<void> {
    const all = Array.isArray(keys) ? keys : [keys];
    try {
      if (all.length === 1) {
        await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.k(all[0]) }));
        return;
      }
      for (let i = 0; i < all.length; i += 1000) {
        const batch = all.slice(i, i + 1000);
        const r = await this.client.send(
          new DeleteObjectsCommand({ Bucket: this.bucket, Delete: { Quiet: true, Objects: batch.map((key) => ({ Key: this.k(key) })) } }),
        );
        // A multi-delete answers 200 even when single keys fail; a missing key is not a failure.
        const failed = (r.Errors ?? []).filter((e) => e.Code !== "NoSuchKey");
        if (failed.length) throw new StorageError(`S3 delete failed for ${failed.length} key(s): ${failed[0].Code} ${failed[0].Message ?? ""}`);
      }
    } catch (err) {
      if (isNotFound(err) && all.length === 1) return;
      throw storageError("delete", err);
    }
  }

  /** HEADs each key, HEAD_CONCURRENCY at once; a key gone meanwhile is null. */
  private async headAll(keys: string[]): Promise<(ObjectInfo | null)[]> {
    const out = new Array<ObjectInfo | null>(keys.length);
    await eachLimited(keys, HEAD_CONCURRENCY, async (key, i) => {
      out[i] = await this.head(key);
    });
    return out;
  }

  async list(opts: ListOptions): Promise<ListResult> {
    let page;
    try {
      page = await this.client.send(
        new ListObjectsV2Command({
          Bucket: this.bucket,
          Prefix: this.k(opts.prefix),
          StartAfter: opts.cursor || opts.startAfter === undefined ? undefined : this.k(opts.startAfter),
          ContinuationToken: opts.cursor,
          MaxKeys: Math.min(opts.limit ?? 1000, 1000),
        }),
      );
    } catch (err) {
      throw storageError("list", err);
    }
    const listed = (page.Contents ?? []).filter((o) => o.Key !== undefined);
    // S3 listings carry no user metadata or content type. Only when the caller needs them, fetch them with a HEAD
    // per key (a subrequest each); an object deleted meanwhile is left out, as a later listing would.
    const objects = opts.metadata
      ? await this.headAll(listed.map((o) => o.Key!.slice(this.prefix.length)))
      : listed.map((o): ObjectInfo => ({ key: o.Key!.slice(this.prefix.length), size: o.Size ?? 0, etag: bareEtag(o.ETag), metadata: {}, uploaded: o.LastModified?.getTime() }));
    return {
      objects: objects.filter((o): o is ObjectInfo => o !== null),
      cursor: page.IsTruncated && page.NextContinuationToken ? page.NextContinuationToken : undefined,
    };
  }

  async createMultipart(key: string): Promise<string> {
    try {
      const r = await this.client.send(new CreateMultipartUploadCommand({ Bucket: this.bucket, Key: this.k(key) }));
      if (!r.UploadId) throw new StorageError("S3 createMultipartUpload returned no UploadId");
      return r.UploadId;
    } catch (err) {
      throw storageError("createMultipartUpload", err);
    }
  }

  async uploadPart(key: string, uploadId: string, partNumber: number, body: Uint8Array, length: number): Promise<string> {
    if (body.byteLength !== length) throw new StorageError(`S3 uploadPart: body is ${body.byteLength} bytes, expected ${length}`);
    try {
      const r = await this.client.send(
        new UploadPartCommand({ Bucket: this.bucket, Key: this.k(key), UploadId: uploadId, PartNumber: partNumber, Body: body, ContentLength: length }),
      );
      if (!r.ETag) throw new StorageError(`S3 uploadPart ${partNumber} returned no ETag`);
      return bareEtag(r.ETag);
    } catch (err) {
      throw storageError("uploadPart", err);
    }
  }

  async completeMultipart(key: string, uploadId: string, parts: PartRef[]): Promise<void> {
    try {
      await this.client.send(
        new CompleteMultipartUploadCommand({
          Bucket: this.bucket,
          Key: this.k(key),
          UploadId: uploadId,
          MultipartUpload: { Parts: parts.map((p) => ({ PartNumber: p.partNumber, ETag: quoted(p.etag) })) },
        }),
      );
    } catch (err) {
      throw storageError("completeMultipartUpload", err);
    }
  }

  async abortMultipart(key: string, uploadId: string): Promise<void> {
    try {
      await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: this.k(key), UploadId: uploadId }));
    } catch (err) {
      if (isNotFound(err)) return; // already completed or aborted
      throw storageError("abortMultipartUpload", err);
    }
  }

  async presignUploadPart(key: string, uploadId: string, partNumber: number, expiresInSeconds: number): Promise<string> {
    try {
      // No body and no ContentLength: the URL then signs the host alone (the payload is UNSIGNED-PAYLOAD in presigned
      // URLs), so a client needs no header but Content-Length; path and query (key, uploadId, partNumber) are signed.
      const command = new UploadPartCommand({ Bucket: this.bucket, Key: this.k(key), UploadId: uploadId, PartNumber: partNumber });
      return await getSignedUrl(this.client, command, { expiresIn: expiresInSeconds });
    } catch (err) {
      throw storageError("presign uploadPart", err);
    }
  }

  async listParts(key: string, uploadId: string): Promise<StoredPart[] | null> {
    const parts: StoredPart[] = [];
    let marker: string | undefined;
    // 10,000 parts at most: 10 pages. The bound also ends a server that never stops saying "truncated".
    for (let page = 0; page < 11; page++) {
      let r;
      try {
        r = await this.client.send(
          new ListPartsCommand({ Bucket: this.bucket, Key: this.k(key), UploadId: uploadId, MaxParts: LIST_PARTS_PAGE, PartNumberMarker: marker }),
        );
      } catch (err) {
        if (isNoSuchUpload(err)) return null;
        throw storageError("listParts", err);
      }
      for (const p of r.Parts ?? []) {
        if (p.PartNumber === undefined) continue;
        parts.push({ partNumber: p.PartNumber, size: p.Size ?? 0, etag: bareEtag(p.ETag) });
      }
      const next = r.NextPartNumberMarker;
      if (!r.IsTruncated || next === undefined || next === marker) break;
      marker = next;
    }
    return parts.sort((a, b) => a.partNumber - b.partNumber);
  }
}

/** Presigned GETs for the keys an S3Store on the same settings writes. Signing is local: no request is made. */
export class S3Presigner implements Presigner {
  private readonly client: S3Client;

  constructor(
    private readonly settings: S3Settings,
    /** Replaces the origin (and prepends the path) of presigned URLs: a CDN or proxy in front of the bucket. */
    private readonly publicBaseUrl?: string,
  ) {
    this.client = createS3Client(settings);
  }

  async presignGet(key: string, expiresInSeconds: number): Promise<string> {
    try {
      const command = new GetObjectCommand({ Bucket: this.settings.bucket, Key: this.settings.prefix + key });
      const url = await getSignedUrl(this.client, command, { expiresIn: expiresInSeconds });
      return this.publicBaseUrl ? rebaseUrl(url, this.publicBaseUrl) : url;
    } catch (err) {
      throw storageError("presign", err);
    }
  }
}
