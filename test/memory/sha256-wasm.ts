// Stands in for `import sha256Wasm from "./vendor/sha256.wasm"` (src/lib/sha256-state.ts) when the API suite runs in
// Node (project api-memory in vitest.config.ts): wrangler and the workers pool hand that import a compiled module;
// vite's Node runner does not import .wasm files, so this compiles the same file.
import { readFileSync } from "node:fs";

// The Workers types leave out WebAssembly.Module's constructor (Workers forbid compiling bytes); Node has it.
const Module = WebAssembly.Module as unknown as new (bytes: Uint8Array) => WebAssembly.Module;

export default new Module(readFileSync(new URL("../../src/lib/vendor/sha256.wasm", import.meta.url)));
