// S3 requests name Skiff and its version in User-Agent, seen on the wire: Skiff runs under wrangler dev (started as
// `npm run start:s3` starts it) with its S3 endpoint pointed at a plain Node HTTP server that records every request's
// headers. The stand-in, not RGW: RGW's ops log needs a log pipeline configured and parsed, while the server here sees
// exactly the bytes workerd sends and needs nothing installed. It answers just enough (404 for reads, 200 with an
// ETag for writes) for the registry to answer its clients; what it answers is not what is tested. That presigned
// URLs stay valid on a real server with this header in place: test/e2e/chunked-1gib.test.ts (GET through the
// redirect to RGW) and the s3 project's presign tests.
import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SKIFF_VERSION } from "../../src/version";
import { request } from "../support/http";
import { startSkiffRegistry, type RegistryUnderTest } from "../support/registries";

interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
}

let stand: http.Server;
let skiff: RegistryUnderTest;
const seen: Seen[] = [];

beforeAll(async () => {
  stand = http.createServer((req, res) => {
    seen.push({ method: req.method ?? "", url: req.url ?? "", headers: req.headers });
    req.resume();
    req.on("end", () => {
      if (req.method === "PUT") {
        res.writeHead(200, { ETag: '"0123456789abcdef0123456789abcdef"' }).end();
      } else if (req.method === "HEAD") {
        res.writeHead(404).end();
      } else {
        res.writeHead(404, { "Content-Type": "application/xml" }).end('<?xml version="1.0" encoding="UTF-8"?><Error><Code>NoSuchKey</Code><Message>none</Message></Error>');
      }
    });
  });
  await new Promise<void>((resolve) => stand.listen(0, "127.0.0.1", resolve));
  const endpoint = `http://127.0.0.1:${(stand.address() as AddressInfo).port}`;
  skiff = await startSkiffRegistry({
    vars: {
      STORAGE_BACKEND: "s3",
      S3_ENDPOINT: endpoint,
      S3_REGION: "us-east-1",
      S3_BUCKET: "ua-test",
      S3_ACCESS_KEY_ID: "ua-test-key",
      S3_SECRET_ACCESS_KEY: `ua-test-${crypto.randomUUID()}`,
      S3_FORCE_PATH_STYLE: "true",
    },
  });
}, 120_000);

afterAll(async () => {
  await skiff?.stop();
  await new Promise((resolve) => stand?.close(resolve));
});

describe("S3 requests from the Worker", () => {
  it("carry User-Agent skiff/<package.json version>, outside the signature", async () => {
    const digest = `sha256:${"ab".repeat(32)}`;
    const head = await request(`${skiff.url}/v2/ua/app/blobs/${digest}`, { method: "HEAD" });
    expect(head.status).toBe(404);
    const post = await request(`${skiff.url}/v2/ua/app/blobs/uploads/`, { method: "POST" });
    expect(post.status, post.body.toString()).toBe(202);

    const methods = new Set(seen.map((s) => s.method));
    expect(methods.has("PUT") && (methods.has("HEAD") || methods.has("GET")), JSON.stringify(seen.map((s) => `${s.method} ${s.url}`))).toBe(true);
    for (const s of seen) {
      expect(s.headers["user-agent"], `${s.method} ${s.url}`).toBe(`skiff/${SKIFF_VERSION}`);
      // The SDK's own header names Skiff too (customUserAgent).
      expect(String(s.headers["x-amz-user-agent"]), `${s.method} ${s.url}`).toContain(`skiff/${SKIFF_VERSION}`);
      // Signed requests, with User-Agent left out of the signed headers (so it can never break a signature).
      const auth = String(s.headers.authorization);
      expect(auth).toMatch(/^AWS4-HMAC-SHA256 /);
      expect(/SignedHeaders=([^,]+)/.exec(auth)?.[1].split(";")).not.toContain("user-agent");
    }
    console.log(`[e2e] S3 requests seen: ${seen.length}; User-Agent: ${seen[0].headers["user-agent"]}; x-amz-user-agent: ${seen[0].headers["x-amz-user-agent"]}`);
  });
});
