#!/usr/bin/env node
// `npm run start:s3`: Skiff under `wrangler dev`, started exactly as `npm start` starts it (scripts/dev.mjs), but on
// the S3 backend (STORAGE_BACKEND=s3) instead of the local R2 bucket.
//
//   npm run start:s3                       starts a local S3 server (Ceph RGW, infra/ceph-s3/) on free ports with a
//                                          bucket "skiff", and stops it (data discarded) when Skiff stops
//   S3_ENDPOINT=https://... S3_BUCKET=... S3_ACCESS_KEY_ID=... S3_SECRET_ACCESS_KEY=... npm run start:s3
//                                          any S3 endpoint: AWS (or only S3_REGION), R2's S3 API, MinIO, RGW...
//
// Every S3_* and BLOB_* variable in the environment is passed to the worker (wrangler prints them "(hidden)").
// They can also live in .dev.vars, which wrangler reads itself. Blob GETs redirect to presigned URLs by default;
// BLOB_REDIRECT=false streams them through the worker.
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { PROJECT_ROOT, DEFAULT_PORT, banner, startSkiff } from "./dev.mjs";

const run = promisify(execFile);
const CEPH = path.join(PROJECT_ROOT, "infra", "ceph-s3");

/**
 * Starts Ceph RGW on free 127.0.0.1 ports with one bucket; returns the worker variables that point Skiff at it.
 * @param {{ bucket?: string, log?: (s: string) => void }} [opts]
 */
export async function startLocalS3(opts = {}) {
  const dir = await mkdtemp(path.join(tmpdir(), "skiff-s3-"));
  const bucket = opts.bucket ?? "skiff";
  const env = {
    ...process.env,
    CEPH_DIR: path.join(dir, "ceph"),
    S3_ACCESS_KEY: "skiff-local",
    S3_SECRET_KEY: `local-${crypto.randomUUID()}`,
    S3_BUCKETS: bucket,
  };
  const stop = async () => {
    await run(path.join(CEPH, "stop.sh"), [], { env }).catch(() => {});
    await rm(dir, { recursive: true, force: true });
  };
  try {
    const { stdout } = await run(path.join(CEPH, "start.sh"), [], { env, timeout: 120_000 });
    opts.log?.(stdout);
  } catch (err) {
    await stop();
    throw new Error(`could not start the local S3 server (is Ceph installed? see infra/ceph-s3/start.sh): ${err.stderr || err.message}`);
  }
  const endpoint = (await readFile(path.join(env.CEPH_DIR, "env"), "utf8")).match(/^S3_ENDPOINT=(.*)$/m)[1];
  return {
    endpoint,
    vars: {
      STORAGE_BACKEND: "s3",
      S3_ENDPOINT: endpoint,
      S3_REGION: "us-east-1",
      S3_BUCKET: bucket,
      S3_ACCESS_KEY_ID: env.S3_ACCESS_KEY,
      S3_SECRET_ACCESS_KEY: env.S3_SECRET_KEY,
      S3_FORCE_PATH_STYLE: "true",
    },
    stop,
  };
}

/** S3_* and BLOB_* settings from the environment, for the worker. */
function settingsFromEnv() {
  return Object.fromEntries(Object.entries(process.env).filter(([k, v]) => /^(S3_|BLOB_)/.test(k) && v));
}

async function main() {
  const fromEnv = settingsFromEnv();
  const external = Boolean(fromEnv.S3_ENDPOINT || fromEnv.S3_REGION);
  const local = external ? null : await startLocalS3({ log: (s) => process.stdout.write(s) });
  const vars = { STORAGE_BACKEND: "s3", ...(local?.vars ?? {}), ...fromEnv };
  let skiff;
  try {
    skiff = await startSkiff({
      port: Number(process.env.PORT) || DEFAULT_PORT,
      auth: process.env.SKIFF_AUTH === "open" ? "open" : "dev",
      vars,
      onOutput: (s) => process.stdout.write(s),
    });
  } catch (err) {
    await local?.stop();
    throw err;
  }
  process.stdout.write(banner(skiff));
  // The endpoint's origin only: a URL given by hand may carry credentials (the worker refuses those anyway).
  const endpoint = vars.S3_ENDPOINT ? (URL.canParse(vars.S3_ENDPOINT) ? new URL(vars.S3_ENDPOINT).origin : "(an invalid S3_ENDPOINT)") : `AWS ${vars.S3_REGION}`;
  console.log(` Storage: S3 at ${endpoint}, bucket ${vars.S3_BUCKET}${local ? " (local Ceph RGW, discarded on exit)" : ""}`);
  let stopping = false;
  const stop = (signal) => async () => {
    if (stopping) return;
    stopping = true;
    await skiff.stop();
    await local?.stop();
    process.exit(signal === "SIGINT" ? 130 : 143);
  };
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"]) process.on(sig, stop(sig));
  const code = await skiff.exited;
  if (!stopping) {
    await local?.stop();
    console.error(`wrangler dev exited (${code})`);
    process.exit(typeof code === "number" ? code || 1 : 1);
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.join(PROJECT_ROOT, "scripts", "dev-s3.mjs")) {
  main().catch((err) => {
    console.error(err?.message ?? err);
    process.exit(1);
  });
}
