// The bench's counting proxy (bench/lib/counting-proxy.ts) in front of a real local Ceph RGW: requests signed for the
// proxy's address must still pass RGW's SigV4 check (the Host header is forwarded unchanged), and each one is counted
// once, under the right method and sender (the registry's own signed calls vs a client following a presigned URL).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from "@aws-sdk/client-s3";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import { startLocalS3, type LocalS3 } from "../../scripts/lib/dev-server";
import { diffCounts, startCountingProxy, totalOf, type CountingProxy } from "../../bench/lib/counting-proxy";

let s3: LocalS3;
let proxy: CountingProxy;
let client: S3Client;
const Bucket = "skiff-count";

beforeAll(async () => {
  s3 = await startLocalS3({ bucket: Bucket });
  proxy = await startCountingProxy(s3.endpoint);
  client = new S3Client({
    endpoint: proxy.endpoint,
    region: "us-east-1",
    forcePathStyle: true,
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
    credentials: { accessKeyId: s3.vars.S3_ACCESS_KEY_ID, secretAccessKey: s3.vars.S3_SECRET_ACCESS_KEY },
  });
}, 180_000);

afterAll(async () => {
  client?.destroy();
  await proxy?.stop();
  await s3?.stop();
});

describe("counting proxy", () => {
  it("forwards signed and presigned requests intact and counts each by method and sender", async () => {
    const before = proxy.snapshot();
    const body = Buffer.alloc(6 << 20, 1); // a multipart part must be at least 5 MiB unless it is the last
    await client.send(new PutObjectCommand({ Bucket, Key: "a", Body: Buffer.from("hello") }));
    expect((await client.send(new HeadObjectCommand({ Bucket, Key: "a" }))).ContentLength).toBe(5);
    expect(await (await client.send(new GetObjectCommand({ Bucket, Key: "a" }))).Body!.transformToString()).toBe("hello");
    expect((await client.send(new ListObjectsV2Command({ Bucket }))).KeyCount).toBe(1);
    const { UploadId } = await client.send(new CreateMultipartUploadCommand({ Bucket, Key: "m" }));
    const part = await client.send(new UploadPartCommand({ Bucket, Key: "m", UploadId, PartNumber: 1, Body: body }));
    await client.send(new CompleteMultipartUploadCommand({ Bucket, Key: "m", UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: part.ETag }] } }));
    // A presigned GET, fetched as a pulling client would after a redirect.
    const url = await getSignedUrl(client, new GetObjectCommand({ Bucket, Key: "m" }), { expiresIn: 60 });
    expect(new URL(url).origin).toBe(proxy.endpoint);
    const got = await fetch(url);
    expect(got.status).toBe(200);
    expect((await got.arrayBuffer()).byteLength).toBe(body.byteLength);
    await client.send(new DeleteObjectCommand({ Bucket, Key: "a" }));
    const d = diffCounts(before, proxy.snapshot());
    expect(d.registry).toEqual({ GET: 1, HEAD: 1, PUT: 2, POST: 2, DELETE: 1, LIST: 1 });
    expect(d.client).toEqual({ GET: 1, HEAD: 0, PUT: 0, POST: 0, DELETE: 0, LIST: 0 });
    expect(d.detail).toMatchObject({ "registry PUT part": 1, "registry PUT object": 1, "registry POST create multipart": 1, "registry POST complete multipart": 1, "client GET": 1 });
    expect(totalOf(d)).toBe(9);
    expect(d.bytesIn).toBeGreaterThanOrEqual(body.byteLength + 5);
    expect(d.bytesOut).toBeGreaterThanOrEqual(body.byteLength + 5);
    expect(proxy.inFlight()).toBe(0);
  }, 120_000);

  it("passes storage errors through as they are (a missing key is RGW's 404, counted)", async () => {
    const before = proxy.snapshot();
    await expect(client.send(new HeadObjectCommand({ Bucket, Key: "nope" }))).rejects.toMatchObject({ $metadata: { httpStatusCode: 404 } });
    expect(diffCounts(before, proxy.snapshot()).registry.HEAD).toBe(1);
  }, 60_000);
});
