// Processes, for the command-line tools, the tests and the bench alike: free ports, commands run to completion,
// daemons in their own process group (so that stopping one stops its children too), waiting for a server, and
// readings from /proc (Linux). Every daemon started here is killed when this Node process exits, as a last resort.
import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, openSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import http from "node:http";
import https from "node:https";
import net from "node:net";

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** A TCP port that was free a moment ago (bind port 0, read it, close). */
export function freePort(host = "127.0.0.1"): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, host, () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/** True when nothing listens on host:port. */
export function portIsFree(port: number, host = "127.0.0.1"): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once("error", () => resolve(false));
    srv.listen(port, host, () => srv.close(() => resolve(true)));
  });
}

/** Signals a whole process group (a process started here with `detached`), if it still exists. */
export function killGroup(pid: number | undefined, sig: NodeJS.Signals): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, sig);
  } catch {
    /* already gone */
  }
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

export interface RunOptions {
  /** Added to this process's environment. */
  env?: Record<string, string | undefined>;
  cwd?: string;
  /** Kill the command (its whole process group) after this long (default 180 s). */
  timeoutMs?: number;
  /** Return a non-zero exit instead of throwing. */
  allowFail?: boolean;
  input?: string;
}

/** Runs a command to completion in its own process group; throws (with its output) on a non-zero exit unless allowFail. */
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
    const timer = setTimeout(() => killGroup(child.pid, "SIGKILL"), opts.timeoutMs ?? 180_000);
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

export interface Daemon {
  /** Leader of its own process group. */
  pid: number;
  child: ChildProcess;
  /** What it printed (stdout and stderr) so far: the last 2 MB, or the log file's. */
  output(): string;
  /** Its exit code, or the signal that ended it, or "spawn-error". */
  exited: Promise<number | string>;
  isRunning(): boolean;
  /** SIGTERM to the group, SIGKILL after `graceMs` (and always once more: children may outlive the leader). */
  stop(graceMs?: number): Promise<void>;
}

export interface DaemonOptions {
  /** Added to this process's environment. */
  env?: Record<string, string | undefined>;
  cwd?: string;
  /** Write stdout and stderr to this file (appending) instead of keeping them in memory. */
  logFile?: string;
  /** Receives stdout and stderr as they arrive (not with logFile). */
  onOutput?: (chunk: string) => void;
}

const OUTPUT_LIMIT = 2_000_000;
const live = new Set<Daemon>();
process.once("exit", () => {
  for (const d of live) killGroup(d.pid, "SIGKILL");
});

/** Starts a long-running process in its own process group. */
export function startDaemon(cmd: string, args: string[], opts: DaemonOptions = {}): Daemon {
  const fd = opts.logFile === undefined ? undefined : openSync(opts.logFile, "a");
  const child = spawn(cmd, args, {
    cwd: opts.cwd,
    env: { ...process.env, ...opts.env },
    stdio: fd === undefined ? ["ignore", "pipe", "pipe"] : ["ignore", fd, fd],
    detached: true,
  });
  if (fd !== undefined) closeSync(fd);
  let out = "";
  const onData = (b: Buffer) => {
    const s = b.toString();
    out = (out + s).slice(-OUTPUT_LIMIT);
    opts.onOutput?.(s);
  };
  child.stdout?.on("data", onData);
  child.stderr?.on("data", onData);
  let running = true;
  const exited = new Promise<number | string>((resolve) => {
    child.on("error", (err) => {
      running = false;
      out += `\nspawn error: ${err.message}`;
      resolve("spawn-error");
    });
    child.on("exit", (code, signal) => {
      running = false;
      resolve(code ?? signal ?? "unknown");
    });
  });
  const readLog = () => {
    try {
      return readFileSync(opts.logFile!, "utf8").slice(-OUTPUT_LIMIT) + out;
    } catch {
      return out;
    }
  };
  const daemon: Daemon = {
    pid: child.pid ?? -1,
    child,
    output: opts.logFile === undefined ? () => out : readLog,
    exited,
    isRunning: () => running,
    async stop(graceMs = 5000) {
      live.delete(daemon);
      if (running) {
        killGroup(child.pid, "SIGTERM");
        await Promise.race([exited, sleep(graceMs)]);
      }
      killGroup(child.pid, "SIGKILL");
      await exited;
    },
  };
  live.add(daemon);
  return daemon;
}

/** Polls `check` until it returns true; fails with `what` and `context()` after `timeoutMs`. */
export async function waitFor(check: () => Promise<boolean> | boolean, what: string, timeoutMs = 30_000, context?: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${context ? `\n${context().slice(-3000)}` : ""}`);
    await sleep(100);
  }
}

/** GET `url` (http or https, certificate not checked: loopback only): its status, or why there was none. */
export function httpStatus(url: string, timeoutMs = 2000): Promise<number | string> {
  return new Promise((resolve) => {
    const lib = url.startsWith("https:") ? https : http;
    const req = lib.get(url, { rejectUnauthorized: false, timeout: timeoutMs }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on("error", (err) => resolve(err.message));
    req.on("timeout", () => req.destroy(new Error("timeout")));
  });
}

/** Polls `url` until it answers `status` (default 200); resolves with the milliseconds that took. */
export async function waitForHttp(url: string, { timeoutMs = 60_000, status = 200, intervalMs = 20 } = {}): Promise<number> {
  const t0 = performance.now();
  let last: number | string = "";
  while (performance.now() - t0 < timeoutMs) {
    last = await httpStatus(url);
    if (last === status) return performance.now() - t0;
    await sleep(intervalMs);
  }
  throw new Error(`${url} did not answer ${status} within ${timeoutMs} ms (last: ${last})`);
}

// ---- /proc readings (Linux). Each returns null when the process is gone. ----

const CLK_TCK = 100; // USER_HZ, `getconf CLK_TCK`, is 100 on Linux

/** The fields of /proc/<pid>/stat from the 3rd (state) on: the command name before them may contain spaces. */
function statFields(pid: number): string[] | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  } catch {
    return null;
  }
}

/** CPU time (user + system, all threads) a process has used so far, in milliseconds. */
export function cpuMs(pid: number): number | null {
  const f = statFields(pid);
  return f ? ((Number(f[11]) + Number(f[12])) * 1000) / CLK_TCK : null;
}

function statusKb(pid: number, name: string): number | null {
  try {
    const m = new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}

/** Resident set size in bytes. */
export const rssBytes = (pid: number) => statusKb(pid, "VmRSS");
/** Peak resident set size in bytes since start or the last resetPeakRss. */
export const peakRssBytes = (pid: number) => statusKb(pid, "VmHWM");

/** Resets the kernel's peak-RSS mark (VmHWM) to the current RSS; needs permission over the process (same user). */
export function resetPeakRss(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, "5");
    return true;
  } catch {
    return false;
  }
}

/** A process's command line, or [] when it is gone. */
export function cmdline(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter(Boolean);
  } catch {
    return [];
  }
}

/** All descendants of `pid` (children, grandchildren, ...), with their command names. */
export function descendants(pid: number): { pid: number; comm: string }[] {
  const parents = new Map<number, { pid: number; comm: string }[]>();
  let entries: string[] = [];
  try {
    entries = readdirSync("/proc");
  } catch {
    /* no /proc: no descendants to report */
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
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
