// Chooses the storage for a configuration: the ObjectStore for data, a Presigner when blob GETs can redirect, and
// PartUploads when clients can PUT upload parts straight to the bucket.
//
//   STORAGE_BACKEND=s3                          S3Store (also the PartUploads), and an S3Presigner on the same settings
//   STORAGE_BACKEND=r2                          R2Store on the binding; no presigner, no part uploads: every byte
//                                               passes through the worker
//   STORAGE_BACKEND=r2 + R2_* S3 credentials    R2Store, and an S3Presigner and an S3Store (for PartUploads) on R2's
//                                               S3 API: the same bucket with no prefix, so both see the same keys
import type { Config } from "../config";
import { R2Store } from "./r2";
import { S3Presigner, S3Store } from "./s3";
import type { ObjectStore, PartUploads, Presigner } from "./types";

export interface Storage {
  store: ObjectStore;
  /** null when blob GETs cannot redirect (the R2 binding alone). */
  presigner: Presigner | null;
  /** null (or absent) when upload parts cannot go straight to the bucket (the R2 binding alone). */
  partUploads?: PartUploads | null;
}

export function createStorage(config: Config): Storage {
  const storage = config.storage;
  const publicBaseUrl = config.blobRedirect.publicBaseUrl;
  if (storage.backend === "s3") {
    const store = new S3Store(storage.s3);
    return { store, presigner: new S3Presigner(storage.s3, publicBaseUrl), partUploads: store };
  }
  return {
    store: new R2Store(storage.bucket),
    presigner: storage.presign ? new S3Presigner(storage.presign, publicBaseUrl) : null,
    partUploads: storage.presign ? new S3Store(storage.presign) : null,
  };
}
