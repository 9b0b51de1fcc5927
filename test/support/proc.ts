// Process helpers for the e2e tests: run a command, start a daemon in its own process group, temp dirs, /proc.
// Every daemon started here is killed on stop(), and, as a last resort, when the test process exits.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { readFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

export interface RunOptions {
  env?: Record<string, string | undefined>;
  cwd?: string;
  /** Kill the command after this long (default 180 s). */
  timeoutMs?: number;
  /** Return a non-zero exit instead of throwing. */
  allowFail?: boolean;
  input?: string;
}

/** Runs a command to completion; throws (with its output) on a non-zero exit unless allowFail. */
export function run(cmd: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      cwd: opts.cwd,
      env: { ...process.env, ...opts.env },
      stdio: [opts.input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
      detached: true,
    });
    let stdout = "";
    let stderr = "";
    child.stdout!.on("data", (b) => (stdout += b));
    child.stderr!.on("data", (b) => (stderr += b));
    if (opts.input !== undefined) child.stdin!.end(opts.input);
    const timer = setTimeout(() => killGroup(child, "SIGKILL"), opts.timeoutMs ?? 180_000);
    child.on("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      const result = { code, stdout, stderr, ms: performance.now() - started };
      if (code === 0 || opts.allowFail) return resolve(result);
      reject(new Error(`${cmd} ${args.join(" ")} failed (${code ?? signal}) after ${Math.round(result.ms)} ms\nstdout: ${stdout.slice(-3000)}\nstderr: ${stderr.slice(-3000)}`));
    });
  });
}

function killGroup(child: ChildProcess, sig: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, sig);
  } catch {
    /* gone */
  }
}

export interface Daemon {
  pid: number;
  child: ChildProcess;
  output(): string;
  exited: Promise<number | string | null>;
  isRunning(): boolean;
  stop(graceMs?: number): Promise<void>;
}

const live = new Set<Daemon>();
process.once("exit", () => {
  for (const d of live) {
    try {
      process.kill(-d.pid, "SIGKILL");
    } catch {
      /* gone */
    }
  }
});

/** Starts a long-running process in its own process group, capturing its output. */
export function startDaemon(cmd: string, args: string[], opts: { env?: Record<string, string | undefined>; cwd?: string } = {}): Daemon {
  const child = spawn(cmd, args, { cwd: opts.cwd, env: { ...process.env, ...opts.env }, stdio: ["ignore", "pipe", "pipe"], detached: true });
  let out = "";
  const onData = (b: Buffer) => {
    out = (out + b.toString()).slice(-2_000_000);
  };
  child.stdout!.on("data", onData);
  child.stderr!.on("data", onData);
  let running = true;
  const exited = new Promise<number | string | null>((resolve) => {
    child.on("error", (err) => {
      running = false;
      out += `\nspawn error: ${err.message}`;
      resolve("spawn-error");
    });
    child.on("exit", (code, signal) => {
      running = false;
      resolve(code ?? signal);
    });
  });
  const daemon: Daemon = {
    pid: child.pid ?? -1,
    child,
    output: () => out,
    exited,
    isRunning: () => running,
    async stop(graceMs = 5000) {
      live.delete(daemon);
      if (running) {
        killGroup(child, "SIGTERM");
        await Promise.race([exited, sleep(graceMs)]);
      }
      killGroup(child, "SIGKILL");
      await exited;
    },
  };
  live.add(daemon);
  return daemon;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls `check` until it returns true; fails with `what` and `context()` after `timeoutMs`. */
export async function waitFor(check: () => Promise<boolean> | boolean, what: string, timeoutMs = 30_000, context?: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${context ? `\n${context().slice(-3000)}` : ""}`);
    await sleep(100);
  }
}

/** A fresh directory under the OS temp dir (short path: unix sockets allow ~108 bytes). */
export function tempDir(prefix: string): Promise<string> {
  return mkdtemp(path.join(os.tmpdir(), `skiff-${prefix}-`));
}

export async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true, maxRetries: 3 }).catch(() => {});
}

/** All descendants of `pid` (children, grandchildren, ...), from /proc. */
export async function descendants(pid: number): Promise<{ pid: number; comm: string }[]> {
  const parents = new Map<number, { pid: number; comm: string }[]>();
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = await readFile(`/proc/${entry}/stat`, "utf8");
      // pid (comm) state ppid ...: comm may contain spaces, so split after the last ')'.
      const comm = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      const list = parents.get(ppid) ?? [];
      list.push({ pid: Number(entry), comm });
      parents.set(ppid, list);
    } catch {
      /* exited meanwhile */
    }
  }
  const out: { pid: number; comm: string }[] = [];
  const queue = [pid];
  while (queue.length) {
    for (const c of parents.get(queue.shift()!) ?? []) {
      out.push(c);
      queue.push(c.pid);
    }
  }
  return out;
}

/** CPU time (user + system) a process has used so far, in seconds, or null when it is gone. */
export function cpuSeconds(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" "); // fields from the 3rd (state) on
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ is 100 on Linux)
  } catch {
    return null;
  }
}

/** Resident set size of a process in bytes (VmRSS), or null when it is gone. */
export function rssBytes(pid: number): number | null {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}
