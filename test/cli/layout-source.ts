// A tiny ImageSource over an OCI image layout, for the engine's tests only (the real sources are cli/sources/).
// Modes the engine must handle: random access with known digests (a layout), and a sequential source that does not
// know the digests (like a legacy docker-archive), where each blob's stream opens once, in order, and must be hashed.
import { createReadStream } from "node:fs";
import { readFile, stat } from "node:fs/promises";
import path from "node:path";
import type { ImageSource, SourceBlob, SourceManifest } from "../../cli/types";

export interface LayoutSourceOptions {
  /** One blob after another, each stream opened once from offset 0. */
  sequential?: boolean;
  /** Blobs come with digest null (the engine hashes them). */
  unknownDigests?: boolean;
}

interface Desc {
  mediaType: string;
  digest: string;
  size: number;
}

export async function layoutSource(dir: string, opts: LayoutSourceOptions = {}): Promise<ImageSource & { opened: string[]; learned: Map<string, string> }> {
  const blobPath = (d: string) => path.join(dir, "blobs", ...d.split(":"));
  const index = JSON.parse(await readFile(path.join(dir, "index.json"), "utf8")) as { manifests: Desc[] };
  const top = index.manifests[0];
  const manifestBytes = await readFile(blobPath(top.digest));
  const manifest = JSON.parse(manifestBytes.toString("utf8")) as { config: Desc; layers: Desc[] };
  const descs = [...manifest.layers, manifest.config];
  const opened: string[] = [];
  const learned = new Map<string, string>();
  let inUse: Promise<void> = Promise.resolve();

  return {
    describe: `test-layout:${dir}`,
    randomAccess: !opts.sequential,
    opened,
    learned,
    async *blobs() {
      for (const d of descs) {
        await inUse; // sequential: the next blob only once the previous stream is done with
        const file = blobPath(d.digest);
        if ((await stat(file)).size !== d.size) throw new Error(`size of ${d.digest} is wrong in the layout`);
        let openedOnce = false;
        let release!: () => void;
        inUse = opts.sequential ? new Promise<void>((r) => (release = r)) : Promise.resolve();
        const resumeKey = opts.unknownDigests ? `layer-file:${path.basename(file)}` : d.digest;
        const blob: SourceBlob = {
          digest: opts.unknownDigests ? null : d.digest,
          size: d.size,
          resumeKey,
          open(offset = 0) {
            if (opts.sequential) {
              if (openedOnce) throw new Error(`sequential source: ${resumeKey} opened twice`);
              if (offset !== 0) throw new Error(`sequential source: ${resumeKey} opened at ${offset}`);
            }
            openedOnce = true;
            opened.push(`${resumeKey}@${offset}`);
            const s = createReadStream(file, { start: offset, highWaterMark: 1 << 20 });
            s.once("close", () => release?.());
            return s;
          },
          digested(digest) {
            learned.set(resumeKey, digest);
          },
        };
        yield blob;
      }
      await inUse;
    },
    async manifests(): Promise<SourceManifest[]> {
      if (opts.unknownDigests) {
        for (const d of descs) {
          const got = learned.get(`layer-file:${path.basename(blobPath(d.digest))}`);
          if (got !== d.digest) throw new Error(`the engine told ${got} for ${d.digest}`);
        }
      }
      return [{ digest: top.digest, mediaType: top.mediaType, bytes: manifestBytes, tags: [], top: true }];
    },
    async close() {},
  };
}

/** `test-layout:<dir>`, with SKIFF_TEST_SEQUENTIAL=1 and SKIFF_TEST_UNKNOWN_DIGESTS=1 picking the mode. */
export function openTestSource(spec: string, env: NodeJS.ProcessEnv = process.env): Promise<ImageSource> {
  const m = /^test-layout:(.+)$/.exec(spec);
  if (!m) throw new Error(`test source spec must be test-layout:DIR, got ${spec}`);
  return layoutSource(m[1], { sequential: env.SKIFF_TEST_SEQUENTIAL === "1", unknownDigests: env.SKIFF_TEST_UNKNOWN_DIGESTS === "1" });
}
