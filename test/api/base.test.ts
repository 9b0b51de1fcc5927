import { describe, it, expect } from "vitest";
import { exports } from "cloudflare:workers";

describe("GET /v2/", () => {
  it("answers 200 with the API version header", async () => {
    const res = await exports.default.fetch("http://registry.test/v2/");
    expect(res.status).toBe(200);
    expect(res.headers.get("Docker-Distribution-API-Version")).toBe("registry/2.0");
  });
});
