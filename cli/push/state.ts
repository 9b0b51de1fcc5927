// Resume state on disk (--state-dir): what an interrupted push needs to continue, and where blobs were pushed
// before (for cross-repository mounts). Plain JSON files, each written whole to a temp file and renamed over the
// old one, so a kill at any moment leaves either the old or the new state. Never a secret or a presigned URL: the
// session Location is a registry path the registry checks against the caller's own credentials.
import { createHash, randomBytes } from "node:crypto";
import { mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";

export type UploadMode = "direct" | "chunked";

/** One blob's upload in one repository, keyed by (registry, repo, resumeKey). */
export interface UploadRecord {
  registry: string;
  repo: string;
  resumeKey: string;
  size: number;
  /** The blob's digest once known (from the source, or after hashing it to the end). */
  digest: string | null;
  /** The open session, or null once the blob is in the registry. */
  session: { location: string; mode: UploadMode; partSize?: number; chunkSize?: number } | null;
  updatedAt: string;
}

/** Where a blob was pushed on one registry. */
interface PushedRecord {
  digest: string;
  /** Most recent first. */
  repos: string[];
}

const MAX_REPOS_REMEMBERED = 20;

export function defaultStateDir(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_STATE_HOME && path.isAbsolute(env.XDG_STATE_HOME) ? env.XDG_STATE_HOME : path.join(os.homedir(), ".local", "state");
  return path.join(base, "skiff");
}

const hash = (...parts: string[]) => createHash("sha256").update(JSON.stringify(parts)).digest("hex").slice(0, 40);

async function writeAtomically(file: string, data: unknown): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
  await writeFile(tmp, JSON.stringify(data, null, 1) + "\n", { mode: 0o600 });
  await rename(tmp, file);
}

async function readJson<T>(file: string): Promise<T | null> {
  try {
    return JSON.parse(await readFile(file, "utf8")) as T;
  } catch {
    return null; // missing or damaged: as if there were no state
  }
}

export class StateStore {
  constructor(readonly dir: string) {}

  private uploadFile(registry: string, repo: string, resumeKey: string): string {
    return path.join(this.dir, "uploads", `${hash(registry, repo, resumeKey)}.json`);
  }

  private pushedFile(registry: string, digest: string): string {
    return path.join(this.dir, "blobs", hash(registry), `${digest.replace(":", "-")}.json`);
  }

  async loadUpload(registry: string, repo: string, resumeKey: string): Promise<UploadRecord | null> {
    const r = await readJson<UploadRecord>(this.uploadFile(registry, repo, resumeKey));
    // The key is a hash: check it is this blob's record, not a collision or a hand-edited file.
    if (!r || r.registry !== registry || r.repo !== repo || r.resumeKey !== resumeKey || typeof r.size !== "number") return null;
    return r;
  }

  async saveUpload(r: Omit<UploadRecord, "updatedAt">): Promise<void> {
    await writeAtomically(this.uploadFile(r.registry, r.repo, r.resumeKey), { ...r, updatedAt: new Date().toISOString() });
  }

  async forgetUpload(registry: string, repo: string, resumeKey: string): Promise<void> {
    await rm(this.uploadFile(registry, repo, resumeKey), { force: true });
  }

  /** Other repositories of `registry` this blob was pushed to, most recent first. */
  async pushedElsewhere(registry: string, digest: string, repo: string): Promise<string[]> {
    const r = await readJson<PushedRecord>(this.pushedFile(registry, digest));
    return r?.digest === digest && Array.isArray(r.repos) ? r.repos.filter((x) => typeof x === "string" && x !== repo) : [];
  }

  async rememberPushed(registry: string, digest: string, repo: string): Promise<void> {
    const file = this.pushedFile(registry, digest);
    const r = await readJson<PushedRecord>(file);
    const repos = [repo, ...(Array.isArray(r?.repos) ? r!.repos.filter((x) => x !== repo) : [])].slice(0, MAX_REPOS_REMEMBERED);
    await writeAtomically(file, { digest, repos });
  }
}
