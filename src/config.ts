// Configuration: parsed once per isolate from the Worker's env, typed, validated with errors that name the setting.
import type { Env, SettingName } from "./env";
import { DEFAULT_SETTINGS, type RegistrySettings } from "./registry/deps";
import { parseAuthSettings, type AuthSettings } from "./auth/settings";
import { parseStorageConfig, type BlobRedirectConfig, type StorageConfig } from "./storage/config";

export interface Config {
  storage: StorageConfig;
  blobRedirect: BlobRedirectConfig;
  auth: AuthSettings;
  registry: RegistrySettings;
}

export const MAX_PART_SIZE_MIB = 32;

/** A configuration that cannot run. Its message lists every problem (for the log); clients get a generic 503. */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Skiff configuration is invalid: ${problems.join("; ")}`);
    this.name = "ConfigError";
  }
}

function str(env: Env, name: SettingName): string | undefined {
  const v = env[name];
  return typeof v === "string" && v.trim() !== "" ? v.trim() : undefined;
}

function int(env: Env, name: SettingName, min: number, max: number, problems: string[], why?: string): number | undefined {
  const v = str(env, name);
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) {
    // The value is not quoted: problems are logged, and no setting's value belongs in a log.
    problems.push(`${name} must be an integer from ${min} to ${max}${why ? ` (${why})` : ""}`);
    return undefined;
  }
  return n;
}

export function parseConfig(env: Env): Config {
  const problems: string[] = [];
  const { storage, blobRedirect } = parseStorageConfig(env, problems);

  const auth = parseAuthSettings(env, problems);

  // An upload holds up to two parts in memory (one in flight, the next being received) and a Worker has 128 MB in
  // all, shared by concurrent requests: at most 32 MiB keeps two parts at half of it. 5 MiB is S3's and R2's minimum.
  const partMiB = int(env, "UPLOAD_PART_SIZE_MIB", 5, MAX_PART_SIZE_MIB, problems, "two parts must fit well inside a Worker's 128 MB");
  const maxManifest = int(env, "MAX_MANIFEST_BYTES", 4 * 1024 * 1024, 32 * 1024 * 1024, problems);
  if (problems.length) throw new ConfigError(problems);
  return {
    storage: storage!,
    blobRedirect,
    auth,
    registry: {
      ...DEFAULT_SETTINGS,
      ...(partMiB ? { partSize: partMiB * 1024 * 1024 } : {}),
      ...(maxManifest ? { maxManifestBytes: maxManifest } : {}),
    },
  };
}

const cache = new WeakMap<object, Config | ConfigError>();

/** The parsed config for this env; parsed once per isolate, a failure logged once. */
export function loadConfig(env: Env): Config {
  let c = cache.get(env);
  if (!c) {
    try {
      c = parseConfig(env);
      if (c.auth.mode === "open") console.warn("Skiff: SKIFF_AUTH=open: anyone can push and pull. For local development only.");
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      c = err;
      console.error(err.message);
    }
    cache.set(env, c);
  }
  if (c instanceof ConfigError) throw c;
  return c;
}
