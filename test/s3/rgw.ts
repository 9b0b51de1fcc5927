// Starts and stops a real S3 server (Ceph RADOS Gateway, infra/ceph-s3/) on free 127.0.0.1 ports, from Node:
// used by the vitest globalSetup of the S3 projects and by the end-to-end tests.
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
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

export async function startRgw(opts: { bucket?: string; osdStore?: "memstore" | "bluestore" } = {}): Promise<Rgw> {
  const dir = await mkdtemp(join(tmpdir(), "skiff-rgw-"));
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
    await rm(dir, { recursive: true, force: true });
  };
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
