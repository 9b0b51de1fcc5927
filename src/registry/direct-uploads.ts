// Direct-to-bucket uploads (docs/direct-upload.md): the client PUTs a blob's parts straight to storage through
// presigned UploadPart URLs, so that its bytes never pass the edge's request body limit or the worker.
//
// Why it is as safe as every other upload (docs/architecture.md, "Why a digest always serves its bytes"):
// - The session's multipart upload is created by the worker at a fresh random key and handed to the session by a
//   compare-and-swap on its state, like every other object; a request that loses the swap aborts its own.
// - A URL is signed for exactly (key, upload id, part number) and expires within 15 minutes: it can write one part
//   of that one upload, nothing else. Parts are therefore never trusted.
// - Completing first wins the session (claim), then completes the multipart upload with the part ETags it listed:
//   from then on the object cannot change (its upload id is consumed). Only then is it read back once through the
//   native digest, and only a matching digest is committed; otherwise the object is deleted.
import { RegistryError } from "../protocol/errors";
import { formatDigest, type Digest } from "../protocol/digest";
import { DIRECT_UPLOAD_HEADER, checkPartListing, type PartsRequest } from "../protocol/direct-upload";
import { StorageError, type PartUploads, type StoredPart } from "../storage/types";
import { commitBlob, type BlobLocation } from "./blobs";
import type { RegistryDeps } from "./deps";
import { keys } from "./paths";
import { hashStored } from "./upload-bytes";
import { claimUpload, concurrentChange, forgetUpload, loadUpload, publishContent, type UploadContent, type UploadSession } from "./upload-state";

type DirectContent = Extract<UploadContent, { kind: "direct" }>;

export interface PartUrls {
  partSize: number;
  /** When the URLs stop working. */
  expiresAt: string;
  parts: { partNumber: number; url: string }[];
}

export interface PartListing {
  /** null while the session has no multipart upload yet. */
  partSize: number | null;
  parts: StoredPart[];
}

/** The backend's part uploads, or 405 when it cannot presign them. */
export function partUploadsOf(deps: RegistryDeps): PartUploads {
  if (deps.partUploads) return deps.partUploads;
  throw new RegistryError(
    "UNSUPPORTED",
    `this registry cannot take upload parts straight to storage (no ${DIRECT_UPLOAD_HEADER} support on this backend): send the blob with PATCH chunks of at most OCI-Chunk-Max-Length bytes`,
  );
}

function holdsPatchBytes(): RegistryError {
  return new RegistryError("BLOB_UPLOAD_INVALID", "this upload already holds bytes sent with PATCH: direct parts need an upload session of their own (POST a new one)");
}

function uploadGone(): RegistryError {
  return new RegistryError("BLOB_UPLOAD_INVALID", "the upload's parts are no longer in storage (its multipart upload was completed or aborted): start a new upload");
}

/**
 * Makes an empty session a direct one: a new multipart upload at a fresh key, published by compare-and-swap. A
 * request that loses the swap aborts its own upload and continues with the session as the winner left it.
 */
async function makeDirect(deps: RegistryDeps, pu: PartUploads, session: UploadSession, partSize: number): Promise<void> {
  const key = keys.blobData(crypto.randomUUID());
  const uploadId = await pu.createMultipart(key);
  let published = false;
  try {
    published = await publishContent(deps, session, { kind: "direct", key, uploadId, partSize });
  } finally {
    if (!published) await pu.abortMultipart(key, uploadId).catch(() => {});
  }
  if (!published) {
    const now = await loadUpload(deps, session.state.repo, session.state.id, session.state.owner);
    session.state = now.state;
    session.etag = now.etag;
  }
}

/** POST <session>/parts: presigned UploadPart URLs for `request.parts`, valid for `expiresInSeconds`. */
export async function requestPartUrls(deps: RegistryDeps, session: UploadSession, request: PartsRequest, expiresInSeconds: number): Promise<PartUrls> {
  const pu = partUploadsOf(deps);
  for (let attempt = 0; session.state.content.kind === "empty"; attempt++) {
    if (request.partSize === undefined) throw new RegistryError("BLOB_UPLOAD_INVALID", "partSize is required on the first parts request of an upload");
    if (attempt === 3) throw concurrentChange();
    await makeDirect(deps, pu, session, request.partSize);
  }
  const content = session.state.content;
  if (content.kind !== "direct") throw holdsPatchBytes();
  if (request.partSize !== undefined && request.partSize !== content.partSize) {
    throw new RegistryError("BLOB_UPLOAD_INVALID", `this upload's partSize is ${content.partSize}; later parts requests must repeat it or leave it out`);
  }
  const expiresAt = new Date(Date.now() + expiresInSeconds * 1000).toISOString();
  const parts = await Promise.all(
    request.parts.map(async (partNumber) => ({ partNumber, url: await pu.presignUploadPart(content.key, content.uploadId, partNumber, expiresInSeconds) })),
  );
  return { partSize: content.partSize, expiresAt, parts };
}

/** GET <session>/parts: what storage holds now, for a client resuming an upload. */
export async function listPartsOf(deps: RegistryDeps, session: UploadSession): Promise<PartListing> {
  const pu = partUploadsOf(deps);
  const content = session.state.content;
  if (content.kind === "empty") return { partSize: null, parts: [] };
  if (content.kind !== "direct") throw holdsPatchBytes();
  const parts = await pu.listParts(content.key, content.uploadId);
  if (!parts) throw uploadGone();
  return { partSize: content.partSize, parts };
}

/** A PATCH on a direct session: its bytes belong in parts. */
export function refuseChunkOnDirect(): never {
  throw new RegistryError("BLOB_UPLOAD_INVALID", "this upload takes its bytes as parts PUT straight to storage (POST <upload>/parts), not PATCH; complete it with PUT ?digest=");
}

/**
 * PUT ?digest= on a direct session (the body was checked to be empty): checks the parts storage lists, wins the
 * session, completes the multipart upload with exactly the listed parts, reads the object back through the native
 * digest and commits it. A listing that is not a complete blob leaves the session as it was, so the client can fix
 * its parts; after the claim, any failure ends the session and deletes what it held.
 */
export async function completeDirect(deps: RegistryDeps, session: UploadSession, content: DirectContent, digest: Digest): Promise<BlobLocation> {
  const pu = deps.partUploads;
  if (!pu) throw uploadGone(); // the configuration lost its S3 credentials since the session began
  const listed = await pu.listParts(content.key, content.uploadId);
  if (!listed) throw uploadGone();
  const size = checkPartListing(listed, content.partSize);
  if (!(await claimUpload(deps, session, "complete"))) throw concurrentChange();

  let committed = false;
  try {
    try {
      await pu.completeMultipart(content.key, content.uploadId, listed.map((p) => ({ partNumber: p.partNumber, etag: p.etag })));
    } catch (err) {
      // Storage refusing the listed ETags means a part was PUT again after the listing: the client's doing.
      if (err instanceof StorageError && err.status !== undefined && err.status >= 400 && err.status < 500) {
        throw new RegistryError("BLOB_UPLOAD_INVALID", "storage refused to assemble the parts (was a part PUT again while completing?): start a new upload");
      }
      throw err;
    }
    // The object is final now: its upload id is consumed, no URL can write it any more. Read it back once.
    const actual = await hashStored(deps.store, content.key, digest.algorithm, size);
    if (actual !== digest.hex) {
      throw new RegistryError("DIGEST_INVALID", `content digest is ${digest.algorithm}:${actual}, not ${formatDigest(digest)}`, {
        expected: formatDigest(digest),
        actual: `${digest.algorithm}:${actual}`,
      });
    }
    committed = true; // from its first write on, the commit may name the object: it is never deleted here
    const blob = await commitBlob(deps, session.state.repo, digest, size, content.key);
    await forgetUpload(deps, session).catch(() => {});
    return blob;
  } catch (err) {
    if (!committed) {
      // The session is ours and over: nothing of it may stay behind (the abort covers an upload never completed).
      await pu.abortMultipart(content.key, content.uploadId).catch(() => {});
      await deps.store.delete(content.key).catch(() => {});
      await forgetUpload(deps, session).catch(() => {});
    }
    throw err;
  }
}

/** DELETE on a direct session (after the claim): aborts its multipart upload, which drops every part. */
export async function abortDirect(deps: RegistryDeps, content: DirectContent): Promise<void> {
  await (deps.partUploads ?? deps.store).abortMultipart(content.key, content.uploadId);
}
