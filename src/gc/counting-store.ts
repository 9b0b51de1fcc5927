// An ObjectStore that counts the calls made through it, so that a GC step can keep to its budget and report what it
// cost (each call is one subrequest in a Worker). Calls pass through unchanged.
import type { ListOptions, ObjectStore, PartRef, PutBody, PutOptions } from "../storage/types";

export class CountingStore implements ObjectStore {
  /** Storage calls made so far. */
  calls = 0;
  /** Objects listed with metadata (the S3 adapter HEADs each: see GcStepCost.listedWithMetadata). */
  listedWithMetadata = 0;

  constructor(readonly inner: ObjectStore) {}

  head(key: string) {
    this.calls++;
    return this.inner.head(key);
  }
  get(key: string, range?: { offset: number; length: number }) {
    this.calls++;
    return this.inner.get(key, range);
  }
  put(key: string, body: PutBody, opts?: PutOptions) {
    this.calls++;
    return this.inner.put(key, body, opts);
  }
  delete(keys: string | string[]) {
    // Both backends delete up to 1,000 keys per call.
    this.calls += Array.isArray(keys) ? Math.max(1, Math.ceil(keys.length / 1000)) : 1;
    return this.inner.delete(keys);
  }
  async list(opts: ListOptions) {
    this.calls++;
    const result = await this.inner.list(opts);
    if (opts.metadata) this.listedWithMetadata += result.objects.length;
    return result;
  }
  createMultipart(key: string) {
    this.calls++;
    return this.inner.createMultipart(key);
  }
  uploadPart(key: string, uploadId: string, partNumber: number, body: Uint8Array, length: number) {
    this.calls++;
    return this.inner.uploadPart(key, uploadId, partNumber, body, length);
  }
  completeMultipart(key: string, uploadId: string, parts: PartRef[]) {
    this.calls++;
    return this.inner.completeMultipart(key, uploadId, parts);
  }
  abortMultipart(key: string, uploadId: string) {
    this.calls++;
    return this.inner.abortMultipart(key, uploadId);
  }
}
