// Discovery of the direct-to-bucket extension (docs/direct-upload.md) on each backend of the API suite: offered
// (Skiff-Direct-Upload: v1) on S3, which can presign UploadPart; on the R2 binding alone and the memory store it is
// not offered and a parts request answers 405 UNSUPPORTED, pointing at PATCH chunks. The extension itself is tested
// against RGW in test/s3/direct-upload.test.ts.
import { describe, it, expect } from "vitest";
import { env } from "cloudflare:workers";
import { expectError, registry, uniqueRepo } from "./helpers";

const onS3 = (env as { STORAGE_BACKEND?: string }).STORAGE_BACKEND === "s3";
const parts = (location: string) =>
  registry(`${location}/parts`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ partSize: 5 * 1024 * 1024, parts: [1] }) });

describe("direct uploads are offered only where storage can presign upload parts", () => {
  it.skipIf(onS3)("R2 binding alone, memory: no Skiff-Direct-Upload header; POST and GET <upload>/parts answer 405 UNSUPPORTED", async () => {
    const res = await registry(`/v2/${uniqueRepo("direct")}/blobs/uploads/`, { method: "POST" });
    expect(res.status).toBe(202);
    expect(res.headers.get("skiff-direct-upload")).toBeNull();
    const location = res.headers.get("location")!;
    const err = await expectError(await parts(location), 405, "UNSUPPORTED");
    expect(err.message).toMatch(/PATCH chunks of at most OCI-Chunk-Max-Length bytes/);
    await expectError(await registry(`${location}/parts`), 405, "UNSUPPORTED");
    // The session is untouched and takes PATCH as usual.
    expect((await registry(location, { method: "PATCH", body: "abc" })).status).toBe(202);
  });

  it.runIf(onS3)("S3: Skiff-Direct-Upload: v1, and a parts request answers presigned URLs", async () => {
    const res = await registry(`/v2/${uniqueRepo("direct")}/blobs/uploads/`, { method: "POST" });
    expect(res.headers.get("skiff-direct-upload")).toBe("v1");
    const answer = await parts(res.headers.get("location")!);
    expect(answer.status, await answer.clone().text()).toBe(200);
    const body = (await answer.json()) as { parts: { partNumber: number; url: string }[] };
    expect(body.parts[0].partNumber).toBe(1);
    expect(new URL(body.parts[0].url).searchParams.get("partNumber")).toBe("1");
    expect((await registry(res.headers.get("location")!, { method: "DELETE" })).status).toBe(204);
  });
});
