// package.json's version is the one source of truth; src/version.ts carries it into the Worker (the S3 User-Agent).
// `npm version` rewrites it (package.json's "version" script); this catches a version changed by hand in one place.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { SKIFF_VERSION } from "../../src/version";

describe("Skiff's version", () => {
  it("in the Worker is package.json's", () => {
    const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8"));
    expect(SKIFF_VERSION).toBe(pkg.version);
    expect(pkg.scripts.version).toContain("scripts/sync-version.ts");
  });
});
