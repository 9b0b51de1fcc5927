// ObjectStore over the Workers R2 binding.
import { cancelStream } from "../streams/cancel";
import { StorageError, type ListOptions, type ListResult, type ObjectInfo, type ObjectStore, type PartRef, type PutBody, type PutOptions } from "./types";

function info(o: R2Object): ObjectInfo {
  return { key: o.key, size: o.size, etag: o.etag, contentType: o.httpMetadata?.contentType, metadata: o.customMetadata ?? {}, uploaded: o.uploaded?.getTime() };
}

async function guard<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof StorageError) throw err;
    throw new StorageError(`R2 ${what} failed: ${(err as Error)?.message ?? String(err)}`, err);
  }
}

export class R2Store implements ObjectStore {
  constructor(private readonly bucket: R2Bucket) {}

  head(key: string) {
    return guard("head", async () => {
      const o = await this.bucket.head(key);
      return o ? info(o) : null;
    });
  }

  get(key: string, range?: { offset: number; length: number }) {
    return guard("get", async () => {
      const o = await this.bucket.get(key, range ? { range } : undefined);
      return o ? { ...info(o), body: o.body } : null;
    });
  }

  put(key: string, body: PutBody, opts: PutOptions = {}) {
    return guard("put", async () => {
      let value: ReadableStream | Uint8Array | string = body;
      if (body instanceof ReadableStream) {
        if (opts.length === undefined) throw new StorageError("R2 put: a stream body needs its length");
        // R2 needs a known length: FixedLengthStream carries it (and errors if the stream is short or long).
        const fixed = new FixedLengthStream(opts.length);
        body.pipeTo(fixed.writable).catch(() => {});
        value = fixed.readable;
      }
      const onlyIf: R2Conditional | undefined = opts.ifNoneMatch
        ? { etagDoesNotMatch: "*" }
        : opts.ifMatch
          ? { etagMatches: opts.ifMatch }
          : undefined;
      const o = await this.bucket
        .put(key, value, {
          httpMetadata: opts.contentType ? { contentType: opts.contentType } : undefined,
          customMetadata: opts.metadata,
          onlyIf,
        })
        .catch(async (err) => {
          await cancelStream(value, err); // a stream the put gave up on must not keep its source waiting
          throw err;
        });
      // R2 answers a failed condition with null (put) — never with an error.
      return o ? info(o) : null;
    });
  }

  delete(keys: string | string[]) {
    return guard("delete", async () => {
      const all = Array.isArray(keys) ? keys : [keys];
      for (let i = 0; i < all.length; i += 1000) await this.bucket.delete(all.slice(i, i + 1000));
    });
  }

  list(opts: ListOptions): Promise<ListResult> {
    return guard("list", async () => {
      const r = await this.bucket.list({
        prefix: opts.prefix,
        startAfter: opts.cursor ? undefined : opts.startAfter,
        cursor: opts.cursor,
        limit: Math.min(opts.limit ?? 1000, 1000),
        include: ["customMetadata", "httpMetadata"],
        // `include` exists at runtime; older type definitions lack it.
      } as R2ListOptions);
      return { objects: r.objects.map(info), cursor: r.truncated ? r.cursor : undefined };
    });
  }

  createMultipart(key: string) {
    return guard("createMultipartUpload", async () => (await this.bucket.createMultipartUpload(key)).uploadId);
  }

  uploadPart(key: string, uploadId: string, partNumber: number, body: Uint8Array, length: number) {
    return guard("uploadPart", async () => {
      if (body.byteLength !== length) throw new StorageError(`R2 uploadPart: body is ${body.byteLength} bytes, expected ${length}`);
      const part = await this.bucket.resumeMultipartUpload(key, uploadId).uploadPart(partNumber, body);
      return part.etag;
    });
  }

  completeMultipart(key: string, uploadId: string, parts: PartRef[]) {
    return guard("completeMultipartUpload", async () => {
      await this.bucket.resumeMultipartUpload(key, uploadId).complete(parts);
    });
  }

  abortMultipart(key: string, uploadId: string) {
    return guard("abortMultipartUpload", async () => {
      await this.bucket.resumeMultipartUpload(key, uploadId).abort();
    });
  }

}
