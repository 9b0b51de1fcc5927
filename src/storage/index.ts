// Chooses the storage adapter for a configuration.
//
//   STORAGE_BACKEND=s3                          S3Store: everything over the S3 API, presigned GETs from the same client
//   STORAGE_BACKEND=r2                          R2Store on the binding; cannot presign, so blob GETs stream through the worker
//   STORAGE_BACKEND=r2 + R2_* S3 credentials    R2Store for every operation, R2's S3 API only to presign blob GETs
import type { Config } from "../config";
import { R2Store } from "./r2";
import { S3Store } from "./s3";
import type { ObjectStore, PutBody, PutOptions, ListOptions, PartRef } from "./types";

/** The R2 binding for data, R2's S3 endpoint (https://<account>.r2.cloudflarestorage.com) for presigned GETs. */
export class PresigningR2Store implements ObjectStore {
  constructor(
    private readonly data: ObjectStore,
    private readonly signer: Pick<ObjectStore, "presignGet">,
  ) {}
  head(key: string) { return this.data.head(key); }
  get(key: string, range?: { offset: number; length: number }) { return this.data.get(key, range); }
  put(key: string, body: PutBody, opts?: PutOptions) { return this.data.put(key, body, opts); }
  delete(keys: string | string[]) { return this.data.delete(keys); }
  list(opts: ListOptions) { return this.data.list(opts); }
  createMultipart(key: string) { return this.data.createMultipart(key); }
  uploadPart(key: string, uploadId: string, partNumber: number, body: Uint8Array, length: number) {
    return this.data.uploadPart(key, uploadId, partNumber, body, length);
  }
  completeMultipart(key: string, uploadId: string, parts: PartRef[]) { return this.data.completeMultipart(key, uploadId, parts); }
  abortMultipart(key: string, uploadId: string) { return this.data.abortMultipart(key, uploadId); }
  presignGet(key: string, expiresIn: number) { return this.signer.presignGet(key, expiresIn); }
}

export function createStore(config: Config): ObjectStore {
  const storage = config.storage;
  const publicBaseUrl = config.blobRedirect.publicBaseUrl;
  if (storage.backend === "s3") return new S3Store(storage.s3, { publicBaseUrl });
  const r2 = new R2Store(storage.bucket);
  if (!storage.presign) return r2;
  return new PresigningR2Store(r2, new S3Store(storage.presign, { publicBaseUrl }));
}
