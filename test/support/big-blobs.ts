// Pushing large blobs the way docker does, and watching the worker's memory while it happens.
import { createHash, randomBytes } from "node:crypto";
import { expect } from "vitest";
import { request } from "./http";
import { descendants, rssBytes } from "./proc";
import type { RegistryUnderTest } from "./registries";

const MiB = 1024 * 1024;

/** Adds the server's last log lines to a failure (a dropped connection says nothing on the client side). */
export async function withServerLog<T>(registry: RegistryUnderTest, p: Promise<T>): Promise<T> {
  try {
    return await p;
  } catch (err) {
    (err as Error).message += `\n--- server output ---\n${registry.output().slice(-3000)}`;
    throw err;
  }
}

/**
 * Docker's way: POST, one PATCH with Transfer-Encoding chunked (no Content-Length, no Content-Range) whose `size`
 * bytes are made on the fly, then PUT ?digest=. Returns the digest. MiB number i is `block` with i written
 * (big-endian uint32) over its first 4 bytes.
 */
export async function dockerStylePush(registry: RegistryUnderTest, repo: string, size: number, block: Buffer = randomBytes(MiB)): Promise<string> {
  const post = await request(`${registry.url}/v2/${repo}/blobs/uploads/`, { method: "POST" });
  expect(post.status).toBe(202);
  const location = new URL(String(post.headers.location), registry.url);
  // `block` (1 MiB) is repeated with a counter stamped into each copy, so that no two MiB are alike.
  const hash = createHash("sha256");
  const patch = await withServerLog(registry, request(location.href, {
    method: "PATCH",
    headers: { "Content-Type": "application/octet-stream" },
    body: (req) => {
      let sent = 0;
      const pump = () => {
        while (sent < size) {
          const chunk = Buffer.from(block.subarray(0, Math.min(MiB, size - sent)));
          chunk.writeUInt32BE(sent / MiB, 0);
          hash.update(chunk);
          sent += chunk.byteLength;
          if (!req.write(chunk)) return void req.once("drain", pump);
        }
        req.end();
      };
      pump();
    },
  }));
  expect(patch.status, patch.body.toString()).toBe(202);
  expect(patch.headers.range).toBe(`0-${size - 1}`);
  const digest = `sha256:${hash.digest("hex")}`;
  const done = new URL(String(patch.headers.location), registry.url);
  done.searchParams.set("digest", digest);
  const put = await withServerLog(registry, request(done.href, { method: "PUT" }));
  expect(put.status, put.body.toString()).toBe(201);
  expect(put.headers["docker-content-digest"]).toBe(digest);
  return digest;
}

export interface RssSample {
  pid: number;
  baseline: number;
  peak: number;
}

/** Samples VmRSS of every workerd process under wrangler every 100 ms until stopped. */
export async function sampleWorkerdRss(wranglerPid: number) {
  const workerd = descendants(wranglerPid).filter((p) => p.comm === "workerd");
  expect(workerd.length, "workerd processes under wrangler").toBeGreaterThan(0);
  const samples: RssSample[] = workerd.map(({ pid }) => {
    const rss = rssBytes(pid) ?? 0;
    return { pid, baseline: rss, peak: rss };
  });
  const timer = setInterval(() => {
    for (const s of samples) s.peak = Math.max(s.peak, rssBytes(s.pid) ?? 0);
  }, 100);
  return {
    stop(): RssSample[] {
      clearInterval(timer);
      for (const s of samples) s.peak = Math.max(s.peak, rssBytes(s.pid) ?? 0);
      return samples;
    },
  };
}
