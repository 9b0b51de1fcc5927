// Chooses the storage for a configuration: the ObjectStore for data, and a Presigner when blob GETs can redirect.
//
//   STORAGE_BACKEND=s3                          S3Store, and an S3Presigner on the same settings
//   STORAGE_BACKEND=r2                          R2Store on the binding; no presigner, so blob GETs stream through the worker
//   STORAGE_BACKEND=r2 + R2_* S3 credentials    R2Store, and an S3Presigner on R2's S3 API (the binding cannot presign)
import type { Config } from "../config";
import { R2Store } from "./r2";
import { S3Presigner, S3Store } from "./s3";
import type { ObjectStore, Presigner } from "./types";

export interface Storage {
  store: ObjectStore;
  /** null when blob GETs cannot redirect (the R2 binding alone). */
  presigner: Presigner | null;
}

export function createStorage(config: Config): Storage {
  const storage = config.storage;
  const publicBaseUrl = config.blobRedirect.publicBaseUrl;
  if (storage.backend === "s3") return { store: new S3Store(storage.s3), presigner: new S3Presigner(storage.s3, publicBaseUrl) };
  return { store: new R2Store(storage.bucket), presigner: storage.presign ? new S3Presigner(storage.presign, publicBaseUrl) : null };
}
