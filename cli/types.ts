// What a source (sources/*.ts) hands the push engine (push/*.ts). Sources read images; the engine talks to registries.
import type { Readable } from "node:stream";

/** A blob as the source yields it, with its bytes. */
export interface SourceBlob {
  /** "sha256:<hex>" when the source knows it (OCI layouts, blobs/ in an archive); null when it must be hashed. */
  digest: string | null;
  /** Exact size in bytes. */
  size: number;
  /**
   * Stable name of these bytes in this source, to find an interrupted upload again on the next run when `digest`
   * is null (for a legacy docker-archive: the layer's path, e.g. "3c5e.../layer.tar", with the image id).
   * Equal to `digest` when that is known.
   */
  resumeKey: string;
  /**
   * The bytes from `offset` on (0 for all of them). A sequential source (a tar stream) can open each blob once, in
   * order, and only with offset 0; a random-access source (a layout directory) any number of times.
   * The engine must consume the stream to its end or destroy it.
   */
  open(offset?: number): Readable;
  /** The engine calls this when it learns the digest of a blob whose `digest` was null (after hashing it). */
  digested?(digest: string): void;
}

/** A manifest or index to push after its blobs, exact bytes as they will be stored. */
export interface SourceManifest {
  digest: string;
  mediaType: string;
  bytes: Buffer;
  /** Tags to put this manifest under (besides its digest); the DEST tag is added by the engine for the top one. */
  tags: string[];
  /** True for the one the DEST reference names (the image or the index); false for children and referrers. */
  top: boolean;
}

export interface ImageSource {
  /** What it is, for messages: "oci:./layout:v1", "docker-archive:img.tar", "docker-daemon:alpine:3". */
  describe: string;
  /** true: blobs() may be consumed concurrently and open() called many times, at any offset. */
  randomAccess: boolean;
  /**
   * Every blob the image needs (layers, configs, and for layouts the blobs of children and referrers), each once.
   * For a sequential source, the next blob is yielded only after the previous one's stream was consumed or destroyed.
   */
  blobs(): AsyncIterable<SourceBlob>;
  /**
   * Manifests in push order (children before the index that lists them, subjects before their referrers); valid
   * once blobs() has been iterated to the end, since an archive may put them after the blobs. Digests of blobs
   * the source did not know (SourceBlob.digest null) are known by then through `digested`.
   */
  manifests(): Promise<SourceManifest[]>;
  /** Frees what the source holds (closes sockets, kills `docker save`, removes temp files). */
  close(): Promise<void>;
}
