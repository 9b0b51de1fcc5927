// Stream hygiene of uploads (issue 8, section 6): a request that stops reading its body early cancels it, and a
// storage write that fails leaves nothing waiting on the body. Registry operations run on this project's real
// store; the one failing store below wraps it and stands in for a storage outage that fails a put without reading
// its body (the real backends fail that way when they refuse a request up front).
import { describe, it, expect } from "vitest";
import { env } from "cloudflare:workers";
import { runtimeFor } from "../../src/runtime";
import { createStorage } from "../../src/storage";
import { StorageError, type ObjectStore } from "../../src/storage/types";
import type { RegistryDeps } from "../../src/registry/deps";
import { RegistryError } from "../../src/protocol/errors";
import { parseDigest } from "../../src/protocol/digest";
import { appendChunk, startUpload, uploadMonolithic } from "../../src/registry/uploads";
import { digestOf, uniqueRepo } from "./helpers";

/** An endless body of 64 KiB chunks that records whether it was cancelled. */
function endlessBody() {
  const seen = { cancelled: false, pulled: 0 };
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      seen.pulled += 1;
      controller.enqueue(new Uint8Array(64 * 1024).fill(seen.pulled & 0xff));
    },
    cancel() {
      seen.cancelled = true;
    },
  });
  return { stream, seen };
}

function realDeps(wrap: (s: ObjectStore) => ObjectStore = (s) => s): RegistryDeps {
  const config = runtimeFor(env as never).config;
  return { store: wrap(createStorage(config).store), settings: config.registry };
}

/** Fails the test instead of hanging when `p` never settles (the bug this file guards against is a hang). */
function settlesWithin<T>(p: Promise<T>, ms = 20_000): Promise<T> {
  return Promise.race([p, new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`still waiting after ${ms} ms`)), ms))]);
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await settlesWithin(p);
    return "ok";
  } catch (err) {
    if (err instanceof RegistryError) return err.code;
    if (err instanceof StorageError) return "StorageError";
    throw err;
  }
}

const digest = async () => parseDigest(await digestOf("anything"))!;

describe("upload bodies are cancelled, and nothing waits on them, when a request stops early", () => {
  it("a body longer than its Content-Length: SIZE_INVALID, and the rest of the body is cancelled", async () => {
    const body = endlessBody();
    const code = await codeOf(uploadMonolithic(realDeps(), uniqueRepo("streams"), null, await digest(), body.stream, 100_000));
    expect(code).toBe("SIZE_INVALID");
    expect(body.seen.cancelled).toBe(true);
  });

  it("a chunk longer than its Content-Range: SIZE_INVALID, and the rest of the body is cancelled", async () => {
    const deps = realDeps();
    const session = await startUpload(deps, uniqueRepo("streams"), null);
    const body = endlessBody();
    expect(await codeOf(appendChunk(deps, session, body.stream, { start: 0, length: 100_000 }))).toBe("SIZE_INVALID");
    expect(body.seen.cancelled).toBe(true);
  });

  it("a put that fails without reading its body: the request fails at once and the body is cancelled", async () => {
    const failing = (s: ObjectStore): ObjectStore =>
      new Proxy(s, {
        get(target, prop) {
          if (prop === "put") {
            return async (key: string, value: unknown, opts: never) => {
              if (value instanceof ReadableStream) throw new StorageError("injected: storage refused the write");
              return target.put(key, value as string, opts);
            };
          }
          const v = Reflect.get(target, prop);
          return typeof v === "function" ? v.bind(target) : v;
        },
      });
    const body = endlessBody();
    const code = await codeOf(uploadMonolithic(realDeps(failing), uniqueRepo("streams"), null, await digest(), body.stream, 50 * 1024 * 1024));
    expect(code).toBe("StorageError");
    expect(body.seen.cancelled).toBe(true);
  });
});
