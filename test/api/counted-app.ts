// The registry app on this project's real store (R2 simulator, Ceph RGW or the MemoryStore) behind a CountingStore,
// with edge cache settings of the test's choosing: storage calls per operation, with and without the edge cache.
import { env } from "cloudflare:workers";
import type { Env } from "../../src/config/settings";
import type { Config, EdgeCacheSettings } from "../../src/config";
import { parseConfig } from "../../src/config";
import { createRuntime, type Runtime } from "../../src/runtime";
import { createApp } from "../../src/http/app";
import { createStorage } from "../../src/storage";
import { CountingStore } from "../../src/gc/counting-store";
import { requestTo } from "./helpers";

export const baseConfig: Config = parseConfig(env as unknown as Env);

/** No edge cache: every lookup reads storage. */
export const CACHE_OFF: EdgeCacheSettings = { manifestSeconds: 0, blobSeconds: 0, tagSeconds: 0 };

export interface CountedApp {
  call(path: string, init?: RequestInit): Promise<Response>;
  /** Storage calls made by `run` (every call: reads, writes, lists, multipart steps). */
  count(run: () => Promise<unknown>): Promise<number>;
  counter: CountingStore;
  runtime: Runtime;
}

/**
 * `presign`: blob GETs redirect through a stand-in presigner that makes no storage call (as the S3 presigner signs
 * locally); a stand-in because this project's store may have none (the R2 binding alone, or BLOB_REDIRECT off).
 */
export function countedApp(edgeCache: EdgeCacheSettings = CACHE_OFF, opts: { presign?: boolean } = {}): CountedApp {
  const storage = createStorage(baseConfig);
  const counter = new CountingStore(storage.store);
  const presigner = opts.presign ? { presignGet: async (key: string) => `https://storage.example/${key}?signed` } : storage.presigner;
  const blobRedirect = opts.presign ? { ...baseConfig.blobRedirect, enabled: true } : baseConfig.blobRedirect;
  const runtime = createRuntime({ ...baseConfig, edgeCache, blobRedirect }, { ...storage, store: counter, presigner });
  const app = createApp(() => runtime);
  const call = (path: string, init?: RequestInit) => Promise.resolve(app.fetch(requestTo(path, init), env as unknown as Env));
  return {
    call,
    counter,
    runtime,
    async count(run) {
      const before = counter.calls;
      await run();
      return counter.calls - before;
    },
  };
}

/** Whether this project has a Cache API (workerd: Miniflare's simulated cache; not Node, in api-memory). */
export const hasCacheApi = typeof caches !== "undefined";
