// Running `skiff push` as a child process (test/cli/fixtures/run-push.ts: the real CLI with the tests' layout
// source), interrupting it like Ctrl-C, and pulling what it pushed back with skopeo to check every byte.
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { expect } from "vitest";
import type { OciImage } from "../support/oci-layout";
import { run, sleep } from "../support/proc";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
const RUNNER = path.join(ROOT, "test", "cli", "fixtures", "run-push.ts");

export interface SkiffRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** The --json summary, when the run printed one. */
  json: any;
}

export interface RunSkiffOptions {
  env?: Record<string, string>;
  /** Polled every 50 ms while the push runs; the first time it returns true, the push gets SIGINT. */
  interruptWhen?: () => boolean | Promise<boolean>;
  timeoutMs?: number;
}

export async function runSkiff(args: string[], opts: RunSkiffOptions = {}): Promise<SkiffRun & { interrupted: boolean }> {
  const child = spawn(process.execPath, ["--import", "tsx", RUNNER, ...args], {
    cwd: ROOT,
    env: { ...process.env, ...opts.env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
  child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.once("exit", (code, signal) => resolve([code, signal])));
  let done = false;
  let interrupted = false;
  void exited.then(() => (done = true));
  const timer = setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs ?? 240_000);
  if (opts.interruptWhen) {
    while (!done) {
      if (await opts.interruptWhen()) {
        interrupted = !done;
        child.kill("SIGINT");
        break;
      }
      await sleep(50);
    }
  }
  const [code, signal] = await exited;
  clearTimeout(timer);
  let json: any = null;
  const last = stdout.trim().split("\n").pop();
  if (last?.startsWith("{")) json = JSON.parse(last);
  return { code, signal, stdout, stderr, json, interrupted };
}

async function sha256File(file: string): Promise<string> {
  const h = createHash("sha256");
  for await (const c of createReadStream(file)) h.update(c as Buffer);
  return `sha256:${h.digest("hex")}`;
}

/** Pulls `ref` with skopeo into a fresh layout and checks it is `image`: same manifest, every blob's bytes. */
export async function pullAndCompare(ref: string, image: OciImage, dir: string, tlsVerify: boolean): Promise<void> {
  await run("skopeo", ["copy", "-q", `--src-tls-verify=${tlsVerify}`, `docker://${ref}`, `oci:${dir}:pulled`], { timeoutMs: 120_000 });
  const index = JSON.parse(await readFile(path.join(dir, "index.json"), "utf8")) as { manifests: { digest: string }[] };
  expect(index.manifests.map((m) => m.digest)).toEqual([image.manifest.digest]);
  const files = await readdir(path.join(dir, "blobs", "sha256"));
  const want = [image.manifest, ...image.blobs].map((d) => d.digest).sort();
  expect(files.map((f) => `sha256:${f}`).sort()).toEqual(want);
  for (const d of [image.manifest, ...image.blobs]) {
    const file = path.join(dir, "blobs", "sha256", d.digest.slice(7));
    expect(await sha256File(file), `bytes of ${d.digest}`).toBe(d.digest);
  }
}
