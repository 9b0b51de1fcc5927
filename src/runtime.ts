// The composition root: everything a request needs, built from the Worker's env once per isolate.
import { parseConfig, ConfigError, type Config } from "./config";
import type { Env } from "./config/settings";
import type { RegistryDeps } from "./registry/deps";
import type { GcDeps } from "./gc/types";
import type { Authorizer } from "./auth/types";
import { createAuthorizer } from "./auth";
import { keySource, type KeySource } from "./auth/context";
import { createStorage, type Storage } from "./storage";
import { EdgeCache, PurgingStore } from "./registry/edge-cache";
import { logEvent } from "./observability/log";

export interface Runtime {
  config: Config;
  deps: RegistryDeps;
  /** What the garbage collector runs on: the registry's deps plus the GC_* settings (config.gc). */
  gcDeps(): GcDeps;
  authorizer: Authorizer;
  /** The token keys, imported on first use (throws UNAVAILABLE without a signing key). */
  keys: KeySource;
  /** A URL that serves the blob's bytes straight from storage, or null when blob GETs stream through the worker. */
  presignBlob(dataKey: string): Promise<string | null>;
}

/** Builds a runtime from a valid config; `storage` defaults to the configured backend (tests pass another). */
export function createRuntime(config: Config, storage: Storage = createStorage(config)): Runtime {
  const { presigner, partUploads } = storage;
  const keys = keySource(config.auth.mode === "token" ? config.auth.keys : null);
  const { enabled, ttlSeconds } = config.blobRedirect;
  const edgeCache = edgeCacheFor(config);
  // Every write goes through the purging store, so that deletes (by clients, GC or retention) drop this colo's entries.
  const store = edgeCache ? new PurgingStore(storage.store, edgeCache) : storage.store;
  const deps: RegistryDeps = { store, settings: config.registry, partUploads: partUploads ?? null, edgeCache };
  return {
    config,
    deps,
    gcDeps: () => ({ ...deps, gc: config.gc }),
    authorizer: createAuthorizer(config.auth, keys),
    keys,
    presignBlob: enabled && presigner ? (key) => presigner.presignGet(key, ttlSeconds) : async () => null,
  };
}

/** The edge cache, or null when every lifetime is 0 or there is no Cache API (Node, in the api-memory tests). */
function edgeCacheFor(config: Config): EdgeCache | null {
  const { manifestSeconds, blobSeconds, tagSeconds } = config.edgeCache;
  if (!(manifestSeconds || blobSeconds || tagSeconds) || typeof caches === "undefined") return null;
  const host = (config.auth.mode === "token" && config.auth.service) || "skiff.invalid";
  return new EdgeCache(caches.default, { manifestSeconds, blobSeconds, tagSeconds, origin: `https://${host}` });
}

const runtimes = new WeakMap<object, Runtime | ConfigError>();

/** The runtime for this env, built once per env object; a configuration error is logged once and rethrown. */
export function runtimeFor(env: Env): Runtime {
  let r = runtimes.get(env);
  if (!r) {
    let config: Config | ConfigError;
    try {
      config = parseConfig(env);
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      config = err;
      // The problems name settings, never their values (src/config/read.ts).
      logEvent("error", err.message);
    }
    if (config instanceof ConfigError) r = config;
    else {
      r = createRuntime(config);
      const auth = config.auth;
      if (auth.mode === "open") logEvent("warn", "Skiff: SKIFF_AUTH=open: anyone can push and pull. For local development only.");
      else if (auth.locked) logEvent("warn", `Skiff: ${auth.locked}`);
      const cache = config.edgeCache;
      if (cache.manifestSeconds && !cache.blobSeconds) logEvent("warn", "Skiff: blob metadata is not edge-cached: EDGE_CACHE_SECONDS must be shorter than GC_QUARANTINE_HOURS (docs/gc.md §13).");
    }
    runtimes.set(env, r);
  }
  if (r instanceof ConfigError) throw r;
  return r;
}
