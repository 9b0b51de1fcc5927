// A `.wasm` file imported as a module: wrangler's bundler (and vitest-pool-workers) hand the Worker a compiled
// module, since Workers forbid compiling WebAssembly bytes at run time.
declare module "*.wasm" {
  const module: WebAssembly.Module;
  export default module;
}
