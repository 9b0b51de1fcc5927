// Process helpers for the e2e tests: those of the command-line tools (scripts/lib/processes.ts), and temp dirs.
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";

export { cpuMs, descendants, rssBytes, run, sleep, startDaemon, waitFor, type Daemon, type RunOptions, type RunResult } from "../../scripts/lib/processes";

/** A fresh directory under the OS temp dir (short path: unix sockets allow ~108 bytes). */
export function tempDir(prefix: string): Promise<string> {
  return mkdtemp(path.join(os.tmpdir(), `skiff-${prefix}-`));
}

export async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true, maxRetries: 3 }).catch(() => {});
}
