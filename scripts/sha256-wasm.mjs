// Writes src/lib/vendor/sha256.wasm: the SHA-256 WebAssembly binary of the pinned hash-wasm package (MIT, its
// license beside the binary). The package ships the binary only as base64 inside its JavaScript, and its loader
// compiles it at run time (WebAssembly.compile), which Workers forbid; the Worker imports the .wasm file instead, so
// the bundler hands it a compiled module. The binary is committed; test/ops/sha256-wasm.test.ts checks that it is
// still exactly the pinned package's (run this script after bumping hash-wasm).
//   node scripts/sha256-wasm.mjs          write the binary and the license
//   node scripts/sha256-wasm.mjs --check  exit 1 if the committed binary differs from the package's
import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const root = new URL("../", import.meta.url);
const pkg = new URL("node_modules/hash-wasm/", root);
export const target = fileURLToPath(new URL("src/lib/vendor/sha256.wasm", root));

/** The binary embedded in the package's SHA-256 bundle, and the package version it came from. */
export function packagedSha256Wasm() {
  const { version } = JSON.parse(readFileSync(new URL("package.json", pkg), "utf8"));
  const js = readFileSync(new URL("dist/sha256.umd.min.js", pkg), "utf8");
  const found = [...js.matchAll(/name:"sha256",data:"([A-Za-z0-9+/=]+)"/g)];
  if (found.length !== 1) throw new Error(`hash-wasm ${version}: expected one embedded sha256 binary, found ${found.length}`);
  const bytes = Buffer.from(found[0][1], "base64");
  if (!bytes.subarray(0, 4).equals(Buffer.from("\0asm"))) throw new Error(`hash-wasm ${version}: the embedded data is not WebAssembly`);
  return { version, bytes };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { version, bytes } = packagedSha256Wasm();
  if (process.argv.includes("--check")) {
    const same = readFileSync(target).equals(bytes);
    console.log(same ? `sha256.wasm is hash-wasm ${version}'s` : `sha256.wasm differs from hash-wasm ${version}'s: run node scripts/sha256-wasm.mjs`);
    process.exit(same ? 0 : 1);
  }
  writeFileSync(target, bytes);
  writeFileSync(new URL("src/lib/vendor/hash-wasm.LICENSE", root), readFileSync(new URL("LICENSE", pkg)));
  console.log(`wrote ${target} (${bytes.byteLength} bytes) from hash-wasm ${version}`);
}
