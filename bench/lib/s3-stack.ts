// The production-shaped stack both S3 benches share (bench/s3.ts, bench/big-push.ts): one local Ceph RGW (bluestore),
// Skiff on its S3 backend under wrangler dev (as `npm run start:s3` runs it, open auth) and distribution 2.8.2 on its
// S3 driver with redirects on, both over https, both on the same bucket (distribution under /distribution).
// Optionally a counting proxy in front of RGW (bench/lib/counting-proxy.ts) that both registries and the presigned
// redirects go through.
import { mkdirSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { AbortMultipartUploadCommand, DeleteObjectsCommand, ListMultipartUploadsCommand, ListObjectsV2Command, S3Client } from "@aws-sdk/client-s3";
import { startLocalS3, type LocalS3 } from "../../scripts/lib/dev-server";
import { cpuMs } from "../../scripts/lib/processes";
import { startCountingProxy, type CountingProxy } from "./counting-proxy";
import { startDistribution, startSkiff, type Registry, type SkiffRegistry } from "./servers";

export interface S3Stack {
  s3: LocalS3;
  /** The endpoint the registries use: the counting proxy's, or RGW's own without one. */
  endpoint: string;
  proxy?: CountingProxy;
  skiff: SkiffRegistry;
  dist: Registry;
  /** CPU ms of the storage server's daemons now (radosgw and ceph-osd; ceph-mon is idle during transfers). */
  storageCpu(): { rgwMs: number; osdMs: number };
  /** Deletes every object and unfinished multipart upload (straight to RGW: not counted). */
  wipe(): Promise<void>;
  stop(): Promise<void>;
}

/** Pids of the cluster's daemons, from $CEPH_DIR/run/<name>.pid. */
function cephPids(cephDir: string): { rgw: number[]; osd: number[] } {
  const dir = join(cephDir, "run");
  const out = { rgw: [] as number[], osd: [] as number[] };
  for (const f of readdirSync(dir).filter((f) => f.endsWith(".pid"))) {
    const pid = Number(readFileSync(join(dir, f), "utf8").trim());
    if (f.startsWith("client.rgw")) out.rgw.push(pid);
    else if (f.startsWith("osd.")) out.osd.push(pid);
  }
  if (!out.rgw.length || !out.osd.length) throw new Error(`no radosgw/ceph-osd pid files in ${dir}`);
  return out;
}

/** Empties the bucket: every object, every unfinished multipart upload. */
export async function wipeBucket(s3: LocalS3): Promise<void> {
  const client = new S3Client({
    endpoint: s3.endpoint,
    region: "us-east-1",
    forcePathStyle: true,
    credentials: { accessKeyId: s3.vars.S3_ACCESS_KEY_ID, secretAccessKey: s3.vars.S3_SECRET_ACCESS_KEY },
  });
  const Bucket = s3.vars.S3_BUCKET;
  try {
    for (let token: string | undefined; ; ) {
      const page = await client.send(new ListObjectsV2Command({ Bucket, ContinuationToken: token }));
      const keys = (page.Contents ?? []).map((o) => ({ Key: o.Key! }));
      if (keys.length) await client.send(new DeleteObjectsCommand({ Bucket, Delete: { Objects: keys, Quiet: true } }));
      if (!page.IsTruncated) break;
      token = page.NextContinuationToken;
    }
    const uploads = await client.send(new ListMultipartUploadsCommand({ Bucket }));
    for (const u of uploads.Uploads ?? []) await client.send(new AbortMultipartUploadCommand({ Bucket, Key: u.Key!, UploadId: u.UploadId! }));
  } finally {
    client.destroy();
  }
}

/** distribution's storage section for its S3 driver on `endpoint` (plain http), redirects to presigned URLs on. */
function distributionS3(s3: LocalS3, endpoint: string): string[] {
  return [
    "  s3:",
    `    accesskey: ${JSON.stringify(s3.vars.S3_ACCESS_KEY_ID)}`,
    `    secretkey: ${JSON.stringify(s3.vars.S3_SECRET_ACCESS_KEY)}`,
    "    region: us-east-1",
    `    regionendpoint: ${JSON.stringify(endpoint)}`,
    `    bucket: ${JSON.stringify(s3.vars.S3_BUCKET)}`,
    "    secure: false",
    "    v4auth: true",
    "    rootdirectory: /distribution",
    "  redirect: { disable: false }",
  ];
}

export async function startS3Stack(opts: { out: string; work: string; countingProxy: boolean; skiffVars?: Record<string, string> }): Promise<S3Stack> {
  // bluestore in a 20 GiB file rather than the default 4 GiB memstore: 1 GiB pushes, and distribution's copies.
  process.env.OSD_STORE ??= "bluestore";
  const s3 = await startLocalS3();
  let proxy: CountingProxy | undefined;
  let skiff: SkiffRegistry | undefined;
  let dist: Registry | undefined;
  try {
    const pids = cephPids(s3.cephDir);
    proxy = opts.countingProxy ? await startCountingProxy(s3.endpoint) : undefined;
    const endpoint = proxy?.endpoint ?? s3.endpoint;
    // MAX_REQUEST_BODY_MB=5000 stands for an Enterprise zone whose cap was raised: skopeo and docker send each layer
    // in one request, so without it they could not push big layers into Skiff at all.
    skiff = await startSkiff(opts.out, { ...s3.vars, S3_ENDPOINT: endpoint, MAX_REQUEST_BODY_MB: "5000", ...opts.skiffVars });
    const distDir = join(opts.work, "dist");
    mkdirSync(distDir, { recursive: true });
    dist = await startDistribution(distDir, distributionS3(s3, endpoint));
    const sum = (ps: number[]) => ps.reduce((n, p) => n + (cpuMs(p) ?? NaN), 0);
    const [sk, di, px] = [skiff, dist, proxy];
    return {
      s3,
      endpoint,
      proxy,
      skiff,
      dist,
      storageCpu: () => ({ rgwMs: sum(pids.rgw), osdMs: sum(pids.osd) }),
      wipe: () => wipeBucket(s3),
      async stop() {
        await Promise.allSettled([sk.stop(), di.stop()]);
        await px?.stop();
        await s3.stop();
      },
    };
  } catch (err) {
    await Promise.allSettled([skiff?.stop(), dist?.stop()]);
    await proxy?.stop();
    await s3.stop();
    throw err;
  }
}
