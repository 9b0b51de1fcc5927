// The SHA-256 binary the Worker ships (src/lib/vendor/sha256.wasm, imported by src/lib/sha256-state.ts) must be
// exactly the one inside the hash-wasm version pinned in package.json, with that package's license beside it: the
// binary is committed, so a bump of the package without `node scripts/sha256-wasm.mjs` (or a hand-edited binary)
// fails here. Its behaviour is tested inside workerd (test/unit/sha256-state.test.ts).
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";

const root = new URL("../../", import.meta.url);
const read = (path: string) => readFileSync(new URL(path, root));

describe("src/lib/vendor/sha256.wasm", () => {
  it("is the binary embedded in the pinned hash-wasm package", () => {
    const pinned = JSON.parse(read("package.json").toString()).devDependencies["hash-wasm"];
    expect(pinned).toMatch(/^\d+\.\d+\.\d+$/); // exact: the binary is checked against one version
    expect(JSON.parse(read("node_modules/hash-wasm/package.json").toString()).version).toBe(pinned);
    // The script decodes the package's embedded base64 and compares it byte for byte; it exits 1 on a difference.
    const out = execFileSync(process.execPath, ["scripts/sha256-wasm.mjs", "--check"], { cwd: new URL(".", root), encoding: "utf8" });
    expect(out).toContain(`hash-wasm ${pinned}'s`);
  });

  it("carries the package's license", () => {
    expect(read("src/lib/vendor/hash-wasm.LICENSE").equals(read("node_modules/hash-wasm/LICENSE"))).toBe(true);
  });
});
