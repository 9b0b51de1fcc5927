// Presigned GET URLs checked by a real S3 server (RGW verifies SigV4 query signatures): the URL works with plain
// HTTP and no credentials; a tampered signature, another secret, or an expired URL is refused with 403.
import { describe, it, expect } from "vitest";
import { S3Presigner, S3Store, rebaseUrl } from "../../src/storage/s3";
import { pseudoRandomBytes } from "../api/helpers";
import { rgwSettings } from "./helpers";

async function expectRefused(url: string, code: RegExp) {
  const res = await fetch(url);
  const body = await res.text();
  expect(res.status, body).toBe(403);
  expect(body).toMatch(code);
}

describe("presigned GET URLs on RGW", () => {
  // That the URL fetches the whole object is in the ObjectStore contract (contract.test.ts).
  it("the URL signs only the host, carries no checksum parameters, and serves Range requests", async () => {
    const settings = rgwSettings();
    const bytes = pseudoRandomBytes(2_000_000, 41);
    await new S3Store(settings).put("blob", bytes);
    const url = await new S3Presigner(settings).presignGet("blob", 60);
    const u = new URL(url);
    expect(u.origin).toBe(new URL(rgwSettings().endpoint).origin);
    expect(u.searchParams.get("X-Amz-Expires")).toBe("60");
    expect(u.searchParams.get("X-Amz-SignedHeaders")).toBe("host");
    // The checksum settings keep checksum parameters out of presigned URLs.
    expect([...u.searchParams.keys()].filter((k) => /checksum/i.test(k))).toEqual([]);

    const ranged = await fetch(url, { headers: { Range: "bytes=1000000-1000099" } });
    expect(ranged.status).toBe(206);
    expect(ranged.headers.get("content-range")).toBe(`bytes 1000000-1000099/${bytes.byteLength}`);
    expect(new Uint8Array(await ranged.arrayBuffer())).toEqual(bytes.slice(1_000_000, 1_000_100));
    const suffix = await fetch(url, { headers: { Range: "bytes=-10" } });
    expect(new Uint8Array(await suffix.arrayBuffer())).toEqual(bytes.slice(-10));
  });

  it("a tampered signature, path or expiry is refused with 403", async () => {
    const settings = rgwSettings();
    const store = new S3Store(settings);
    await store.put("blob", "secret bytes");
    const url = new URL(await new S3Presigner(settings).presignGet("blob", 60));

    const sig = url.searchParams.get("X-Amz-Signature")!;
    const badSig = new URL(url);
    badSig.searchParams.set("X-Amz-Signature", (sig[0] === "0" ? "1" : "0") + sig.slice(1));
    await expectRefused(badSig.href, /SignatureDoesNotMatch/);

    const longer = new URL(url);
    longer.searchParams.set("X-Amz-Expires", "604800");
    await expectRefused(longer.href, /SignatureDoesNotMatch/);

    await store.put("other", "other bytes");
    const otherKey = new URL(url);
    otherKey.pathname = otherKey.pathname.replace(/blob$/, "other");
    await expectRefused(otherKey.href, /SignatureDoesNotMatch/);

    // The untouched URL still works.
    expect(await (await fetch(url)).text()).toBe("secret bytes");
  });

  it("a URL signed with another secret (same access key) is refused with 403", async () => {
    const settings = rgwSettings();
    const good = new S3Store(settings);
    await good.put("blob", "x");
    const forged = new S3Presigner({ ...settings, secretAccessKey: "not-the-secret" });
    await expectRefused(await forged.presignGet("blob", 60), /SignatureDoesNotMatch/);
    const unknownKey = new S3Presigner({ ...settings, accessKeyId: "nobody" });
    await expectRefused(await unknownKey.presignGet("blob", 60), /InvalidAccessKeyId|AccessDenied/);
  });

  it("an expired URL is refused with 403", async () => {
    const settings = rgwSettings();
    await new S3Store(settings).put("blob", "short-lived");
    const url = await new S3Presigner(settings).presignGet("blob", 1);
    expect(await (await fetch(url)).text()).toBe("short-lived");
    await new Promise((r) => setTimeout(r, 2100));
    await expectRefused(url, /AccessDenied|expired/i);
  });

  it("a public base URL replaces the origin (and prepends its path), keeping the signed path and query", () => {
    const url = "https://bucket.s3.example.com/skiff/data/x?X-Amz-Signature=abc&X-Amz-Expires=300";
    expect(rebaseUrl(url, "https://cdn.example.net")).toBe("https://cdn.example.net/skiff/data/x?X-Amz-Signature=abc&X-Amz-Expires=300");
    expect(rebaseUrl(url, "https://cdn.example.net/registry/")).toBe("https://cdn.example.net/registry/skiff/data/x?X-Amz-Signature=abc&X-Amz-Expires=300");
  });
});
