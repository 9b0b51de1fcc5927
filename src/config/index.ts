// Configuration: parsed from the Worker's env, typed, validated with problems that name the setting.
import type { Env } from "./settings";
import { settingsReader } from "./read";
import type { RegistrySettings } from "../registry/deps";
import type { GcSettings } from "../gc/types";
import { parseRepoPattern, type RepoPattern } from "../protocol/repo-patterns";
import { parseRetention } from "../gc/retention-policy";
import { parseAuthSettings, type AuthSettings } from "../auth/settings";
import { parseStorageConfig, type BlobRedirectConfig, type StorageConfig } from "../storage/config";

export interface Config {
  storage: StorageConfig;
  blobRedirect: BlobRedirectConfig;
  auth: AuthSettings;
  registry: RegistrySettings;
  gc: GcSettings;
  edgeCache: EdgeCacheSettings;
  /** One structured log line per request (LOG_REQUESTS; src/http/observe.ts). */
  logRequests: boolean;
}

/** The edge cache's lifetimes in seconds (0 = not cached); src/registry/edge-cache.ts, docs/architecture.md. */
export interface EdgeCacheSettings {
  /** Manifests fetched by digest (EDGE_CACHE_SECONDS). */
  manifestSeconds: number;
  /** Blob metadata: EDGE_CACHE_SECONDS when shorter than the quarantine, else 0 (docs/gc.md §13). */
  blobSeconds: number;
  /** Tag lookups (TAG_CACHE_SECONDS). */
  tagSeconds: number;
}

export const MAX_PART_SIZE_MIB = 32;

/** A configuration that cannot run. Its message lists every problem (for the log); clients get a generic 503. */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Skiff configuration is invalid: ${problems.join("; ")}`);
    this.name = "ConfigError";
  }
}

export function parseConfig(env: Env): Config {
  const problems: string[] = [];
  const { storage, blobRedirect } = parseStorageConfig(env, problems);

  const auth = parseAuthSettings(env, problems);

  // An upload holds up to two parts in memory (one in flight, the next being received) and a Worker has 128 MB in
  // all, shared by concurrent requests: at most 32 MiB keeps two parts at half of it. 5 MiB is S3's and R2's minimum.
  const read = settingsReader(env, problems);
  const partMiB = read.int("UPLOAD_PART_SIZE_MIB", { min: 5, max: MAX_PART_SIZE_MIB, why: "two parts must fit well inside a Worker's 128 MB" });
  const maxManifestBytes = read.int("MAX_MANIFEST_BYTES", { min: 4 * 1024 * 1024, max: 32 * 1024 * 1024 });
  // Cloudflare's edge refuses larger bodies with an HTML 413 before the Worker runs; knowing the plan's limit lets the
  // registry announce it (OCI-Chunk-Max-Length) and refuse the same bodies locally with a useful JSON error.
  const maxRequestBodyMB = read.int("MAX_REQUEST_BODY_MB", { min: 1, max: 5000, why: "the request body limit of the zone's plan, in MB: 100 on Free and Pro" });
  const uploadTtlHours = read.int("UPLOAD_TTL_HOURS", { min: 1, max: 144, why: "R2 aborts unfinished multipart uploads after 7 days" });
  const immutableTags: RepoPattern[] = [];
  for (const text of read.text("IMMUTABLE_TAGS").split(",").map((t) => t.trim()).filter(Boolean)) {
    const p = parseRepoPattern(text);
    if (p) immutableTags.push(p);
    else read.problem(`IMMUTABLE_TAGS holds an entry that is not a repository name, "prefix/*" or "*"`);
  }
  const hour = 3600 * 1000;
  const graceHours = read.int("GC_GRACE_HOURS", { min: 1, max: 24 * 30 });
  const quarantineHours = read.int("GC_QUARANTINE_HOURS", { min: 0, max: 24 * 30 });
  const minGraceHours = read.int("GC_MIN_GRACE_HOURS", { min: 0, max: 24 * 30 });
  const retention = parseRetention(read.text("RETENTION"), problems);
  const edgeSeconds = read.int("EDGE_CACHE_SECONDS", { min: 0, max: 3600, why: "how long another colo may serve a deleted manifest or blob" });
  const tagSeconds = read.int("TAG_CACHE_SECONDS", { min: 0, max: 3600, why: "how stale a pull by tag may be" });
  const logRequests = read.bool("LOG_REQUESTS") ?? true;
  if (problems.length) throw new ConfigError(problems);
  return {
    storage: storage!,
    blobRedirect,
    auth,
    registry: { partSize: partMiB * 1024 * 1024, maxManifestBytes, maxRequestBodyBytes: maxRequestBodyMB * 1_000_000, uploadTtlMs: uploadTtlHours * hour, immutableTags, graceMs: graceHours * hour },
    gc: { graceMs: graceHours * hour, quarantineMs: quarantineHours * hour, minGraceMs: minGraceHours * hour, retention },
    edgeCache: {
      manifestSeconds: edgeSeconds,
      // A cached "live" blob must expire before the sweep can doom its record (docs/gc.md §13): a tombstone waits
      // the quarantine before it can become dead, so blob metadata is cached only when the quarantine is longer.
      blobSeconds: edgeSeconds < quarantineHours * 3600 ? edgeSeconds : 0,
      tagSeconds,
    },
    logRequests,
  };
}
