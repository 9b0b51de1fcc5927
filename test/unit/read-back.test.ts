// hashStored: the read-back that verifies a completed upload (chunked, direct, or a digest other than sha256). The
// hash must cover exactly the object, and the object must be exactly as long as the upload says (the size its blob
// record will carry). On the MemoryStore; the 1 GiB uploads of test/api run it on R2 and S3.
import { describe, expect, it } from "vitest";
import { hashStored } from "../../src/registry/upload-bytes";
import { MemoryStore } from "../../src/storage/memory";
import { bytes, rejection } from "./helpers";

const MiB = 1024 * 1024;
const READ = MiB; // its read size


async function hex(algorithm: "SHA-256" | "SHA-512", data: Uint8Array): Promise<string> {
  return [...new Uint8Array(await crypto.subtle.digest(algorithm, data))].map((v) => v.toString(16).padStart(2, "0")).join("");
}


describe("hashStored", () => {
  // Sizes around the read size, so every seam is crossed.
  const sizes = [0, 1, READ - 1, READ, READ + 1, 9 * READ + 3];
  it.each(sizes)("hashes exactly the %i bytes of the object, with and without its size, sha256 and sha512", async (size) => {
    const store = new MemoryStore();
    const data = bytes(size, size + 7);
    await store.put("data/x", data);
    for (const [alg, web] of [["sha256", "SHA-256"], ["sha512", "SHA-512"]] as const) {
      const want = await hex(web, data);
      expect(await hashStored(store, "data/x", alg, size)).toBe(want);
      expect(await hashStored(store, "data/x", alg)).toBe(want);
    }
  });

  it("refuses an object whose size is not the size the upload says (never hashes a prefix or more)", async () => {
    const store = new MemoryStore();
    await store.put("data/x", bytes(3 * READ + 5));
    for (const size of [3 * READ + 4, 3 * READ + 6, 0, READ - 1]) {
      const err = await rejection(hashStored(store, "data/x", "sha256", size));
      expect(err.code).toBe("BLOB_UPLOAD_INVALID");
    }
  });

  it("refuses a missing object", async () => {
    const store = new MemoryStore();
    expect((await rejection(hashStored(store, "data/none", "sha256", 10))).code).toBe("BLOB_UPLOAD_INVALID");
    expect((await rejection(hashStored(store, "data/none", "sha256"))).code).toBe("BLOB_UPLOAD_INVALID");
  });
});
