// Starts and stops a real S3 server (Ceph RADOS Gateway, infra/ceph-s3/) on free 127.0.0.1 ports, from Node:
// used by the vitest globalSetup of the S3 projects and by the end-to-end tests.
//
// The daemons detach (own session, parent init), so killing the process that started them leaves them running.
// Two nets: clusters still up when this process exits are stopped by an exit handler (the stall watchdog ends
// vitest with process.exit, which skips globalSetup teardowns but runs exit handlers); and each cluster's directory
// is made under SKIFF_RGW_DIR when set, which npm test (scripts/test.mjs) sweeps after every vitest process, for
// test processes killed outright.
import { execFile, execFileSync } from "node:child_process";
import { rmSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);
const INFRA = resolve(import.meta.dirname, "../../infra/ceph-s3");

export interface RgwInfo {
  endpoint: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  bucket: string;
}

export interface Rgw extends RgwInfo {
  /** Stops only the gateway (the data stays); `startGateway` brings it back on the same port. */
  stopGateway(): Promise<void>;
  startGateway(): Promise<void>;
  /** Stops every daemon and deletes the data. */
  stop(): Promise<void>;
}

/** The clusters this process started and has not stopped: CEPH_DIR -> the directory to delete. */
const live = new Map<string, string>();
let exitHook = false;

function stopLiveAtExit(): void {
  for (const [cephDir, dir] of live) {
    try {
      execFileSync(join(INFRA, "stop.sh"), [], { env: { ...process.env, CEPH_DIR: cephDir }, stdio: "ignore", timeout: 20_000 });
      rmSync(dir, { recursive: true, force: true });
    } catch {
      // nothing more can be done while exiting; npm test's sweep is the next net
    }
  }
}

export async function startRgw(opts: { bucket?: string; osdStore?: "memstore" | "bluestore" } = {}): Promise<Rgw> {
  const parent = process.env.SKIFF_RGW_DIR || tmpdir();
  await mkdir(parent, { recursive: true });
  const dir = await mkdtemp(join(parent, "skiff-rgw-"));
  const accessKeyId = "skiff-test";
  const secretAccessKey = `secret-${crypto.randomUUID()}`;
  const bucket = opts.bucket ?? "skiff-test";
  const env = {
    ...process.env,
    CEPH_DIR: join(dir, "ceph"),
    S3_ACCESS_KEY: accessKeyId,
    S3_SECRET_KEY: secretAccessKey,
    S3_BUCKETS: bucket,
    OSD_STORE: opts.osdStore ?? "memstore",
  };
  const stop = async () => {
    await run(join(INFRA, "stop.sh"), [], { env }).catch(() => {});
    live.delete(env.CEPH_DIR);
    await rm(dir, { recursive: true, force: true });
  };
  // Registered before start.sh runs: a process that dies mid-start may already have some daemons up.
  live.set(env.CEPH_DIR, dir);
  if (!exitHook) {
    exitHook = true;
    process.once("exit", stopLiveAtExit);
  }
  try {
    await run(join(INFRA, "start.sh"), [], { env, timeout: 120_000 });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    await stop();
    throw new Error(`starting RGW failed: ${e.stderr || e.message}`);
  }
  const vars = Object.fromEntries(
    (await readFile(join(env.CEPH_DIR, "env"), "utf8"))
      .trim()
      .split("\n")
      .map((l) => l.split("=", 2) as [string, string]),
  );
  return {
    endpoint: vars.S3_ENDPOINT,
    region: "us-east-1",
    accessKeyId,
    secretAccessKey,
    bucket,
    stopGateway: async () => void (await run(join(INFRA, "gateway.sh"), ["stop"], { env })),
    startGateway: async () => void (await run(join(INFRA, "gateway.sh"), ["start"], { env, timeout: 60_000 })),
    stop,
  };
}
