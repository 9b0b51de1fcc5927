import { describe, it, expect } from "vitest";
import { registry, expectError } from "./helpers";

describe("GET /v2/", () => {
  it("answers 200 {} with the API version header", async () => {
    const res = await registry("/v2/");
    expect(res.status).toBe(200);
    expect(res.headers.get("Docker-Distribution-API-Version")).toBe("registry/2.0");
    expect(await res.json()).toEqual({});
  });

  it("answers HEAD /v2/ with 200", async () => {
    const res = await registry("/v2/", { method: "HEAD" });
    expect(res.status).toBe(200);
    expect(res.headers.get("Docker-Distribution-API-Version")).toBe("registry/2.0");
  });

  it("redirects /v2 to /v2/", async () => {
    const res = await registry("/v2", { redirect: "manual" });
    expect(res.status).toBe(301);
    expect(new URL(res.headers.get("location")!, "http://x").pathname).toBe("/v2/");
  });
});

describe("unknown endpoints", () => {
  it.each([
    ["GET", "/"],
    ["GET", "/v1/"],
    ["GET", "/v2/foo"],
    ["GET", "/v2/foo/unknown/thing"],
    ["PUT", "/v2/"],
    ["POST", "/v2/foo/blobs/sha256:abc"],
  ])("%s %s answers an OCI error, not a 500", async (method, path) => {
    const res = await registry(path, { method });
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(res.status).toBeLessThan(500);
    const body = (await res.json()) as { errors: { code: string; message: string }[] };
    expect(body.errors[0].code).toBeTruthy();
    expect(body.errors[0].message).toBeTruthy();
    expect(res.headers.get("Docker-Distribution-API-Version")).toBe("registry/2.0");
  });

  it("a 404 for no route says UNSUPPORTED", async () => {
    await expectError(await registry("/nothing-here"), 404, "UNSUPPORTED");
  });
});
