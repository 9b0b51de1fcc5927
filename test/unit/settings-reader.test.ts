// The one settings reader (src/config/read.ts): trimming, defaults from SETTINGS, ranges, and problems that name
// the setting without quoting its value.
import { describe, expect, it } from "vitest";
import { settingsReader } from "../../src/config/read";

const SECRETISH = "s3cr3t-VALUE";

describe("settingsReader", () => {
  it("trims text, treats blank as unset, and takes the default from SETTINGS", () => {
    const read = settingsReader({ S3_BUCKET: "  b  ", S3_REGION: "   ", AUTH_ISSUER: "" });
    expect(read.text("S3_BUCKET")).toBe("b");
    expect(read.text("S3_REGION")).toBeUndefined();
    expect(read.text("AUTH_ISSUER")).toBe("skiff");
    expect(read.problems).toEqual([]);
  });

  it("reads integers in range, falls back to the default with a problem outside it", () => {
    expect(settingsReader({ UPLOAD_PART_SIZE_MIB: "16" }).int("UPLOAD_PART_SIZE_MIB", { min: 5, max: 32 })).toBe(16);
    expect(settingsReader({}).int("UPLOAD_PART_SIZE_MIB", { min: 5, max: 32 })).toBe(8);
    for (const bad of ["4", "33", "8.5", "1e1x", "0x10", SECRETISH]) {
      const read = settingsReader({ UPLOAD_PART_SIZE_MIB: bad });
      expect(read.int("UPLOAD_PART_SIZE_MIB", { min: 5, max: 32, why: "memory" })).toBe(8);
      expect(read.problems).toEqual(["UPLOAD_PART_SIZE_MIB must be an integer from 5 to 32 (memory)"]);
    }
  });

  it("reads booleans in their usual spellings, any case", () => {
    for (const t of ["1", "true", "YES", "On"]) expect(settingsReader({ BLOB_REDIRECT: t }).bool("BLOB_REDIRECT")).toBe(true);
    for (const f of ["0", "false", "No", "OFF"]) expect(settingsReader({ BLOB_REDIRECT: f }).bool("BLOB_REDIRECT")).toBe(false);
    expect(settingsReader({}).bool("BLOB_REDIRECT")).toBeUndefined();
    const read = settingsReader({ BLOB_REDIRECT: SECRETISH });
    expect(read.bool("BLOB_REDIRECT")).toBeUndefined();
    expect(read.problems).toEqual(["BLOB_REDIRECT must be true or false"]);
  });

  it("matches choices exactly unless told otherwise, and defaults when unset", () => {
    expect(settingsReader({}).oneOf("SKIFF_AUTH", ["open", "token"])).toBe("token");
    expect(settingsReader({ SKIFF_AUTH: "open" }).oneOf("SKIFF_AUTH", ["open", "token"])).toBe("open");
    const read = settingsReader({ SKIFF_AUTH: "Open" });
    expect(read.oneOf("SKIFF_AUTH", ["open", "token"])).toBeUndefined();
    expect(read.problems).toEqual(['SKIFF_AUTH must be "open" or "token"']);
    expect(settingsReader({ AUTH_RATE_LIMIT: "OFF" }).oneOf("AUTH_RATE_LIMIT", ["on", "off"], { anyCase: true })).toBe("off");
  });

  it("never quotes a value in a problem", () => {
    const problems: string[] = [];
    const read = settingsReader({ UPLOAD_PART_SIZE_MIB: SECRETISH, BLOB_REDIRECT: SECRETISH, SKIFF_AUTH: SECRETISH }, problems);
    read.int("UPLOAD_PART_SIZE_MIB", { min: 5, max: 32 });
    read.bool("BLOB_REDIRECT");
    read.oneOf("SKIFF_AUTH", ["open", "token"]);
    expect(problems).toHaveLength(3);
    for (const p of problems) expect(p).not.toContain(SECRETISH);
  });
});
